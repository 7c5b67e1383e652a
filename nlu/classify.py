"""Request type (咨询/求助/投诉/举报/意见建议), level-1 category and the utility flag (Art. 18).

Keyword lexicons scored over the whole text, the point usually comes last in
long messages, so later clauses weigh more. The category names are checked
against the taxonomy file at load time so a typo here cannot invent one.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path


# Ordered by precedence when scores tie: a report beats a complaint beats help.
_REQUEST_TYPE_CUES: dict[str, str] = {
    "report": r"举报|检举|揭发|偷排|偷倒|私自|违法|违规|非法|黑作坊|无证|冒充|骗取|虚报|套取|偷税|行贿|受贿|传销|聚众赌博|赌博|卖淫|吸毒|制假|售假|假冒",
    "complaint": r"投诉|扰民|噪音|太吵|不作为|态度(很|太|特别)?(差|恶劣|不好)|推诿|乱收费|多收|拖欠|欠薪|不给|不退|不管|没人管|没有人管|"
                 r"反映了.{0,6}(没|还没|一直)|一直没|至今没|迟迟|刁难|不合理|强制|霸王条款|坑人|欺骗|臭味|污染|脏乱差|占道|乱停|"
                 r"堵了|漏水.{0,6}(不修|没人)|不修|拒绝|不让|太差|不满|影响(休息|睡觉|生活|出行)",
    "help": r"求助|帮帮|帮忙|帮我|救救|怎么办(?!理)|咋办|停水|停电|停气|没水|没电|没有暖气|暖气不热|不供暖|断网|没网|困难|走投无路|"
            r"急需|需要帮助|无人照顾|找不到|丢失|迷路|漏水|爆管|跑水|下水道堵|井盖(丢|坏|没)",
    "suggestion": r"建议|希望(能|可以|政府|有关部门)|能不能(增设|增加|设置|安装|延长|开通)|可否|提个意见|意见建议|应该(增加|增设|多)|呼吁|倡议",
    "consultation": r"咨询|请问|问一下|问问|想问|想了解|了解一下|怎么|如何|怎样|哪里|在哪|什么时候|多久|多少|需要什么|要什么材料|能否|可以吗|吗[？?]?$|是否|流程|条件|政策",
}
_TYPE_PRECEDENCE = ("report", "complaint", "help", "suggestion", "consultation")

# Level-1 categories of the taxonomy (config/taxonomy.csv) with the words that point to them.
CATEGORY_CUES: dict[str, str] = {
    "交通运输": r"公交|公交车|路公交|出租车|网约车|打车|客运|长途汽车|汽车站|火车站|高铁|班车|快递|邮政|包裹|物流|公路|高速|收费站|站牌|线路|末班车|司机拒载|绕路",
    "党务政务": r"党员|党组织|党费|入党|政务公开|政府网站|办事效率|公务员|窗口工作人员|12345热线|宗教|民族|人大代表|政协|退役军人事务",
    "农村农业": r"农村|农民|种地|土地承包|承包地|耕地|农田|庄稼|农药|化肥|种子|养殖|畜牧|猪场|鸡场|兽医|动物防疫|惠农|种粮补贴|农业补贴|村委|村干部|村务|村集体|宅基地|林业|树木砍伐|砍树|水库|灌溉|水利|河道|扶贫|合作社",
    "劳动和社会保障": r"社保|社会保险|养老保险|医保|医疗保险|失业保险|工伤|生育保险|退休|养老金|工资|欠薪|拖欠工资|讨薪|劳动合同|加班费|辞退|解雇|劳动仲裁|就业|招聘会|失业|培训补贴|公积金|社保卡|五险一金|人社",
    "卫生计生": r"医院|医生|护士|看病|挂号|住院|门诊|诊所|药店|药品|疫苗|接种|体检|计生|生育|二胎|三孩|出生证明|食品安全|过期食品|变质|餐馆卫生|饭店卫生|食物中毒|传染病|医疗纠纷|卫生院|核酸",
    "商贸旅游": r"商场|超市|商家|商户|消费|购物|退货|退款|假货|质量问题|价格|涨价|明码标价|缺斤短两|市场监管|营业执照|个体户|旅游|景区|导游|门票|宾馆|酒店|旅行社|预付卡|会员卡|健身房|理发店|外卖|网购|直播带货|加油站",
    "国土资源": r"土地证|不动产|房产证|不动产登记|土地征收|征地|国有土地|土地出让|矿山|采矿|挖沙|采石|地质|地震|气象|测绘|土地性质",
    "城乡建设": r"小区|物业|业主|房子|住房|房屋|楼房|商品房|开发商|交房|烂尾|拆迁|征收补偿|棚改|廉租房|公租房|保障房|施工|工地|渣土|建筑|装修|违建|违章建筑|私搭乱建|电梯|路灯|道路|马路|修路|井盖|下水道|排水|积水|供水|自来水|停水|水压|水费|供暖|暖气|集中供热|燃气|天然气|停气|燃气费|垃圾|环卫|绿化|树木|公厕|城管|占道经营|摊贩|停车位|停车场|市政|管网|安全隐患|消防通道|楼道|化粪池|污水",
    "政法": r"派出所|警察|民警|公安|报警|110|户口|户籍|身份证|居住证|护照|出入境|驾驶证|驾照|违章|交警|罚单|车管所|律师|法院|判决|起诉|诉讼|仲裁|调解|法律援助|公证|治安|小偷|被盗|诈骗|传销|赌博|黑社会|打架|复议|监狱|社区矫正|电动车被偷",
    "教育文体": r"学校|学生|孩子上学|上学|入学|招生|学区|幼儿园|小学|初中|高中|大学|老师|教师|班主任|补课|辅导班|培训机构|校车|学费|教育局|中考|高考|考试|成绩|学籍|转学|图书馆|文化馆|体育馆|健身器材|广场舞|文物|博物馆|演出|电影院|网吧",
    "民政": r"低保|特困|救助|临时救助|残疾人|残疾证|养老院|敬老院|老年人补贴|高龄补贴|婚姻登记|结婚登记|离婚登记|殡葬|墓地|公墓|火化|社区居委会|居委会|社会组织|慈善|捐款|优抚|退役军人|复员|军属|流浪|孤儿|留守儿童|地名|门牌",
    "环境保护": r"污染|排污|偷排|废水|污水直排|废气|烟尘|粉尘|扬尘|臭味|异味|恶臭|噪音|噪声|扰民|油烟|焚烧|烧垃圾|秸秆|辐射|环评|环保|化工厂|水质|河水变黑|黑臭水体|排放",
    "科技与信息产业": r"网络|宽带|手机信号|信号差|基站|通信|电信|移动公司|联通|光纤|断网|网速|骚扰电话|垃圾短信|软件|app|小程序|电子政务|数据|专利|知识产权|科技项目",
    "经济管理": r"企业|公司注册|税务|税收|发票|纳税|个税|银行|贷款|信用卡|金融|理财|非法集资|保险公司|证券|供电|停电|电费|电价|电力|电表|物价|统计|国企|营商环境|招商|中小企业",
    "纪检监察": r"纪委|监察委|贪污|受贿|行贿|腐败|吃拿卡要|公车私用|违反八项规定|官员|干部作风|滥用职权|以权谋私|村官|村支书.{0,6}(贪|占)",
}

UTILITY_CUES = re.compile(
    r"停水|没水|水压|自来水|供水|水管|爆管|跑水|水费|水表|停电|没电|断电|电费|电表|供电|电线|跳闸|"
    r"停气|没气|燃气|天然气|煤气|燃气费|暖气|供暖|供热|集中供热|不热|"
    r"宽带|断网|没网|网络故障|手机信号|信号差|固话|光纤|通信|网速")
_UTILITY_FALSE = re.compile(r"热水器|电动车|电瓶车|电梯")


def _check_taxonomy(path: Path) -> None:
    with path.open(encoding="utf-8") as fh:
        level1 = {row["level1"] for row in csv.DictReader(fh)}
    unknown = set(CATEGORY_CUES) - level1
    if unknown:
        raise ValueError(f"categories not in the taxonomy {path}: {sorted(unknown)}")


class _Lexicon:
    """Several labelled cue patterns matched in one pass; later matches weigh more
    (long messages state their point at the end)."""

    def __init__(self, cues: dict[str, str]) -> None:
        self.labels = list(cues)
        self._groups = {f"g{i}": label for i, label in enumerate(self.labels)}
        self._pattern = re.compile("|".join(f"(?P<g{i}>{cues[label]})" for i, label in enumerate(self.labels)))

    def scores(self, text: str) -> dict[str, float]:
        scores = dict.fromkeys(self.labels, 0.0)
        n = max(len(text), 1)
        for m in self._pattern.finditer(text):
            scores[self._groups[m.lastgroup or ""]] += 1.0 + m.start() / n
        return scores


class Classifier:
    def __init__(self, taxonomy_path: Path) -> None:
        _check_taxonomy(taxonomy_path)
        self._types = _Lexicon(_REQUEST_TYPE_CUES)
        self._cats = _Lexicon(CATEGORY_CUES)

    def request_type(self, text: str) -> str:
        scores = self._types.scores(text)
        # An explicit word for the type ("投诉", "举报", "建议", "求助") decides.
        for word, kind in (("举报", "report"), ("投诉", "complaint"), ("建议", "suggestion"), ("求助", "help")):
            if word in text:
                scores[kind] += 3
        best = max(_TYPE_PRECEDENCE, key=lambda k: (scores[k], -_TYPE_PRECEDENCE.index(k)))
        return best if scores[best] > 0 else "consultation"

    def category(self, text: str) -> str | None:
        scores = self._cats.scores(text)
        best = max(scores, key=lambda k: scores[k])
        return best if scores[best] > 0 else None

    @staticmethod
    def utility(text: str) -> bool:
        return bool(UTILITY_CUES.search(_UTILITY_FALSE.sub("", text)))
