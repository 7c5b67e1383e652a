"""Triage: the quality bars on the labelled set, and the contract and traps DESIGN.md names."""

from __future__ import annotations


import pytest

from benchmarks.triage_eval import evaluate, load
from gateway.settings import PROJECT_ROOT, load_settings
from nlu.emergency import screen
from nlu.triage import Triager

DATA = PROJECT_ROOT / "tests" / "data" / "triage.jsonl"


@pytest.fixture(scope="module")
def triager() -> Triager:
    return Triager.from_settings(load_settings(PROJECT_ROOT / "config" / "hotline.toml", env={}))


@pytest.fixture(scope="module")
def report(triager: Triager) -> dict:
    rows = load(DATA)
    assert len(rows) >= 400
    return evaluate(rows, lambda text: triager.analyze(text).as_json())


def test_emergency_recall_is_total_and_false_alarms_rare(report: dict) -> None:
    e = report["emergency"]
    print(f"emergency recall {e['recall']:.1%}, false-positive rate {e['false_positive_rate']:.1%}")
    misses = [text for field, _, _, text in report["errors"] if field == "emergency"]
    assert e["recall"] == 1.0 and e["false_positive_rate"] <= 0.02, misses


@pytest.mark.parametrize("field", ["disposition", "request_type", "category", "district", "utility"])
def test_every_field_is_at_least_90_percent_right(report: dict, field: str) -> None:
    accuracy = report["fields"][field]["accuracy"]
    print(f"{field}: {accuracy:.1%}")
    assert accuracy >= 0.9


def test_the_labelled_set_covers_what_citizens_send() -> None:
    rows = load(DATA)
    kinds = {r["disposition"] for r in rows}
    assert kinds == {"emergency", "accept", "legal_channel", "confidential_or_unlawful", "out_of_jurisdiction",
                     "not_accepted"}
    lines = {line for r in rows if r["emergency"] for line in r["emergency"]}
    assert lines == {"110", "119", "120", "122"}
    assert sum(" " in r["text"] for r in rows) >= 20  # phone-transcript style
    assert sum(len(r["text"]) > 80 for r in rows) >= 5  # long messages with the point at the end


@pytest.mark.parametrize("text", [
    "119号楼门口的垃圾没人收", "120急救站招聘护士吗", "上周我们小区着过火，墙还是黑的", "火灾保险怎么理赔",
    "楼下油烟呛得喘不过气", "110国道坑坑洼洼的", "小区消防通道被堵，真着火了怎么办", "燃气泄漏报警器多少钱",
    "隔壁厂子天天冒黑烟", "我家孩子以前走丢过一次", "心梗的前兆是什么",
])
def test_alarming_words_alone_do_not_fire(triager: Triager, text: str) -> None:
    assert triager.analyze(text).emergency is None


@pytest.mark.parametrize("text,lines", [
    ("喂 喂 那个 俺家 着火了 快点", ["119"]),
    ("快帮我打幺幺九 厨房烧起来了", ["119"]),
    ("我本来想问社保的事，但是现在我老伴突然晕倒了，怎么叫都不醒", ["120"]),
    ("路口出车祸了有人被撞倒了流了好多血", ["122", "120"]),
    ("有人拿刀在楼下砍人", ["110"]),
    ("俺孙子五岁 在公园一转眼找不着了", ["110"]),
    ("对方冒充公安让我马上转账到安全账户", ["110"]),
    ("煤气泄漏了怎么办", ["119"]),
])
def test_present_emergencies_fire_with_the_right_lines(triager: Triager, text: str, lines: list[str]) -> None:
    found = triager.analyze(text).emergency
    assert found is not None and list(found.lines[:len(lines)]) == lines


