"""Art. 13 dispositions other than emergencies, with what the citizen is told for each."""

from __future__ import annotations

import re

from nlu.gazetteer import Gazetteer

LEGAL_CHANNEL = re.compile(
    r"起诉|上诉|诉讼|打官司|法院(已经)?(受理|立案|判)|判决书|仲裁(委|申请|庭)|申请(劳动)?仲裁|已经仲裁|行政复议|申请复议|"
    r"仲裁.{0,4}(申请|立案|受理|开庭)|(法院|案子).{0,6}执行|裁决书|仲裁裁决|"
    r"纪委|监委|监察委|纪检监察|政府信息公开|信息公开申请|依申请公开|已经(去)?信访|信访局.{0,4}(已|受理)|上访|信访件|"
    r"已经在信访|信访(已经)?受理|检察院")
# Legal words that are only questions about the topic, not a matter already in that channel.
LEGAL_ASKING = re.compile(r"律师|法律援助|(怎么|如何|哪里|在哪).{0,4}(起诉|仲裁|复议)")
CONFIDENTIAL_OR_UNLAWFUL = re.compile(
    r"(查|查询|告诉我|提供|给我).{0,8}(他|她|别人|某人|此人|这个人|对方|前妻|前夫|邻居|老板)?.{0,4}(的)?(住址|家庭住址|手机号|电话号码|身份证号|开房记录|行踪|户籍信息|个人信息)|"
    r"(查|找|打听).{0,4}(他|她|别人|此人|这个人|对方|前妻|前夫|老公|老婆|邻居|老板|车主).{0,6}(住在哪|住哪|在哪住|家在哪|是谁|的下落)|"
    r"把.{0,8}(住址|地址|电话|手机号|身份证号|个人信息).{0,4}告诉我|这个(手机)?号(码)?是谁的|"
    r"(国家|工作|商业)秘密|机密文件|内部文件|帮我(办|做)(假证|假证明)|办假证|代开发票|伪造|"
    r"假的?.{0,3}(证明|证件|离婚证|结婚证|学历|发票|病历|公章)|改.{0,3}年龄|走(个)?后门|托关系|找关系|"
    r"人肉|查.{0,4}(开房|通话|聊天)记录|犯罪记录|前科|(查|打听).{0,8}(底细|背景|家里是干什么的)")
# Nothing a government hotline does.
NOT_ACCEPTED = re.compile(
    r"^(你好|您好|在吗|在不在|hello|hi|喂|嗯|哦|好的|谢谢|(哈|呵|嘿|嘻)+|[?？!！。.,，~]+)[!！。.？?~]*$|讲个笑话|陪我聊天|聊聊天|"
    r"你是机器人吗|彩票.{0,4}(号码|预测)|(帮我|给我)算.{0,2}命|算算命|推荐.{0,4}(股票|基金)|帮我写作业|作业答案|"
    r"天气怎么样|今天星期几|借钱给我|给我钱|加(个)?微信|交个朋友|你叫什么名字|小姐姐|你会(唱歌|跳舞|讲故事|写诗)|"
    r"(帮我|给我)订.{0,6}(机票|火车票|车票|酒店|外卖)|吃什么好")
# "到济南的班车": a destination is where someone travels, not where the matter is.
_TRAVEL_BEFORE = ("到", "去", "往", "至", "飞", "开往", "发往", "回")
# Asking about moving something to Tai'an names another place but is a local matter.
_COMING_HERE = re.compile(r"转(到|入|回)|迁(到|入|回)|来泰|回泰|到泰安|在泰安|泰安这边|我们这里|本地")

REPLIES: dict[str, str] = {
    "accept": "您的诉求已受理，我们会尽快办理并回复您。",
    "legal_channel": (
        "您反映的事项属于（或已进入）诉讼、仲裁、行政复议、纪检监察、政府信息公开或信访等法定途径，"
        "依据《泰安市12345政务服务便民热线管理办法》第十三条，请通过相应法定途径办理："
        "诉讼请向人民法院提出，劳动争议可向劳动人事争议仲裁委员会申请仲裁，行政复议请向复议机关提出，"
        "问题线索可向纪检监察机关反映，信息公开请向相关行政机关提出申请，信访事项请关注信访部门的办理。"
        "如需法律援助，可咨询12348公共法律服务热线。"),
    "confidential_or_unlawful": (
        "很抱歉，您的诉求涉及他人个人信息、隐私或国家秘密、工作秘密、商业秘密，或不符合法律法规规定，"
        "热线无法受理。依据《泰安市12345政务服务便民热线管理办法》第十三条，特此说明。"
        "如您的合法权益受到侵害，可依法向公安机关或人民法院寻求救济。"),
    "out_of_jurisdiction": (
        "您反映的事项不在泰安市行政管辖范围内，依据《泰安市12345政务服务便民热线管理办法》第十三条，"
        "请向事发地的12345政务服务便民热线或有关部门反映（在当地拨打12345即可）。"),
    "not_accepted": (
        "您好，这里是泰安市12345政务服务便民热线，受理咨询、求助、投诉、举报和意见建议等非紧急诉求。"
        "您的这条消息不属于热线受理范围，如有需要政府部门帮助解决的事项，欢迎详细说明。"),
}

EMERGENCY_REPLY = {
    "110": "请立即拨打110报警",
    "119": "请立即拨打119火警电话",
    "120": "请立即拨打120急救电话",
    "122": "请立即拨打122交通事故报警电话",
}


def emergency_reply(lines: tuple[str, ...] | list[str]) -> str:
    steps = "；".join(EMERGENCY_REPLY[line] for line in lines if line in EMERGENCY_REPLY)
    return (f"【紧急情况】{steps}！12345是非紧急热线，无法派出救援。"
            "请先确保自身安全，远离危险；紧急电话免费，手机无卡也可拨打。我们已通知值班人员关注您的情况。")


def disposition(text: str, gazetteer: Gazetteer) -> tuple[str, str | None]:
    """(disposition, district) for a non-emergency text."""
    hits = gazetteer.find(text)
    district = next((h.district for h in hits if h.district), None)
    if NOT_ACCEPTED.search(text.strip()):
        return "not_accepted", district
    if CONFIDENTIAL_OR_UNLAWFUL.search(text):
        return "confidential_or_unlawful", district
    if LEGAL_CHANNEL.search(text) and not LEGAL_ASKING.search(text):
        return "legal_channel", district
    elsewhere = [h for h, start, _ in gazetteer.find_spans(text)
                 if h.elsewhere and not text[:start].endswith(_TRAVEL_BEFORE)]
    if elsewhere and district is None and not gazetteer.names_taian(text) and not _COMING_HERE.search(text):
        return "out_of_jurisdiction", None
    return "accept", district
