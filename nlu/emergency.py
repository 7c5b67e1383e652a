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

from nlu.regex_starts import start_chars
from nlu.text import clauses, normalize, spoken_digits, strip_fillers



@dataclass(frozen=True, slots=True)
class Hazard:
    reason: str
    lines: tuple[str, ...]
    pattern: re.Pattern[str]
    # Extra blockers for this hazard only (e.g. figurative causes of breathlessness), in the clause...
    blockers: re.Pattern[str] | None = None
    # ...and anywhere in the text (a person found again is no longer missing).
    text_blockers: re.Pattern[str] | None = None
    # The clause blockers do not apply when this is in the clause (a works' smoke with people inside).
    unless: re.Pattern[str] | None = None
    # Read over the whole sentence, not one clause: situations told in several short clauses.
    sentence_wide: bool = False
    # A threat or a farewell: said conditionally by nature (不给钱我就跳下去) and often beside old history
    # (以前说过要跳河), so neither a supposition nor a past event elsewhere in the sentence silences it;
    # hearsay, news and a past event in its own clause still do.
    threat: bool = False
    # Not a report when this ends just before the match, in its clause (怕孩子掉进井里: a fear; 钥匙掉井里: a thing).
    not_after: re.Pattern[str] | None = None
    # Sentence-wide, read with the sentence before it too: a situation told in two short sentences, as people
    # chat (屋里生着炉子。我跟我妈都头晕想吐！).
    with_previous: bool = False


def _p(s: str) -> re.Pattern[str]:
    return re.compile(s)


# Smoke from a works, a chimney or burning rubbish is pollution (a complaint), not a fire call.
_POLLUTION = re.compile(r"烟囱|烟筒|排烟|冒烟的车|尾气|抽烟|吸烟|厂|排放|直排|偷排|污染|焚烧|燃烧.{0,4}(轮胎|垃圾|秸秆|焦煤)|"
                        r"炼油|锅炉|烧(秸秆|垃圾|荒)|浓烟滚滚|黑烟滚滚")
_PEOPLE_AT_RISK = re.compile(r"还有人|有人没出来|人没出来|没出来|困着人|起火|着火|火苗|火光|明火|人在里面|还有没有人|"
                             r"(人|工人)(都)?在?往外(跑|逃)|砰|爆")
_PEOPLE = r"(人|老人|孩子|小孩|老太太|老头|老大爷|大爷|大娘|大妈|婆婆|爷爷|奶奶|姥姥|姥爷|妈|爸|媳妇|老婆|老公|丈夫|妻子|儿子|闺女|女儿|邻居|同事|工人|司机|他|她|我)"

# The gas odorant's smell, and what burns fuel indoors (the `gas_odorant` and `carbon_monoxide` hazards below).
_ROTTEN_EGG = r"臭鸡蛋(的|气|一样的|似的)?味"
_GAS = r"(燃气|煤气|天然气|液化气|气罐|气瓶)"
_FUEL = r"(热水器|煤炉|炉子|蜂窝煤|煤球|炭火|炭盆|烧炭|取暖炉|壁挂炉|燃气|煤气|天然气|液化气)"
# What carbon monoxide does to a body.
_CO_SYMPTOMS = (r"(头晕|头昏|想吐|呕吐|吐了|站不住|站不稳|浑身(没劲|无力|发软)|迷迷糊糊|晕乎乎|眼前发黑|腿发软|"
                r"头(特别|很|好|发)?沉|"
                r"(头疼|头痛|恶心).{0,3}(头晕|想吐|恶心|头疼|头痛|站不住)|都(头疼|头痛|恶心))")