def test_contract_fields_and_dispositions(triager: Triager) -> None:
    result = triager.analyze("莱芜区的一个小区物业乱收费").as_json()
    assert {"emergency", "disposition", "request_type", "category", "district"} <= set(result)
    # Statistics need a request type and a category on every non-emergency text, whatever its disposition.
    assert result["disposition"] == "out_of_jurisdiction" and result["request_type"] == "complaint"
    assert result["category"] in triager.categories
    accepted = triager.analyze("肥城市王瓜店街道停水两天了").as_json()
    assert accepted["district"] == "肥城市" and accepted["utility"] is True and accepted["category"] == "城乡建设"
    assert triager.analyze("长途汽车站到济南的班车几点发车").disposition == "accept"
    assert triager.analyze("我已经向法院起诉了，判决书下来了对方不执行").disposition == "legal_channel"
    assert triager.analyze("帮我查一下我前妻现在住哪").disposition == "confidential_or_unlawful"
    assert triager.analyze("讲个笑话吧").disposition == "not_accepted"


def test_every_disposition_has_a_chinese_reply(triager: Triager) -> None:
    for text in ("济南历下区路灯坏了", "我要起诉公司", "帮我查他的身份证号", "讲个笑话", "着火了"):
        reply = triager.analyze(text).reply_zh
        assert len(reply) > 20 and any("\u4e00" <= ch <= "\u9fff" for ch in reply)
    assert "119" in triager.analyze("着火了").reply_zh


def test_taxonomy_terms_give_a_category_when_no_cue_does(triager: Triager) -> None:
    assert triager.analyze("农机购置补贴今年还有吗").category == "农村农业"


@pytest.mark.parametrize("name", ["emergency_holdout_a.jsonl", "emergency_holdout_b.jsonl", "emergency_holdout_c.jsonl",
                                  "emergency_holdout_d.jsonl", "emergency_holdout_e.jsonl",
                                  "emergency_holdout_f.jsonl", "emergency_holdout_g.jsonl"])
def test_independently_written_emergencies_are_all_found(triager: Triager, name: str) -> None:
    """Sets written by helper sessions without sight of the rules (figures before tuning in
    docs/benchmarks.md); merged after they were measured, so every later change keeps them."""
    rows = load(PROJECT_ROOT / "tests" / "data" / name)
    missed = [r["text"] for r in rows if r["emergency"] and triager.analyze(r["text"]).emergency is None]
    alarms = [r["text"] for r in rows if not r["emergency"] and triager.analyze(r["text"]).emergency is not None]
    assert missed == [] and len(alarms) <= 0.15 * sum(not r["emergency"] for r in rows), (missed, alarms)


@pytest.mark.parametrize("text", [
    "燃气费一个月三百多，看得我头晕", "以前用煤炉子取暖经常头晕，现在改天然气了想问补贴",
    "下水道一股臭鸡蛋味，物业不管", "抢修队正在撬开井盖检修", "邻居正在偷偷装修", "有人正在偷排污水",
    "电卡插进去没反应，显示余额不足", "我按了好几次没反应", "燃气公司说正在抢修，什么时候来气",
    "井盖没了，怕小孩掉进井里", "桥栏杆坏了 骑摩托的怕掉沟里去"])
def test_utility_look_alikes_are_not_emergencies(triager: Triager, text: str) -> None:
    """Holdout F's rules (carbon monoxide, the gas odorant, a theft in progress, a person who does not
    respond) read what complaints about bills, drains, repairs and card readers say the same way."""
    assert triager.analyze(text).emergency is None


@pytest.mark.parametrize("text", ["燃气费又涨了。我气得头晕", "以前家里烧炉子。现在老头晕是不是颈椎病",
                                  "热水器昨天修好了。今天洗澡不头晕了"])
def test_two_sentences_read_together_keep_their_blockers(text: str) -> None:
    """Carbon monoxide and the gas odorant are read over a sentence and the one before it (屋里生着炉子。
    我跟我妈都头晕想吐！); a bill, a past winter or symptoms gone in either still say it is no emergency.
    (The learned model alone calls the first one 120: not these rules' doing.)"""
    assert screen(text) is None


