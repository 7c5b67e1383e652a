"""The Chinese names agents read for the codes the console shows (dispositions, request types, statuses,
channels, ticket trail events). Served once at `/console/api/labels`; the page never shows a bare code."""

from __future__ import annotations

from typing import Any

from gateway.store.schema import CONVERSATION_STATES
from routing.lifecycle import STATUS_ZH

DISPOSITION_ZH = {
    "accept": "受理", "not_accepted": "非受理范围", "legal_channel": "应走法定途径",
    "confidential_or_unlawful": "涉密或违法诉求", "out_of_jurisdiction": "非本市管辖",
}
REQUEST_TYPE_ZH = {"consultation": "咨询", "help": "求助", "complaint": "投诉", "report": "举报",
                   "suggestion": "意见建议"}
CHANNEL_ZH = {"web": "网页", "wechat": "微信", "email": "邮件", "ivr": "电话", "telegram": "Telegram", "api": "接口"}
STATE_ZH = {"bot": "机器人服务中", "waiting_for_agent": "等待人工", "agent": "人工服务中", "closed": "已结束"}
SOURCE_ZH = {"bot": "智能客服", "fallback": "自动登记", "agent": "坐席登记", "api": "接口", "email": "邮件",
             "emergency": "紧急情况附带诉求"}
EVENT_ZH = {
    "created": "登记", "updated": "修改", "status_changed": "状态变更", "dispatch_proposed": "派单建议",
    "dispatched": "派单", "accept": "单位受理", "return": "单位退回", "progress": "办理进展", "result": "办理结果",
    "extension": "申请延期", "termination": "申请终止", "extension_approved": "同意延期", "extension_rejected": "驳回延期",
    "termination_approved": "同意终止", "termination_rejected": "驳回终止", "rating": "满意度评价",
    "rehandle": "重新办理", "close": "办结", "supervision": "督办", "needs_supervisor": "需值班长处理",
    "linked": "关联同类工单", "citizen_message": "市民补充", "citizen_media": "市民补充图片/视频",
    "repeat": "重复来电",
}
RATING_ZH = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
assert set(STATE_ZH) == set(CONVERSATION_STATES)


def labels() -> dict[str, Any]:
    return {"disposition": DISPOSITION_ZH, "request_type": REQUEST_TYPE_ZH, "channel": CHANNEL_ZH, "state": STATE_ZH,
            "status": STATUS_ZH, "source": SOURCE_ZH, "event": EVENT_ZH, "rating": RATING_ZH}