HAZARDS: tuple[Hazard, ...] = (
    # --- fire, smoke, gas, trapped, water rescue: 119
    Hazard("fire", ("119",), _p(
        r"着火|起火|失火|走火|火着起来|烧起来|烧着了|着了火|火烧|大火|火很大|火势|火苗|火光|明火|"
        r"发生火灾|火灾了|火灾现场|有火灾|着火灾|焦糊味|烧焦|火星|火.{0,4}(越来越大|蔓延|往(外|上)(冒|窜))|"
        r"(都是|全是|一片)火|着起来了|烧着了"), blockers=_p(r"烟囱|排烟|冒烟的车")),
    Hazard("fire", ("119",), _p(  # smoke seen: the emergency is a fire
        r"冒(黑|浓|白)?烟|冒(出|了)?.{0,4}(黑|浓|白|青)烟|浓烟|黑烟|烟很大|烟雾很大|全是烟|都是烟|"
        r"烟.{0,4}(越来越大|蔓延|往(外|上)(冒|窜))|呼呼(地)?冒烟"), blockers=_POLLUTION, unless=_PEOPLE_AT_RISK),
    Hazard("people_inside", ("119",), _p(r"(里面|屋里|楼里|车间里|房子里).{0,6}(还有人|有人没出来|人没出来|困着人)"),
           text_blockers=_p(r"冒烟|着火|起火|烧|火|烟|塌|泄漏|漏气|水淹|淹了")),
    Hazard("explosion", ("119", "120"), _p(r"爆炸|炸了|炸开了"), blockers=_p(r"礼花|烟花|鞭炮|爆竹|炮仗|气球|轮胎|爆米花")),
    Hazard("gas_leak", ("119",), _p(
        r"(燃气|煤气|天然气|液化气|气罐)(泄漏|泄露|漏了|漏气|管(道|线|子)?.{0,4}(断|裂|破|漏))|"
        r"(燃气|煤气|天然气|液化气|气罐|罐子).{0,8}(漏气|泄漏|泄露|往外(冒|呲|喷))|"
        r"(燃气|煤气|天然气|气)管.{0,6}(呲气|冒气|往外(呲|冒|喷))|(呲|喷)气|"
        r"漏(燃气|煤气|天然气)|(燃气|煤气|天然气|液化气)味.{0,4}(很大|很浓|特别大|大得|浓|冲)|"
        r"闻到.{0,6}(燃气|煤气|天然气|液化气)味|"
        r"(闻|全是|满屋|一屋子|到处|一股|有股).{0,6}(燃气|煤气|天然气|液化气).{0,3}味|"
        r"(燃气|煤气|天然气|液化气)的?味(道)?.{0,8}(大|浓|冲|重|头晕|恶心)|"
        # A gas pipe, bottle, meter or valve heard hissing.
        r"(燃气|煤气|天然气|液化气)[^，。]{0,4}(管|罐|瓶|表|阀)[^，。]{0,8}(嘶嘶|呲呲|咝咝|哧哧|滋滋|丝丝|吱吱)")),
    Hazard("trapped", ("119",), _p(
        r"(?<!把我)(?<!把他)(?<!把她)(被)?困在.{0,8}(里|里面|电梯|楼上|楼顶|屋里|井下|水里|车里)|被困|"
        r"(被)?(锁|关|反锁)在.{0,6}(车|屋|房间|电梯|厕所|阳台|卫生间)里|(电梯|井|坑|洞|窨井|下水道)里.{0,4}(出不来|困住)|"
        r"卡在.{0,6}(里|中间|栏杆|缝)|出不来了|"
        r"落水|溺水|水里扑腾|不会游泳|往下沉|快淹死|淹(着|到)人")),
    # Someone fallen into water or a pit; not a thing dropped (钥匙掉井里) nor a fall feared (怕孩子掉进井里).
    Hazard("trapped", ("119",), _p(
        r"(掉|跌|摔|落|栽)(进|到|入)了?.{0,6}(井|河|江|湖|海|水|坑|窨井|下水道|冰窟窿|化粪池|粪坑|池子|水塘|鱼塘|沟)|"
        r"(掉|跌|摔|落|栽)了?[^，。]{0,3}?(井|河|江|湖|海|水库|水塘|池塘|鱼塘|河沟|水沟|沟|水|坑|窨井|下水道|粪坑|化粪池|冰窟窿)里"),
        not_after=_p(r"((?<![可哪恐])怕|担心|别(?!人)|(?<!不)小心|以免|防止)[^，。,]{0,6}$|"
                     r"(?<![捡拿够找追])(钥匙|手机|钱包|东西|证件|身份证|卡|眼镜|帽子|鞋|球|包|玩具|首饰|戒指)$")),
    Hazard("jump_threat", ("110", "119"), _p(r"(有人|孩子|小孩|他|她).{0,4}(要|想)跳(楼|河|桥)|站在楼顶.{0,6}(要|想)?跳")),
    # --- medical: 120
    Hazard("medical", ("120",), _p(
        r"晕倒|昏倒|昏迷|休克|不省人事|叫.{0,3}不醒|(晕|昏)过去|(叫|喊).{0,3}(不应|没反应|没有反应)|(拍|推|摇|晃)(了)?(拍|推|摇|晃)?(他|她|人|孩子|老人|我爸|我妈)[^，。,]{0,3}(也|都)(不动|没动静)|没(了)?(意识|知觉|心跳)|"
        r"没(有)?呼吸|不喘气了|嘴唇发紫|脸(都)?(紫|青)了|噎住|卡住(了)?喉咙|喘不了气|"
        r"半边身子.{0,3}(不能动|动不了|麻)|嘴歪|口角歪斜|突然.{0,3}说不出话|中风|"
        r"心脏病(犯了|发作)|心梗|脑梗|中风了|抽搐|抽过去了|口吐白沫|大出血|流了好多血|流了很多血|血流不止|"
        r"吐血|(喝|吃|误食|吞|服)了?.{0,6}(农药|安眠药|老鼠药|鼠药|敌敌畏|百草枯|整瓶)|煤气中毒|一氧化碳中毒|"
        r"误(吃|食|服|喝|吞)|(吃|喝|吞)了.{0,6}(好几片|一瓶|整瓶|大量|一把|半瓶)|"
        r"食物中毒|中毒了|酒精中毒|"
        r"(突然|一下子)?(倒地|摔倒)(了)?(起不来|不动)|摔得?起不来|快不行了|要不行了|"
        r"(叫|派|来|需要|快叫)(个|辆)?救护车|"
        r"(要|快)生了|羊水破了|被(狗|蛇)咬|割腕|自杀|想轻生|烧伤|烫伤得很重|触电|(被|让|叫)(高压)?电(到|着|击|打|倒|住|了)(?!了?一下)(了)?|(摸|碰|抓)[^，。]{0,6}电(着|住|倒)了(?!一下)|(碰|摸|挨)(到|着)?了?(高压线|电线|电门)|"
        r"栽倒|栽在地上|倒下了|倒在(地上|地下|路边|家里)|(口|嘴里).{0,4}吐(白)?沫|抽起来了|一动不动|"
        r"(腿|胳膊|骨头|脖子|腰).{0,3}(断了|折了)|骨折了|动不了了|"
        r"脸色(发白|苍白|发青|发紫|蜡黄)|剧痛|疼得(厉害|受不了|打滚|直叫)|(特别|非常|剧烈).{0,2}疼|"
        r"怀孕.{0,12}(疼|出血|流血|见红)|流血不止|血止不住|从.{0,8}(摔|掉|跌|坠)(下来|下去|了下来)|"
        r"过敏.{0,6}(肿|喘|呼吸)|高烧.{0,4}(抽|不退)")),
    # Someone who does not respond; not an office, a driver told something, a device, a card or a jab.
    Hazard("medical", ("120",), _p(r"没(有)?反应"),
           blockers=_p(r"如果|万一|要是|假如|假设|反映|投诉|微信|短信|电话|留言|信息|回复|回应|部门|单位|政府|物业|社区|领导|书记|司机|客服|保安|门禁|刷|"
                       r"声音|疫苗|卡|插|按|机器|电脑|手机|屏|网|充值|余额|显示|遥控|开关|系统|软件|app|他们"),
           sentence_wide=True),
    Hazard("breathless", ("120",), _p(r"喘不(上|过)气|呼吸困难|憋得?(说不出话|上不来气)"),
           blockers=_p(r"油烟|烟味|噪音|吵|压力|热|闷热|臭|气味|味道|房贷|工作|憋屈|快被|气得")),
    # --- police: 110
    Hazard("violence", ("110",), _p(
        r"打人|打架|群架|斗殴|打起来了|(被|让).{0,6}打了|(拿|持|动|抄)(着)?(刀|棍|棒|枪|砖头|斧头|酒瓶)|"
        r"砍人|捅人|捅了|杀人|(要|扬言|威胁).{0,4}杀|家暴|殴打|行凶|围殴|群殴|围攻|围着.{0,8}打|"
        r"打(我|她|他|孩子|老人|我妈|我爸)(?!.{0,2}(电话|手机|号码|钱|款))|(在|还在)追(我)?|"
        r"绑架|劫持|抢劫|抢(了|走)|被抢|强奸|猥亵|非礼|耍流氓|撬.{0,4}(门|锁|窗)|"
        r"(门|窗|锁)被(人)?(踹开|撬开|砸开|砸坏|撬坏)|(屋里|家里|东西).{0,6}被(人)?翻|进(了)?(贼|小偷)|遭贼|"
        r"(有人|小偷).{0,4}(进|闯|翻墙)(了|进)?.{0,4}(家|屋|院)|(有个?人|有个(男|女)的|小偷|贼)[^，。,]{0,3}(在|正在)?(翻|爬)[^，。,]{0,4}(院墙|围墙|墙头|窗户|阳台)|入室|正在偷(?!偷|排|倒|懒|着|放|烧|接)|偷车|小偷|扒手|偷电缆|(人|贼|男的|女的)(正在|还在|在)(撬[^，。]{0,4}(门|锁|窗|车|柜|箱)|偷[^，。]{0,6}(东西|电缆|电线|车|电瓶|井盖|钱|铜|铁|钢筋|油|包|手机|空调))|(一家一家|挨家挨户)[^，。]{0,4}(拧|推|试)[^，。]{0,2}门|顺着[^，。]{0,4}(水管|管道|管子)[^，。]{0,4}爬|剪[^，。]{0,6}锁|跟踪我|有人追我|"
        r"(被|让).{0,6}(拉上车|拽上车|塞进车|强行带走|掳走)|挣扎.{0,4}(喊|叫)|呼救|"
        r"被.{0,10}(陌生|不认识的).{0,6}(带走|抱走|拉走)|(陌生人|陌生男|陌生女).{0,6}(带走|抱走|拉走)|"
        r"(弄死|打死|杀了|砍死|整死)(我|你|他|她)|关在.{0,6}(出不去|不让)|"
        r"不让我下车|往(郊区|郊外|山里|偏僻的地方)开|锁(了)?车门|"
        r"闹事|砸(了|坏)?.{0,4}(柜台|店|车|门|玻璃|东西)|(还在|正在|在)砸|泼(了)?油漆|恐吓|威胁我|勒索|敲诈|"
        r"(一直|有人|老)跟着我|尾随|躲在.{0,8}(里|后面)|非要进(屋|门|家|来)|(在|守在|堵在).{0,4}门口不走|"
        r"冒充.{0,6}(敲门|进屋|上门)|偷摸|摸(她|我|女)|性骚扰"),
           # The police already have it: a report filed is a follow-up, not a call.
           text_blockers=_p(r"报了案|报案了|报过案|报过警|立案了|(派出所|公安).{0,4}(已经)?(受理|立案)")),
    Hazard("missing_person", ("110",), _p(
        r"(孩子|小孩|儿子|闺女|女儿|孙子|孙女|外孙|外孙女|老人|老人家|母亲|父亲|我妈|我爸|爷爷|奶奶|姥姥|姥爷|老伴|"
        r"丈夫|老公|妻子|老婆|媳妇|妹妹|弟弟|哥哥|姐姐|家人)(?!的)"
        r".{0,16}?(丢了|走丢|走失|不见了|找不到了|找不着了|失踪|没回家|没回来|联系不上)|"
        r"(出门|出去|放学|下班).{0,10}(没回家|没回来|还没回|联系不上|找不到|找不着)|走失|失踪|离家出走|"
        r"(两|几|三|一)天.{0,4}(没回家|联系不上|找不到)|关机.{0,8}(联系不上|找不到|找疯)"),
           text_blockers=_p(r"捡到|(已经|终于)?找到了|送到派出所|送回(家|来)|防走失|以前|之前|曾经")),
    Hazard("fraud_in_progress", ("110",), _p(
        r"(正在|刚刚|刚才|马上要|正要|让我|叫我|要我).{0,8}(转账|汇款|打钱|转钱|转到)|安全账户|被骗了|遇到骗子|"
        r"(让|叫|要|催)(我|她|他)?.{0,6}(转钱|转账|汇款|打钱|汇钱)|继续转|(还|又)让(我|她|他).{0,3}转|交保证金|"
        r"冒充.{0,8}(要钱|借钱|汇款|转账)|(已经|正在|马上)?去银行(汇款|转账)|"
        r"诈骗.{0,4}(我|电话)|冒充(公安|警察|客服)")),
    # --- traffic accident: 122 (120 as well when someone is hurt, see below)
    Hazard("traffic_accident", ("122",), _p(
        r"车祸|出车祸|撞车|追尾|翻车|侧翻|撞(了|到|倒|上|伤)|被车(撞|轧|碾|刮)|交通事故|肇事逃逸|撞完就跑|"
        r"(两辆|几辆|车).{0,4}(刮了|撞了|碰了|蹭了)|刮蹭|剐蹭|(车|三轮|货车|摩托|电动车).{0,4}(翻了|倒了)|撞(飞|翻|死)|"
        r"压着人|(车|轮子)压(住|着|到)(人|腿|脚)"),
           # Settled between the drivers: an insurance or paperwork matter.
           text_blockers=_p(r"私了|商量好|协商(好|解决)|没(有)?人受伤|小擦伤|定损|快处快赔|理赔")),
    # --- what people see rather than name (added 2026-12: describing, not naming, is how most people
    # in danger write). Each is a situation — a person in an acute state, a smell with symptoms, a
    # structure giving way, someone taken or hurt by force — not a keyword.
    Hazard("person_unresponsive", ("120",), _p(
        r"叫.{0,3}(不答应|不应声|没应|只会哼|不吭声|冇反应)|冇反应|(嘴唇|脸|嘴).{0,3}(都|全|已经)?(发)?(紫|青|乌)(了|晒|掉)?|"
        r"(倒|躺|趴|瘫|栽)(在)?.{0,8}(一动不动|不动了|没动静|没反应|起不来)|(趴|倒|瘫)在方向盘|瞓咗落地|"
        r"(浑身|全身).{0,2}(滚烫|发烫|抽)|不出汗了|(胸口|心口).{0,8}(压|闷|疼|痛).{0,10}(冷汗|胳膊|喘)|"
        r"出冷汗.{0,6}(胸|心)|(喉咙|嗓子).{0,2}(发紧|肿|堵)|(嘴|嘴巴|脸|舌头).{0,4}肿(起来|了)|"
        r"(嘴角|嘴|口角).{0,2}歪|说话.{0,4}(说不清|不清楚|含糊|大舌头)|(手|胳膊|腿).{0,6}(拿不住|抬不起|没劲|不听使唤)|"
        r"疼到.{0,2}(胳膊|后背|肩)|(胸口|心口).{0,3}像.{0,8}(压|石头|勒)|"
        r"(噎|卡)(到|着|住)了?.{0,8}(脸|喘|说不出|咳不出)|(头|脑袋)(下面|底下|旁边).{0,6}(血|一滩)|一滩血|"
        r"流血了|(在|还在)流血|血(流|淌)(了)?一地|满(脸|身|头)(是)?血|(头|站不稳).{0,4}晕得?(很|不行|厉害)|晕得.{0,4}站不"), 
        blockers=_p(r"气得|急得|吓得|累得|热得")),
    Hazard("acute_symptoms", ("120",), _p(
        r"(嗓子|喉咙|嗓子眼).{0,4}(越来越)?(紧|堵|肿|嘶嘶)|(嘴唇|眼皮|脸|舌头).{0,6}肿(起来|了)|喘气.{0,8}(嘶嘶|呼噜|困难)|"
        r"(胸口|心口).{0,4}(疼|痛)得?(厉害|的厉害|受不了)|(胳膊|手臂|左边).{0,4}发麻|冷(汗|汉).{0,10}(胸|脸色|发麻)|"
        r"(吞|咽)(下去|进去|了).{0,8}(电池|硬币|钉|针|磁|药|鱼刺|骨头)|(电池|硬币|磁铁|钉子|药片).{0,6}(吞|咽)(下去|进去|了)|"
        r"(躺|倒|趴)在.{0,6}(地上|床边|门口|卧室|客厅|楼梯).{0,12}(不应|没反应|不动|凉|冰)|(身子|身上|手脚)(有点|发|冰)?凉|"
        r"(满头大汗|出汗|冒汗).{0,10}(糊涂|迷糊|说胡话|发抖|哆嗦)|(抽|抖)个不停|口吐白沫")),
    Hazard("hazard_scene", ("119",), _p(
        r"(冒|迸|溅|窜)(出)?.{0,3}火星|火花.{0,6}(冒|溅|呲)|噼里啪啦.{0,10}(响|火|烟)|(塑料|电线|橡胶)(烧|烧化|烧焦)的?味|"
        r"烧(东西|焦|糊)的?味.{0,30}(烫|烟|没人应|敲门)|门把手.{0,4}烫|门缝.{0,6}(烟|冒)|"
        r"烧炭|(门窗|窗户|门缝).{0,6}(胶带|封死|贴上)|电线.{0,8}(掉|断|垂|耷拉).{0,10}(地上|路上|冒|火花|孩子)")),
    Hazard("threat_now", ("110",), _p(
        r"(捅|撬|拧|掰|拨)(我家|我的|门)?.{0,2}(锁眼|门锁|锁)|(门外|门口|窗外)有人.{0,8}(撬|捅|拧|推|撞|砸|敲个不停)|"
        r"不要打了|别打了|(往|在).{0,6}(裙子底下|裙底).{0,4}(拍|照)|(往|在).{0,4}(人家|她|女孩|女生)身上(贴|蹭|摸)|"
        r"(一直|还在)(跟|尾随)着|(酒驾|醉驾|喝多了.{0,6}开车)|(左右|来回)晃.{0,10}(压线|开|车)|压着线开|"
        r"(推搡|扭打|厮打|掐)(起来|在一起)|(小孩|孩子).{0,12}(哭声|哭).{0,10}(突然没了|没声了)")),
    Hazard("gas_smell", ("119", "120"), _p(
        r"(臭鸡蛋|煤气|燃气|天然气|液化气|刺鼻|怪)(的)?味.{0,16}(越来越|浓|冲|大|头晕|恶心|不敢|没人应|敲门)|"
        r"(黄|绿|白|黑)(色)?的?烟.{0,10}(刺鼻|咳|呛|辣|睁不开)|(眼睛|喉咙).{0,4}(辣|呛|疼).{0,10}(咳|烟|睁不开)|"
        r"煤气灶.{0,10}(没关|没有关|开着)|不敢(按电梯|开灯|打火|开电)|(燃气|煤气)热水器.{0,30}(头晕|恶心|没人答应|不答应)|"
        r"(洗澡|卫生间).{0,20}(没人答应|不答应|没动静|叫不应)")),
    # The odorant of mains gas (rotten eggs) beside a gas word in the same sentence: in a sewer (下水道返臭鸡蛋味)
    # it is a drains complaint.
    Hazard("gas_odorant", ("119",), _p(
        _GAS + r".{0,30}" + _ROTTEN_EGG + "|" + _ROTTEN_EGG + r".{0,30}(" + _GAS + "|漏气)|"
        r"(厨房|屋里|家里|楼道|房间).{0,12}" + _ROTTEN_EGG + r".{0,12}(越来越|很浓|特别浓|冲|呛)"),
        # Drains, tap water and rubbish smell of it too; a leaflet or a question about the smell; none now.
        blockers=_p(r"下水|水管|自来水|供水|泔水|垃圾|化粪池|厕所|马桶|地漏|污水|为什么|宣传|如果|担心|"
                    r"没漏|没有.{0,3}味|不臭了"),
        sentence_wide=True, with_previous=True),
    # Carbon monoxide: bodily symptoms beside a water heater, stove or fire burning fuel indoors. 恶心 and
    # 头疼 alone are also what a complaint says of a bill; they count in pairs or said of several people.
    Hazard("carbon_monoxide", ("120",), _p(
        _FUEL + r".{0,40}" + _CO_SYMPTOMS + "|" + _CO_SYMPTOMS + r".{0,40}" + _FUEL),
        # A bill, noise or a stench that makes one dizzy; the years one heated with coal; a leaflet or a
        # question about the symptoms; symptoms gone; a fall's injury.
        blockers=_p(r"以前|那时候|症状|担心|容易|宣传|建议|不(再)?(头晕|头疼|头痛|恶心|想吐)|再也不|"
                    r"[吵熏臭看气愁烦急累跑忙]得(我|人|人家)?.{0,3}(头|恶心|想吐)|看着(都)?(头晕|头疼)|"
                    r"(燃气|电|水|暖气|取暖)费|补交|交费|缴费|账单|涨价|摔了一跤|崴"),
        sentence_wide=True, with_previous=True),
    Hazard("silent_behind_door", ("120", "119"), _p(
        r"(洗澡|卫生间|浴室|屋里|房间).{0,24}(一个钟头|一个小时|半天|好久|很久).{0,16}(没人答应|不答应|没动静|没人应)|"
        r"(燃气|煤气).{0,20}(头晕|恶心).{0,20}(没人答应|不答应|没人应)|(没人答应|不答应|没人应).{0,40}(燃气|煤气).{0,30}(头晕|恶心)"),
        sentence_wide=True),
    Hazard("fire", ("119",), _p(  # smoke described in other words
        r"冒.{0,4}(大)?(嘞|的)?烟|(窗|门|屋|楼|房|车头|车)[^，。]{0,6}(往外)?(冒|窜|涌|飘)(出)?.{0,3}烟|"
        r"(熏|烧)黑了|火苗|烟.{0,6}(呛得|呛人|睁不开)"), blockers=_POLLUTION, unless=_PEOPLE_AT_RISK),
    Hazard("collapse", ("119", "120"), _p(
        r"(塌|倒塌|垮)(了|下来).{0,16}(有人|人在|喊|埋|压)|(底下|下面|里面)(好像)?有人(在)?(喊|叫|哭)|"
        r"(埋|压)在(底下|下面|里面)|被(埋|压)住|巨响.{0,20}(震碎|碎了|没了|喊|爬|塌|倒)|砰的一声.{0,20}(碎|塌|炸|没了)")),
    Hazard("water_danger", ("119",), _p(
        r"水.{0,4}(已经|都)?(到|没过|淹到)(了)?(腰|胸|脖子|膝盖|大腿)|水流(特别|很|太)?急.{0,12}(人|下不去|冲)|"
        r"(被|让)(水|洪水|大水)(冲走|卷走|困)|(车库|地下室|隧道|涵洞).{0,10}(进水|淹|灌水).{0,20}(人|打不通|出不来|下去)")),
    Hazard("taken_by_force", ("110",), _p(
        r"(往|被|强行).{0,6}(车上|车里)(拽|拖|拉|塞|推)|(拽|拖|拉|塞|推)(上|进)(了)?.{0,6}车|"
        r"(一直|大)?喊.{0,4}(我不认识你|救命|放开我)|(不认识|陌生).{0,10}(拽|拖|抱走|带走)")),
    Hazard("self_harm", ("110", "120"), _p(
        r"遗言|(栏杆|楼顶|天台|桥)(外面|边上|上面).{0,12}(站|坐|往下|跳)|想不开|要(轻生|寻死|跳下去)")),
    # Someone about to end their life (issue 18's photographed notes; holdout E): a way of doing it with a
    # word of intent before it, or the warning signs of a decision made — a note or will, saying goodbye,
    # medicine hoarded, affairs handed over, petrol poured on oneself.
    Hazard("self_harm", ("110", "120"), _p(
        r"(就|要|准备|打算|想|去)[^，。]{0,8}(跳(下去|楼|河|湖|江|海|水库|桥|崖|井)|往下跳|"
        r"(楼|楼顶|顶|天台|桥|塔吊|阳台)上?(跳|下去|往下)|喝(了)?(药|农药|敌敌畏|百草枯|老鼠药)|吃(了)?安眠药|"
        r"上吊|割腕|自焚|卧轨|撞(死|火车)|死在|寻死|了结(自己|生命|此生)|结束(自己|生命|这条命)|"
        r"(骑|开|冲)(到|上)高速)|"
        r"遗书|绝笔|下辈子再|一了百了|不要怪任何人|别(再)?找我了|(药|安眠药)[^，。]{0,4}(攒|存)(够|着|好|全)|全攒着|"
        r"(今天|今晚|今儿|今夜|马上)[^，。]{0,3}就?结束(了|吧)?(?!后)|"
        r"((就|要)走了|要走了)[^。]{0,12}(再见|保重|照顾好)|"
        r"汽油[^，。]{0,6}浇[^，。]{0,3}(身上|自己)|(身上|自己)[^，。]{0,3}浇[^，。]{0,4}汽油|"
        r"(农药|安眠药|老鼠药|敌敌畏|百草枯)[^。]{0,10}(手边|手上|桌子上|床头|身边|兜里)|"
        r"(塔吊|楼顶|天台|桥)[^。]{0,30}(松手|往下跳|跳下去)|"
        r"(纸条|遗书|留言|信息|短信)[^。]{0,24}对不起[^。]{0,30}(不见了|关机|联系不上|找不到)|"
        r"(托付给|交代(好)?后事|密码[^，。]{0,6}写在纸上)[^。]{0,30}(最后一步|走了|不用回|别找)"),
        blockers=_p(r"跳楼机|蹦极|跳水(比赛|运动|馆)|跳伞|游乐|项目|药店|药房|医保|报销|买药|开药|配药|处方|"
                    r"(气|烦|急|愁|郁闷|恨)得(我)?(都)?(想|要)"),
        sentence_wide=True, threat=True),
    # Despair in so many words: the same hazard, unless the text is plainly about paperwork or a joke
    # (烦死了不想活了，这手续怎么这么麻烦).
    Hazard("despair", ("110", "120"), _p(
        r"不想活(了)?|不活了|活着(也|还)?(没|有)(啥|什么)意思|活不下去了|不想再撑了"),
        # Only in the same clause: distress about paperwork is still distress (低保办不下来，我不想活了).
        blockers=_p(r"(烦|气|累|吵|愁|忙|热|困)(死|得)|开玩笑|哈哈|怎么这么|咋这么")),
    # Harm to others threatened now: a killing said with intent, or a weapon in hand.
    Hazard("threat_to_kill", ("110",), _p(
        r"(要|去|就|准备|打算|扬言)[^，。]{0,6}(杀|砍|捅|烧|弄|毒)(死|掉)[^，。]{0,2}(他|她|你|全家|一家|老婆|孩子|前妻|前夫)|"
        r"(把|要把)[^，。]{0,8}(全家|一家|他|她|老婆|媳妇|前妻|前夫|孩子)[^，。]{0,4}(都)?(杀|砍|捅|烧|毒|弄)(了|死)|"
        r"刀(都)?(买|准备|磨)好了|(拿|提|举|拎)着(刀|菜刀|斧头|砍刀|汽油|汽油桶|棍子)[^。]{0,20}(要|说要|喊着要)"
        r"(杀|砍|烧|捅|弄|拼命)(死)?"),
        blockers=_p(r"杀价|杀猪|杀虫|杀毒|砍价|砍伐|砍树|弄死(蚊子|老鼠|虫)"), sentence_wide=True, threat=True),
    Hazard("family_violence", ("110",), _p(
        r"(在|正在|又在|还在)(打|揍|掐|砍|踢)(我|他|她)?(妈|爸|妈妈|爸爸|奶奶|爷爷|孩子|老婆|媳妇|弟弟|妹妹|姐姐|哥哥)|"
        r"(打|揍|掐)(妈妈|爸爸|奶奶|爷爷|我们)|躲在.{0,6}(柜子|床底|厕所|卫生间|房间)(里)?.{0,8}(害怕|不敢|出不来|哭)?")),
    Hazard("locked_in_heat", ("119", "110"), _p(
        r"(车|屋|房间|电梯|suv|a)里.{0,4}(锁|关|困)着.{0,6}(小孩|孩子|老人|人|宝宝|狗)")),
    Hazard("vehicle_overturned", ("122",), _p(
        r"(翻|掀)(过来|过去|倒)了|(轮子|轮胎)朝天|四脚朝天|(车|车子|轿车|货车|卡车|大巴|面包车).{0,8}(卡着|压着|冲进|冲上|撞进|撞上|撞在)|"
        r"(骑车|骑电动车|骑摩托).{0,6}(躺着|倒在|摔在)")),
    # --- explicit calls for help
    Hazard("call_for_help", ("110",), _p(r"救命|快报警|帮我报警|帮忙报警|我要报警|帮我叫警察|快来人"),
           # "救命啊，这个公积金提取怎么这么麻烦": a sigh about paperwork.
           text_blockers=_p(r"怎么这么(麻烦|难|慢|复杂)|跑了.{0,2}趟|手续|提取|办理|报销|公积金|审批|窗口")),
)

