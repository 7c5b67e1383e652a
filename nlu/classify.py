"""Request type (咨询/求助/投诉/举报/意见建议), level-1 category and the utility flag (Art. 18).

Keyword lexicons scored over the whole text, the point usually comes last in
long messages, so later clauses weigh more. The category names are checked
against the taxonomy file at load time so a typo here cannot invent one.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from nlu.regex_starts import StartScanner
from nlu.segment import Segmenter, taxonomy_terms


# Cues are (pattern, weight): a specific cue outweighs a generic one. Ties go to the first in
# _TYPE_PRECEDENCE: a report beats a complaint beats a request for help.
Cues = dict[str, list[tuple[str, float]]]

_REQUEST_TYPE_CUES: Cues = {
    "report": [
        (r"举报|检举|揭发|偷排|偷倒|私自|私拉|偷偷|违法|违规|非法|黑作坊|无证|冒充|骗取|套取|传销|聚众赌博|赌博|"
         r"制假|售假|卖假|假烟|假酒|乱砍|电鱼|私搭乱建|改生产日期|逼着学生|"
         r"有人在.{0,10}(卖|倒|排|烧|砍|盖|搭|施工|充电|拉|开采|电)|开公车|公车私用|吃拿卡要|贪污|受贿", 4.0),
    ],
    "complaint": [
        (r"投诉|扰民|不作为|推诿|乱收费|多收|拖欠|欠薪|霸王条款|坑人|欺诈|刁难|占线|没人来|报修了|不接电话|"
         r"找了.{0,8}(好几次|几次|多次|都没用)|不是(他们|我们)(的事|管的|管)|谁来管|没(有)?说法|没跟我商量|"
         r"没(有)?通知|怀疑|(怎么|咋)这么(贵|慢|差)|比.{0,8}贵|不给用|都是坏的|被(人)?偷|被.{0,4}占|还收(费|钱)|"
         r"年年涨|一点没变|气死|呛得|熏得|不敢(开|喝|出门)|不给|没给|不归.{0,4}管|没(有)?提前通知", 3.0),
        (r"太吵|吵得|吵死|噪音|臭(得|死)|太臭|态度.{0,3}(差|恶劣|不好)|不给(退|开|交|发|放)|不退|不管|没人管|没人修|"
         r"不修|不理|一直没|至今没|迟迟|还没(发|修|到账|给|来)|到现在(也|都)?(没|还|一分)|不合理|合理吗|"
         r"太(差|脏|贵|慢|长|早|猛|大|高|窄|短)|坏了|故障|不热|不够数|占道|乱停|乱扔|乱收|绕路|拒载|强制|"
         r"跑了.{0,2}趟|不按点|等不来|影响(休息|睡觉|生活|出行|上网课)|睡不着|没法(过|睡)|都没用|扣了|假的|"
         r"倒闭|跑路|漏水|漏雨|积水|扬尘|烟太大|打骂|玩手机|骚扰电话|少发|不公开|不退押金|臭水|往外(冒|溢)|"
         r"好几(天|个月|年)|半年|(一|两|三|几)个月(了|都)|差点|太脏|脏了|不送|根本|没人管吗|丢了|延期|"
         r"(太|很|特别)危险|亏了|特别大|难闻|塌(下去|了)|改线", 2.0),
        (r"天天|每天|整天|一直说|迟到", 1.0),
    ],
    "help": [
        (r"求助|帮帮|救救|(?<!手续)(?<!证)(?<!卡)(?<!户口本丢了)(怎么办|咋办)(?!理)|咋弄|停水|停电|停气|没水|没电|"
         r"没气|断网|来电|(?<!自)来水|冻得|困难|伺候不动|照顾不过来|瘫|帮扶|找个工作|住不了|做不了饭|爆了|"
         r"申请.{0,8}(低保|救助|补助|危房)|有没有什么.{0,4}(救助|帮扶|补助)|帮.{0,4}找|找找|"
         r"找(谁|人)来(看|修)|来(看看|修一下)|没有收入|生活困难", 3.0),
    ],
    "suggestion": [
        (r"建议|提个意见|意见建议|呼吁|倡议|多组织|多放|多设|多安装|加车|"
         r"希望(能|可以|政府|有关部门|社区)?.{0,6}(增设|增加|设置|安装|延长|开通|多|建|修建|组织)|"
         r"能不能(给|在)?.{0,10}(增设|增加|设置|安装|延长|开通|拓宽|多设|多放|换新)|应该(增加|增设|多)", 4.0),
    ],
    "consultation": [
        (r"咨询|请问|问一下|问问|想问|想了解|了解一下|怎么(办理|申请|补办|提取|交|领|换|激活|处理|办|弄|预防|防范)|"
         r"如何|怎样|哪里|在哪|什么时候|多久|多长时间|多少|需要什么|要什么|要带|带什么|能否|可以吗|能不能|吗$|是否|"
         r"流程|条件|政策|几点|有没有|能用吗|什么材料|需要.{0,4}吗|谁负责|找谁", 2.0),
        (r"如果.{0,12}(怎么办|咋办)|想提前了解|是不是.{0,8}(了|吗)", 4.0),
    ],
}
_TYPE_PRECEDENCE = ("report", "complaint", "help", "suggestion", "consultation")

# Level-1 categories of the taxonomy (config/taxonomy.csv) with the words that point to them.
CATEGORY_CUES: Cues = {
    "交通运输": [
        (r"公交|\d+路车|\d+路(?!口)|出租车|网约车|客运|长途汽车|汽车站|班车|快递|驿站|邮政|包裹|物流|高速|收费站|etc|"
         r"国道|省道|公路|站牌|末班车|首班车|拒载|城际|公交站", 3.0),
        (r"司机|线路|乘客|打车|火车站|高铁站|绕路", 1.0)],
    "政法": [
        (r"驾驶证|驾照|聚众赌博|算命骗|骗老人", 4.0),
        (r"派出所|警察|民警|公安|报警(?!器)|户口|户籍|身份证|居住证|护照|出入境|驾驶证|驾照|违章|交警|罚单|车管所|上牌|"
         r"律师|法律援助|公证|治安|小偷|被盗|诈骗|传销|赌博|打架|红绿灯|信号灯|左转灯|交通事故|跟踪|改装.{0,4}(车|摩托)|"
         r"落户|上户口|出生证明上", 3.0),
        (r"法律|调解|纠纷|吵架|砸东西|骚扰|处罚", 1.0)],
    "卫生计生": [
        (r"医院|医生|护士|看病|挂号|住院|门诊|诊所|卫生院|疫苗|接种|体检|出生证明|食品安全|过期食品|三无|变质|拉肚子|"
         r"食物中毒|后厨|卫生谁管|救护车|急救|传染病|药店|药品|假药|计生|生育|黄牛|防跌倒|心脏病|献血|心梗", 3.0),
        (r"发烧|健康|讲座|老鼠", 1.0)],
    "劳动和社会保障": [
        (r"医保|医疗保险|异地就医|就医备案|包工头|工钱|工资|欠薪", 4.0),
        (r"社保|社会保险|养老保险|养老金|医保|医疗保险|失业保险|失业金|工伤|生育保险|退休|工资|工钱|欠薪|讨薪|"
         r"劳动合同|加班费|辞退|解雇|离职|劳动仲裁|就业|公积金|社保卡|社报卡|五险一金|人社|包工头|灵活就业", 3.0),
        (r"单位|上班|干活", 1.0)],
    "城乡建设": [
        (r"物业|业主|小区|楼道|电梯|电体|开发商|交房|烂尾|拆迁|危房|棚改|廉租房|公租房|保障房|房产证|不动产|二手房|"
         r"过户|契税|装修公司|违建|违章建筑|私搭乱建|路灯|井盖|窨井|下水道|污水井|积水|排水|供水|自来水|停水|水压|"
         r"水费|二次供水|水管|爆管|供暖|暖气|供热|燃气|天然气|停气|煤气|液化气|停电|供电|来电|电费|电表|电闸|跳闸|"
         r"垃圾|环卫|清运|公厕|城管|占道|摊贩|停车位|车库|充电桩|消防通道|消防栓|灭火器|楼顶|漏水|漏雨|维修基金|"
         r"门禁|健身器材|绿化|绿地|修路|马路|道路|路太窄|拓宽|加装电梯|空调外机|热水器|外墙|私拉电线", 3.0),
        (r"楼上|楼下|邻居|房子|住房|施工|工地|树", 1.0)],
    "环境保护": [
        (r"吵得|噪音|噪声|太吵|吵死|扰民|ktv|音响|广场舞|垃圾分类|乱扔垃圾|排(到|进|放)|烟熏火燎|油烟|粉尘", 4.0),
        (r"污染|排污|偷排|污水直排|废水|废气|黑烟|排烟|烟尘|粉尘|扬尘|臭味|异味|恶臭|刺鼻|噪音|噪声|吵得|太吵|吵死|"
         r"扰民|音响|广场舞|ktv|打桩|电钻|油烟|焚烧|烧秸秆|秸秆|辐射|环评|环保|化工厂|养猪场|养鸡场|河水|电鱼|"
         r"往河里|垃圾分类|臭死|嗡嗡|熏", 3.0),
        (r"臭|苍蝇|灰", 1.0)],
    "农村农业": [
        (r"农村|农民|种地|土地承包|承包地|耕地|农田|庄稼|农药|化肥|种子|养殖|畜牧|兽医|动物防疫|病死|惠农|种粮补贴|"
         r"农业补贴|农机|合作社|宅基地|林业|砍树|乱砍|水库|灌溉|水利|扶贫|大棚|打疫苗.{0,4}(羊|猪|牛|鸡)|(羊|猪|牛|鸡).{0,6}疫苗", 3.0),
        (r"村委|村里|村民", 1.0)],
    "国土资源": [
        (r"土地证|土地征收|征地|地被征收|国有土地|土地出让|矿山|采矿|挖沙|采石|开采|炸山|地质|地震|测绘|土地性质", 3.0)],
    "商贸旅游": [
        (r"商场|超市|商家|商户|消费者|购物|退货|退款|假货|假烟|假酒|缺斤短两|明码标价|市场监管|旅游|景区|导游|门票|"
         r"宾馆|酒店|旅行社|预付卡|办卡|会员卡|健身房|理发店|网购|网上买|直播带货|加油站|家具店|烟花爆竹|停车的地方", 3.0),
        (r"买的|价格|涨价|店", 1.0)],
    "经济管理": [
        (r"营业执照|注册.{0,2}公司|公司注册|个体工商户|税务|纳税|个税|发票|银行|贷款|信用卡|金融|理财|非法集资|集资|"
         r"保险公司|车险|理赔|保险|财险|所得税|证券|股票|基金|物价|营商环境|小微企业|扶持政策|贴息|账户管理费", 3.0)],
    "教育文体": [
        (r"学校|学生|上学|入学|招生|学区|幼儿园|小学|初中|高中|大学|老师|教师|班主任|补课|辅导班|培训机构|校车|学费|"
         r"校服|教育局|中考|高考|考试|成绩|学籍|转学|图书馆|文化馆|体育馆|博物馆|文物|演出|电影院|网吧|消防演练", 3.0)],
    "民政": [
        (r"低保|特困|救助|残疾人|残疾证|养老院|敬老院|老年人补贴|高龄补贴|婚姻登记|结婚登记|离婚登记|殡葬|墓地|公墓|"
         r"居委会|社会组织|慈善|捐款|捐.{0,4}(衣服|物)|优抚|退役军人|复员|军属|流浪|孤儿|留守儿童|地名|门牌|补助|"
         r"瘫痪|瘫了|老年人活动|心理咨询|走失老人|迷路的老|护工|带两个孩子|阿尔茨海默|老年痴呆|防走失", 3.0)],
    "党务政务": [
        (r"党员|党组织|党费|入党|政务公开|政府网站|政务服务中心|办事效率|公务员|窗口工作人员|宗教|民族|人大代表|政协|"
         r"参观", 3.0)],
    "科技与信息产业": [
        (r"骚扰电话|垃圾短信|(移动|联通|电信)的?信号|信号.{0,4}(没有|断|差)", 4.0),
        (r"宽带|断网|没网|网速|手机信号|信号差|信号太差|基站|电信|移动公司|联通|光纤|骚扰电话|垃圾短信|推销|app|"
         r"小程序|爱山东|软件|登录不上|网课", 3.0)],
    "纪检监察": [
        (r"纪委|监察委|贪污|受贿|行贿|腐败|吃拿卡要|公车私用|八项规定|滥用职权|以权谋私|村支书|优亲厚友|给他亲戚|"
         r"村干部.{0,6}(亲戚|贪|占)|公车|干部.{0,6}(吃喝|收礼)", 4.0)],
}

UTILITY_CUES = re.compile(
    r"停水|没水|水压|自来水|供水|水管|爆管|跑水|水费|水表|停电|没电|断电|电费|电表|供电|来电|"
    r"停气|没气|燃气|天然气|煤气|燃气费|暖气|供暖|供热|集中供热|"
    r"宽带|断网|没网|网络故障|手机信号|信号差|固话|光纤|通信|网速")
_UTILITY_FALSE = re.compile(r"热水器|电动车|电瓶车|电梯")


def _check_taxonomy(path: Path) -> None:
    with path.open(encoding="utf-8") as fh:
        level1 = {row["level1"] for row in csv.DictReader(fh)}
    unknown = set(CATEGORY_CUES) - level1
    if unknown:
        raise ValueError(f"categories not in the taxonomy {path}: {sorted(unknown)}")


class _Lexicon:
    """Weighted cue patterns of several labels matched in one pass; later matches weigh a
    little more (long messages state their point at the end)."""

    def __init__(self, cues: Cues) -> None:
        self.labels = list(cues)
        self._groups: dict[str, tuple[str, float]] = {}
        parts = []
        for label, patterns in cues.items():
            for pattern, weight in patterns:
                name = f"g{len(self._groups)}"
                self._groups[name] = (label, weight)
                parts.append(f"(?P<{name}>{pattern})")
        self._pattern = StartScanner(re.compile("|".join(parts)))

    def scores(self, text: str) -> dict[str, float]:
        scores = dict.fromkeys(self.labels, 0.0)
        n = max(len(text), 1)
        for m in self._pattern.finditer(text):
            label, weight = self._groups[m.lastgroup or ""]
            scores[label] += weight * (1.0 + 0.25 * m.start() / n)
        return scores


class Classifier:
    def __init__(self, taxonomy_path: Path, segmenter: Segmenter | None = None) -> None:
        _check_taxonomy(taxonomy_path)
        self._types = _Lexicon(_REQUEST_TYPE_CUES)
        self._cats = _Lexicon(CATEGORY_CUES)
        # Second opinion for texts no cue covers: the taxonomy's own level-2/3 terms, found by words.
        self._segmenter = segmenter
        self._terms = taxonomy_terms(taxonomy_path)

    def type_scores(self, text: str) -> dict[str, float]:
        """Cue scores per request type; an explicit word for the type ("投诉", "举报", ...) adds most."""
        scores = self._types.scores(text)
        for word, kind in (("举报", "report"), ("投诉", "complaint"), ("建议", "suggestion"), ("求助", "help")):
            if word in text:
                scores[kind] += 3
        return scores

    def category_scores(self, text: str) -> dict[str, float]:
        return self._cats.scores(text)

    def grievance_type(self, text: str, scores: dict[str, float] | None = None) -> str:
        """Within what the boards call 投诉/求助: a report, a request for help or (by default) a complaint."""
        scores = scores if scores is not None else self.type_scores(text)
        best = max(("report", "complaint", "help"), key=lambda k: (scores[k], -_TYPE_PRECEDENCE.index(k)))
        return best if scores[best] > 0 else "complaint"

    def request_type(self, text: str) -> str:
        scores = self.type_scores(text)
        best = max(_TYPE_PRECEDENCE, key=lambda k: (scores[k], -_TYPE_PRECEDENCE.index(k)))
        return best if scores[best] > 0 else "consultation"

    def category(self, text: str) -> str | None:
        scores = self._cats.scores(text)
        best = max(scores, key=lambda k: scores[k])
        if scores[best] > 0:
            return best
        if self._segmenter is None:
            return None
        votes: dict[str, int] = {}
        for word in self._segmenter.cut(text):
            level1 = self._terms.get(word)
            if level1 is not None:
                votes[level1] = votes.get(level1, 0) + 1
        return max(votes, key=lambda k: votes[k]) if votes else None

    @staticmethod
    def utility(text: str) -> bool:
        return bool(UTILITY_CUES.search(_UTILITY_FALSE.sub("", text)))
