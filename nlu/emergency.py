"""Emergency screening (Art. 13(1)): is something happening now that needs 110 / 119 / 120 / 122?

Deterministic rules you can read: a hazard pattern fires in a clause unless
that clause places it in the past, asks about it, supposes it, negates it or
uses it figuratively. Bare line numbers ("119号楼", "120急救站招聘") are not
hazards. When in doubt between two readings of a present-tense hazard, the
rules fire: a false alarm costs an agent a glance, a miss can cost a life.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlu.text import clauses, normalize, spoken_digits, strip_fillers

LINE_ORDER = ("119", "120", "110", "122")


@dataclass(frozen=True, slots=True)
class Hazard:
    reason: str
    lines: tuple[str, ...]
    pattern: re.Pattern[str]
    # Extra blockers for this hazard only (e.g. figurative causes of breathlessness).
    blockers: re.Pattern[str] | None = None


def _p(s: str) -> re.Pattern[str]:
    return re.compile(s)


_PEOPLE = r"(人|老人|孩子|小孩|老太太|老头|老大爷|大爷|大娘|大妈|婆婆|爷爷|奶奶|姥姥|姥爷|妈|爸|媳妇|老婆|老公|丈夫|妻子|儿子|闺女|女儿|邻居|同事|工人|司机|他|她|我)"

HAZARDS: tuple[Hazard, ...] = (
    # --- fire, smoke, gas, trapped, water rescue: 119
    Hazard("fire", ("119",), _p(
        r"着火|起火|失火|走火|火着起来|烧起来|烧着了|着了火|火烧|大火|火很大|火势|火苗|火光|明火|"
        r"冒(黑|浓|白)?烟|浓烟|烟很大|烟雾很大|全是烟|都是烟|发生火灾|火灾了|火灾现场|有火灾|着火灾")),
    Hazard("explosion", ("119", "120"), _p(r"爆炸|炸了|炸开了")),
    Hazard("gas_leak", ("119",), _p(
        r"(燃气|煤气|天然气|液化气|气罐)(泄漏|泄露|漏了|漏气|管.{0,2}(断|裂|破))|"
        r"漏(燃气|煤气|天然气)|(燃气|煤气|天然气|液化气)味.{0,4}(很大|很浓|特别大|大得|浓|冲)|"
        r"闻到.{0,6}(燃气|煤气|天然气|液化气)味")),
    Hazard("trapped", ("119",), _p(
        r"(被)?困在.{0,8}(里|里面|电梯|楼上|楼顶|屋里|井下|水里|车里)|被困|(电梯|井|坑|洞|窨井|下水道)里.{0,4}(出不来|困住)|"
        r"卡在.{0,6}(里|中间|栏杆|缝)|出不来了|(掉|跌|摔|落)(进|到|入)了?.{0,6}(井|河|湖|水|坑|窨井|下水道|冰窟窿)|"
        r"落水|溺水|(有人|孩子|小孩).{0,4}(要|想)?跳(楼|河|桥)|站在楼顶.{0,6}(要|想)跳")),
    # --- medical: 120
    Hazard("medical", ("120",), _p(
        r"晕倒|昏倒|昏迷|休克|不省人事|叫不醒|没(了)?(意识|知觉|心跳)|没(有)?呼吸|不喘气了|"
        r"心脏病(犯了|发作)|心梗|脑梗|中风了|抽搐|抽过去了|口吐白沫|大出血|流了好多血|流了很多血|血流不止|"
        r"吐血|(喝|吃)了?(农药|安眠药|老鼠药)|煤气中毒|一氧化碳中毒|食物中毒|中毒了|"
        r"(突然|一下子)?(倒地|摔倒)(了)?(起不来|不动)|摔得?起不来|快不行了|要不行了|急救|救护车|"
        r"(要|快)生了|羊水破了|被(狗|蛇)咬|割腕|自杀|不想活了|想轻生|烧伤|烫伤得很重|触电|被电(到|了)")),
    Hazard("breathless", ("120",), _p(r"喘不(上|过)气|呼吸困难|憋得?(说不出话|上不来气)"),
           blockers=_p(r"油烟|烟味|噪音|吵|压力|热|闷热|臭|气味|味道|房贷|工作|憋屈|快被|气得")),
    # --- police: 110
    Hazard("violence", ("110",), _p(
        r"打人|打架|斗殴|打起来了|(被|让).{0,6}打了|(拿|持|动)(刀|棍|枪)|砍人|捅人|捅了|杀人|"
        r"(要|扬言|威胁).{0,4}杀|家暴|殴打|行凶|围殴|群殴|绑架|劫持|抢劫|抢(了|走)|被抢|"
        r"强奸|猥亵|非礼|耍流氓|撬门|撬锁|(有人|小偷).{0,4}(进|闯)(了|进)?.{0,4}(家|屋|院)|入室|"
        r"正在偷|小偷|扒手|跟踪我|有人追我")),
    Hazard("missing_person", ("110",), _p(
        r"(孩子|小孩|儿子|闺女|女儿|老人|老人家|母亲|父亲|我妈|我爸|爷爷|奶奶).{0,6}(丢了|走丢|不见了|找不到了|找不着了|失踪|没回家|联系不上)")),
    Hazard("fraud_in_progress", ("110",), _p(
        r"(正在|刚刚|刚才|马上要|正要|让我).{0,8}(转账|汇款|打钱)|被骗了|遇到骗子|诈骗.{0,4}(我|电话)|冒充(公安|警察|客服)")),
    # --- traffic accident: 122 (120 as well when someone is hurt, see below)
    Hazard("traffic_accident", ("122",), _p(
        r"车祸|出车祸|撞车|追尾|翻车|侧翻|撞(了|到|倒|上|伤)|被车(撞|轧|碾|刮)|交通事故|肇事逃逸|撞完就跑")),
    # --- explicit calls for help
    Hazard("call_for_help", ("110",), _p(r"救命|快报警|帮我报警|帮忙报警|我要报警|帮我叫警察|快来人")),
)

_INJURY = _p(r"受伤|伤了|流血|出血|昏迷|不省人事|晕|骨折|起不来|不动了|重伤|伤者|伤员|人.{0,2}(倒|躺)")

# Clause-level context that makes a hazard not happening now.
_PAST = _p(r"上(个)?(周|星期|礼拜|月)|去年|前年|前几天|前些天|前阵子|以前|之前|曾经|那年|那次|小时候|几年前|"
           r"(\d+|几|两|三|半)(个)?(月|年|星期|周)前|上次|(发生|出|有|着|起|失|遭)过|已经(处理|解决|扑灭|灭了|结束)|"
           r"(火|事)?(已经)?(灭了|扑灭了)")
_ASKING = _p(r"怎么(理赔|办理|报销|赔|处理的|预防|防|申请|投保|认定|鉴定)|如何|怎样|流程|理赔|保险|赔偿|培训|演练|演习|"
             r"招聘|宣传|讲座|知识|科普|预防|防范|标准|规定|政策|条例|罚款|处罚|考试|报名|电话是多少|号码是多少|"
             r"多少钱|收费|费用|地址在哪|在哪里|哪个部门|归谁管|谁管|新闻|电视剧|电影|小说|游戏|视频里|梦见|做梦")
_HYPOTHETICAL = _p(r"如果|万一|要是|假如|假设|担心|害怕|怕|隐患|容易|可能会|会不会|以防|防止|避免|一旦|小心|注意|提醒|"
                   r"会引起|会导致|导致.{0,3}(风险|危险)|有.{0,2}(风险|危险)")
_NEGATED = _p(r"(没有|没|不是|并没有|并不是|未|无|别|不会|不要)[^，。]{0,2}$")
_FIGURATIVE = _p(r"(吵|气|烦|热|冷|累|笑|馋|困|饿|急|忙|渴)(得)?(要)?死|火大|上火|发火|火气|火爆|火锅|火车|火腿|火柴|"
                 r"火化|火葬|烟花|烟草|烟酒|抽烟|吸烟|香烟|烟头|烟囱|油烟|炊烟|烧烤|烧饼|烧烤摊|烧纸|"
                 r"炸鸡|炸串|油炸|炸酱|火箭|网络诈骗|防诈骗|反诈|诈骗案件|小偷小摸")
# A line number used as a number, not as a call: 119号楼, 120路, 110国道, 120急救站招聘.
_LINE_NUMBER_NOT_CALL = _p(r"(110|119|120|122)(号|路|国道|省道|室|栋|幢|楼|单元|米|元|块|分|个|次|岁|平|公里|宣传日|消防日|急救站|急救中心|指挥中心|接警)")


def _clause_blocked(clause: str, start: int, hazard: Hazard) -> bool:
    before = clause[:start]
    if _NEGATED.search(before[-4:] if len(before) > 4 else before):
        return True
    if hazard.blockers is not None and hazard.blockers.search(clause):
        return True
    return bool(_PAST.search(clause) or _ASKING.search(clause) or _HYPOTHETICAL.search(clause))


def _figurative_only(clause: str, match: re.Match[str]) -> bool:
    """The hazard word sits inside a figurative or unrelated compound (火锅, 油烟, 吵死了)."""
    for f in _FIGURATIVE.finditer(clause):
        if f.start() <= match.start() < f.end() or match.start() <= f.start() < match.end():
            return True
    return False


@dataclass(frozen=True, slots=True)
class EmergencyFinding:
    lines: tuple[str, ...]
    reason: str
    evidence: str

    def as_json(self) -> dict[str, object]:
        return {"lines": list(self.lines), "reason": self.reason}


def screen(text: str) -> EmergencyFinding | None:
    """Return the lines to call (most relevant first) when the text reports a present emergency."""
    norm = spoken_digits(strip_fillers(normalize(text)))
    found: dict[str, str] = {}  # reason -> evidence
    lines: list[str] = []
    for clause in clauses(norm):
        masked = _LINE_NUMBER_NOT_CALL.sub("＃", clause)
        for hazard in HAZARDS:
            for m in hazard.pattern.finditer(masked):
                if _figurative_only(masked, m) or _clause_blocked(masked, m.start(), hazard):
                    continue
                found.setdefault(hazard.reason, m.group(0))
                lines.extend(hazard.lines)
                if hazard.reason == "traffic_accident" and _INJURY.search(masked):
                    lines.append("120")
                break
    if not found:
        return None
    ordered = _order(lines)
    reason = next(iter(found))
    return EmergencyFinding(ordered, reason, found[reason])


def _order(lines: list[str]) -> tuple[str, ...]:
    """Keep first-mentioned order but put the line of the first hazard first; no duplicates."""
    seen: list[str] = []
    for line in lines:
        if line not in seen:
            seen.append(line)
    return tuple(seen)