_SENTENCE_WIDE = tuple(h for h in HAZARDS if h.sentence_wide)
# The text-wide blockers of every hazard that shares a reason: one of them anywhere in the text blocks it.
_TEXT_BLOCKERS: dict[str, tuple[re.Pattern[str], ...]] = {}
for _h in HAZARDS:
    if _h.text_blockers is not None:
        _TEXT_BLOCKERS[_h.reason] = _TEXT_BLOCKERS.get(_h.reason, ()) + (_h.text_blockers,)
_CLAUSE_HAZARDS = tuple((h, start_chars(h.pattern)) for h in HAZARDS if not h.sentence_wide)
# Hazards by a character their pattern can start with (those that can start anywhere are always tried): a
# clause is tested only against the hazards its characters can begin, in HAZARDS order.
_CLAUSE_BY_START: dict[str, frozenset[int]] = {}
for _i, (_h, _s) in enumerate(_CLAUSE_HAZARDS):
    for _ch in _s or ():
        _CLAUSE_BY_START[_ch] = _CLAUSE_BY_START.get(_ch, frozenset()) | {_i}
_CLAUSE_ALWAYS = frozenset(i for i, (_, s) in enumerate(_CLAUSE_HAZARDS) if s is None)


def _clause_candidates(clause: str) -> list[Hazard]:
    found = set(_CLAUSE_ALWAYS)
    for ch in set(clause):
        starting = _CLAUSE_BY_START.get(ch)
        if starting is not None:
            found |= starting
    return [_CLAUSE_HAZARDS[i][0] for i in sorted(found)]