@pytest.mark.parametrize("text", [
    "以前用炉子取暖头晕过。现在屋里生着炉子，我妈头晕想吐站不住了！",
    "我想问一下燃气费怎么交。家里热水器开着，我和我妈都头晕想吐站不住！",
    "楼下在宣传燃气安全。我家厨房燃气灶那里有臭鸡蛋味，越来越冲",
    "上个月我家也烧过蜂窝煤取暖，那次我头晕了一整天，后来去医院看了看也没什么大事就回家了。现在屋里生着炉子，我妈头晕想吐站不住了！",
    "热水器开着，我妈洗澡出来头晕想吐站不住，是不是煤气中毒了？快来", "厨房有臭鸡蛋味，是不是漏气了",
    "别人家的小孩掉进河里了！", "太可怕了孩子掉进井里了", "孩子去捡球掉进水塘里了", "他为了捡手机掉进河里了",
    "不小心掉进窨井里", "我爸没反应了怎么办"])
def test_what_the_review_found_missed_is_found(text: str) -> None:
    """A review of the rules above: a blocker or an old match in the sentence before hid a danger told now;
    别人, 可怕, 不小心 and a ball fetched read as a fear or a thing dropped."""
    assert screen(text) is not None


@pytest.mark.parametrize("text", ["如果老人没反应怎么办", "万一孩子没反应了该怎么急救", "推了半天也不动，车打不着火",
                                  "小区围墙太矮了，经常有人翻墙进来抄近道", "物业在翻修围墙"])
def test_a_supposed_unresponsive_person_or_a_wall_is_not_an_emergency(text: str) -> None:
    assert screen(text) is None


def test_the_red_team_texts_on_the_utility_rules_are_read_right() -> None:
    """106 texts a red-team helper wrote with sight of holdout F's and G's rules (not a holdout: tuned on),
    kept once the rules read them right. Regressions it found first: a fall feared silenced a fire told
    in the same clause; 没反应 of 老伴/宝宝/室友 went unseen; 被电了 was lost."""
    rows = load(PROJECT_ROOT / "tests" / "data" / "emergency_redteam_a.jsonl")
    wrong = [r["text"] for r in rows if (screen(r["text"]) is not None) != r["emergency"]]
    assert len(rows) == 106 and wrong == []


@pytest.mark.parametrize("text", ["井盖没了，小孩掉井里了", "孩子掉井里了，我好怕", "他修线被电着了，挂在杆子上不动了"])
def test_a_fall_into_a_well_and_a_shock_told_plainly_are_found(triager: Triager, text: str) -> None:
    assert triager.analyze(text).emergency is not None


@pytest.mark.parametrize("text", ["我准备自杀", "再不给我解决，我就自杀", "有人自杀了，快来",
                                  "低保一直办理不下来，我活不下去了，不想活了"])
def test_suicide_said_plainly_or_beside_paperwork_is_found(triager: Triager, text: str) -> None:
    """Review of issue 18's rules: plain statements were lost when 自杀 moved, and a paperwork word anywhere
    in the text silenced despair."""
    assert triager.analyze(text).emergency is not None


def test_a_danger_told_inside_a_complaint_is_found_and_the_complaint_is_kept(triager: Triager) -> None:
    text = ("我想反映一下我们小区物业的问题，垃圾好几天没人清，电梯也老是坏，上个月打过电话也没人管。"
            "刚才楼梯口有个老太太躺着一动不动，头底下一滩血")
    result = triager.analyze(text)
    assert result.emergency is not None and "120" in result.emergency.lines
    assert result.carries_request and result.request_type == "complaint"
    assert not triager.analyze("我家厨房着火了，火很大，快来人").carries_request


@pytest.mark.parametrize("text", [
    "2016年12月9号凌晨，医院保安打人，至今没有处理结果，请领导重视",
    "尊敬的领导您好，我们村旁的化工厂常年排放黑烟，浓烟滚滚，村民苦不堪言",
    "救命啊，这个公积金提取怎么这么麻烦，跑了三趟了",
    "今天早上倒车跟一辆车剐蹭了，两边都是小擦伤，已经私了了，想问一下还要报备吗",
    "听说昨天晚上城南化工厂爆炸了，是真的吗",
    "又来了", "有人吗", "我家门口", "快点", "太慢了吧",  # a few words in a chat: no situation told
])
def test_narrated_standing_or_figurative_dangers_do_not_fire(triager: Triager, text: str) -> None:
    assert triager.analyze(text).emergency is None