_INJURY = _p(r"受伤|伤了|伤得|流血|出血|全是血|昏迷|不省人事|晕|骨折|起不来|不动了|重伤|伤者|伤员|人.{0,2}(倒|躺)|"
             r"躺(在)?地上|压着人")

# Clause-level context that makes a hazard not happening now.
_PAST = _p(r"上(个)?(周|星期|礼拜|月)|去年|前年|前几天|前几日|前两天|那天|当时|事后|当年|昨天|昨晚|前天|差点|差一点|险些|前些天|前阵子|以前|之前|曾经|那年|那次|小时候|几年前|"
           r"(\d+|几|两|三|半)(个)?(月|年|星期|周)前|上次|(发生|出|有|着|起|失|遭)过|已经(处理|解决|扑灭|灭了|结束)|"
           r"(火|事)(已经)?(灭了|扑灭了)|已经(灭了|扑灭)|(处理|解决)(完|好|过)了?|结案|定责|认定书|责任认定|"
           r"(已经)?找到了|捡到|送到派出所|送回(家|来)|报(了|过)案|报案了|立案了|报过警|(接|遇|碰|见|听)(到)?过|"
           r"(现在|已经)(好|没事)(了|多了)")
_ASKING = _p(r"怎么(理赔|办理|报销|赔|处理的|预防|防|申请|投保|认定|鉴定)|如何|怎样|流程|理赔|保险|赔偿|培训|演练|演习|"
             r"招聘|宣传|讲座|知识|科普|预防|防范|标准|规定|政策|条例|罚款|处罚|考试|报名|电话是多少|号码是多少|"
             r"多少钱|收费|费用|地址在哪|在哪里|哪个部门|归谁管|谁管|新闻|电视剧|电影|小说|游戏|视频里|梦见|做梦|"
             r"赔钱|索赔|赔多少|能赔|(财|车|寿)险|(以后|之后).{0,8}(能|怎么|可以|要)|(跟|和)同学打架|同学之间|"
             r"前兆|症状|是什么|原因|检测|多久|定期|找哪里|去哪里|哪里可以|可以找|注意什么|怎么举报")
_HYPOTHETICAL = _p(r"如果|万一|要是|假如|假设|担心|(害)?怕.{0,3}(会|万一|哪天|以后|将来|出事|发生|着火|起火|出人命)|"
                   r"隐患|容易|可能会|会不会|以防|防止|避免|一旦|(?<!不)小心|注意|提醒|"
                   r"会引起|会导致|导致.{0,3}(风险|危险)|有.{0,2}(风险|危险)|真(要|的|是)?(着火|起火|出事|出了事|发生)|"
                   r"迟早|早晚(会|要)")
# Habitual statements are complaints about a pattern, not something happening now,
# unless the same clause also says it is happening now.
_HABITUAL = _p(r"经常|老是|总是|老有|总有|天天|每天|常常|时常|(?<!一)动不动|一到.{0,4}(就|更)|频繁|屡次|多次|好几次|"
               r"长期|长年|常年|多年|一直(以来|都)|至今|好几(天|个月|年)|(几|两|三|半)个月(了|来)|无人(管|问|处理|修)|"
               r"没人(管|修|处理)|一直没(人)?(修|管|处理)")
_NOW = _p(r"正在|现在(?!(已经|都)?(没事|好了|好多了|不))|刚刚|刚才|马上|快来|快点|快啲|赶紧|救命|今天|今晚|这会儿|还在|此刻|眼下|这时候|怎么办|咋办")
# A suggestion or a habit is not an emergency, wherever in the text it is said.
# Said of a sentence: a suggestion, hearsay or news, or a narrated date, is not a call about now.
_SENTENCE_BLOCKERS = _p(r"建议|提个意见|演练|演习|听说|据说|传言|谣言|是真的吗|网上(说|传)|群里(都)?在?传|新闻|报道|"
                        r"(19|20)\d\d年|\d+月\d+(日|号)|昨(天|晚|日)|前天|上午.{0,6}(发生|出)过")
# Hearsay, news and suggestions: not a call about now, even for a threat.
_HEARSAY = _p(r"建议|提个意见|演练|演习|听说|据说|传言|谣言|是真的吗|网上(说|传)|群里(都)?在?传|新闻|报道")
# A letter to officials (尊敬的领导, 市长您好): ordinary board petitions narrate old harm; in one a hazard
# counts only where its sentence says it is happening now.
_LETTER = _p(r"尊敬的|领导(您|你)好|(厅|局|市|区|县|镇)长(您|你)?好|书记(您|你)?好|主任(您|你)好|恳请|特此|此致|"
             r"请求.{0,6}(领导|政府|部门)|致.{0,10}(一封|公开)信")
_NEGATED_INSIDE = _p(r"(没|没有|无|未|不)(有)?(泄漏|泄露|漏气|漏|着火|起火|冒烟|事)")
_NEGATED = _p(r"(没有|没|不是|并没有|并不是|未|无|别|不会|不要)[^，。]{0,2}$")
_FIGURATIVE = _p(r"(吵|气|烦|热|冷|累|笑|馋|困|饿|急|忙|渴)(得)?(要)?死|(头|脑袋|脑子)(都)?(要)?炸(了|开)|救命(钱|稻草|药|恩|之恩|通道|的钱)|走火入魔|野火|气炸|炸了锅|炸毛|肺(都)?(要)?气炸|要(我|人)(的)?命|火大|上火|发火|火气|火爆|火锅|火车|火腿|火柴|"
                 r"火化|火葬|烟花|烟草|烟酒|抽烟|吸烟|香烟|烟头|烟囱|油烟|炊烟|烧烤|烧饼|烧烤摊|烧纸|"
                 r"(打|点)不着火|打着火|点着火|"
                 r"炸鸡|炸串|油炸|炸酱|火箭|网络诈骗|防诈骗|反诈|诈骗案件|小偷小摸")
# A line number used as a number, not as a call: 119号楼, 120路, 110国道, 120急救站招聘.
_LINE_NUMBER_NOT_CALL = _p(r"(110|119|120|122)(号|路|国道|省道|室|栋|幢|楼|单元|米|元|块|分|个|次|岁|平|公里|宣传日|消防日|急救站|急救中心|指挥中心|接警)")


def _clause_blocked(clause: str, start: int, end: int, hazard: Hazard) -> bool:
    before = clause[:start]
    if hazard.not_after is not None and hazard.not_after.search(before[-10:]):
        return True
    if _NEGATED.search(before[-4:] if len(before) > 4 else before):
        return True
    if _NEGATED_INSIDE.search(clause[start:end]):
        return True
    # "着过火", "走丢过": the experiential 过 puts it in the past (not 过去/过来: "晕过去");
    # "失火以后": a reference point, not an event; "防走失": prevention.
    after = clause[end:end + 3]
    past = after[:1] == "过" or after[1:2] == "过" and after[2:3] not in ("去", "来")
    if (past and after[1:2] not in ("去", "来")) or after.startswith(("以后", "之后", "后怎么", "后要")):
        return True
    # "燃气泄漏报警器", "火灾演练": the hazard names a thing, not an event.
    if after.startswith(("报警器", "探测器", "检测", "演练", "应急", "预案", "知识", "隐患", "的前兆", "的症状",
                         "现象", "问题", "情况", "事件", "事故", "频发", "后遗症", "病史", "患者", "死", "塞")):
        return True
    # "发生交通事故导致骨折", "极易引起火灾": an event named as a cause or a risk, not reported as now.
    if (before.endswith(("发生", "引起", "造成", "导致", "引发", "出现", "出了不少", "患", "患有", "得过"))
            or clause[start:end].startswith("发生")) and after[:1] != "了":
        return True
    if before.endswith(("防", "预防", "防止")):
        return True
    if hazard.blockers is not None and hazard.blockers.search(clause) and not (
            hazard.unless is not None and hazard.unless.search(clause)):
        return True
    if hazard.threat:
        near = clause[max(0, start - 8):end]
        return bool(_PAST.search(near) or _ASKING.search(near))
    if _HABITUAL.search(clause) and not _NOW.search(clause):
        return True
    return bool(_PAST.search(clause) or _ASKING.search(clause) or _HYPOTHETICAL.search(clause))


def _sentence_wide_match(hazard: Hazard, sentence: str, before: str) -> tuple[re.Match[str], str] | None:
    """The hazard's match in the sentence, its blockers read there; else, for a `with_previous` hazard, a
    match that begins in the sentence before and ends in this one, its blockers read over both. With the
    text the match is in."""
    m = hazard.pattern.search(sentence)
    if m is not None:
        return None if hazard.blockers is not None and hazard.blockers.search(sentence) else (m, sentence)
    if not (hazard.with_previous and before):
        return None
    read = f"{before}，{sentence}"
    boundary = len(before) + 1
    pos = 0
    while (m := hazard.pattern.search(read, pos)) is not None and m.start() < boundary:
        if m.end() > boundary:  # told across the two sentences
            return None if hazard.blockers is not None and hazard.blockers.search(read) else (m, read)
        pos = m.start() + 1  # all in the sentence before: read there already
    return None


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


# Cost stays linear in the text: only the beginning and the end of a very long text are screened (a
# danger told at the end of a long complaint is still read), text-wide checks run once.
SCREEN_HEAD_CHARS, SCREEN_TAIL_CHARS = 2000, 4000
# Letters and long narratives: a hazard must have a word of "now" this close to it (characters).
LONG_TEXT_CHARS = 300
NOW_WINDOW_BEFORE, NOW_WINDOW_AFTER = 40, 25
_SENTENCE_SPLIT = re.compile(r"[。！？!?\n]+")


def screen(text: str) -> EmergencyFinding | None:
    """Return the lines to call (most relevant first) when the text reports a present emergency.

    The situation is read per sentence: a sentence that narrates a date, hearsay, a suggestion or a
    standing condition does not report something happening now unless it also says so (现在, 刚才,
    快来...); in a letter addressed to officials every hazard needs that. Within a sentence, each
    clause is checked for the past, questions, suppositions, negation and figurative speech."""
    norm = spoken_digits(strip_fillers(normalize(text)))
    if len(norm) > SCREEN_HEAD_CHARS + SCREEN_TAIL_CHARS:
        norm = norm[:SCREEN_HEAD_CHARS] + "。" + norm[-SCREEN_TAIL_CHARS:]
    # A letter to officials or a long narrative mostly tells of old harm and standing conditions: there
    # a hazard counts only with a word of "now" close to it (unpunctuated text is one long sentence).
    strict = bool(_LETTER.search(norm)) or len(norm) > LONG_TEXT_CHARS
    # Searched only once a hazard's own pattern matched (most messages name none): reason -> blocked.
    text_blocked: dict[str, bool] = {}

    def blocked_in_text(hazard: Hazard) -> bool:
        found = text_blocked.get(hazard.reason)
        if found is None:
            found = text_blocked[hazard.reason] = any(
                b.search(norm) is not None for b in _TEXT_BLOCKERS.get(hazard.reason, ()))
        return found
    # (rank, position in the text, reason, evidence, lines): the hazard told first is the most
    # relevant; a bare call for help ranks after any concrete hazard.
    hits: list[tuple[int, int, str, str, tuple[str, ...]]] = []
    offset = 0
    previous = ""
    for sentence in _SENTENCE_SPLIT.split(norm):
        if not sentence.strip():
            continue
        offset = norm.find(sentence, offset)
        now = bool(_NOW.search(sentence))
        sentence_blocked = not strict and not now and bool(
            _SENTENCE_BLOCKERS.search(sentence) or _HABITUAL.search(sentence) or _PAST.search(sentence))
        # The sentence before, for hazards read over two (`with_previous`): not one that tells the past.
        before, previous = previous, ("" if sentence_blocked else sentence)
        threats_blocked = not strict and not now and bool(_HEARSAY.search(sentence))
        if sentence_blocked and threats_blocked:
            offset += len(sentence)
            continue
        clause_offset = offset
        for hazard in _SENTENCE_WIDE:
            if threats_blocked if hazard.threat else sentence_blocked:
                continue
            found = _sentence_wide_match(hazard, sentence, before)
            if found is None or blocked_in_text(hazard):
                continue
            m, read = found
            if hazard.threat and _clause_blocked(read, m.start(), m.end(), hazard):
                continue
            at = offset + max(0, m.start() - (len(read) - len(sentence)))  # where it starts in this sentence
            # A letter or a long narrative: the hazard counts with a word of "now" close to it.
            if strict and not _NOW.search(norm[max(0, at - NOW_WINDOW_BEFORE):at + len(m.group(0)) + NOW_WINDOW_AFTER]):
                continue
            hits.append((0, at, hazard.reason, m.group(0), hazard.lines))
        for clause in clauses(sentence):
            clause_offset = norm.find(clause, clause_offset)
            masked = _LINE_NUMBER_NOT_CALL.sub("＃", clause)
            for hazard in _clause_candidates(masked):
                if threats_blocked if hazard.threat else sentence_blocked:
                    continue
                for m in hazard.pattern.finditer(masked):
                    if blocked_in_text(hazard):
                        break
                    if _figurative_only(masked, m) or _clause_blocked(masked, m.start(), m.end(), hazard):
                        continue
                    at = clause_offset + m.start()
                    if strict and not _NOW.search(norm[max(0, at - NOW_WINDOW_BEFORE):at + len(m.group(0))
                                                       + NOW_WINDOW_AFTER]):
                        continue
                    lines = hazard.lines
                    if hazard.reason in ("traffic_accident", "vehicle_overturned") and _INJURY.search(norm):
                        lines = lines + ("120",)
                    rank = 1 if hazard.reason == "call_for_help" else 0
                    hits.append((rank, clause_offset + m.start(), hazard.reason, m.group(0), lines))
                    break
        offset += len(sentence)
    if not hits:
        return None
    hits.sort(key=lambda h: (h[0], h[1]))
    ordered: list[str] = []
    for *_, lines in hits:
        ordered.extend(line for line in lines if line not in ordered)
    _, _, reason, evidence, _ = hits[0]
    return EmergencyFinding(tuple(ordered), reason, evidence)
