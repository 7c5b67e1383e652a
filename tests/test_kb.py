"""Knowledge base: versioned store, search quality on unseen paraphrases, the HTTP API, and answering
from it when the bot is down."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from benchmarks.kb_eval import evaluate, load
from gateway.app import KB, STORE
from gateway.settings import PROJECT_ROOT
from gateway.store import Store
from nlu.gazetteer import Gazetteer
from nlu.kb import KbEntry, load_entries
from benchmarks.kb_calibrate import outcomes
from gateway.settings import load_settings
from nlu.kb_choice import NONE_OF_THEM, read_choice
from nlu.kb_decision import decide
from nlu.kb_search import Analyzer, KbIndex
from nlu.kb_synonyms import SynonymFormatError, Synonyms
from nlu.segment import Segmenter, user_words
from tests.conftest import auth

SEED = PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"


@pytest.fixture(scope="module")
def index() -> KbIndex:
    gazetteer = Gazetteer.load(PROJECT_ROOT / "config" / "gazetteer.yaml")
    analyzer = Analyzer(Segmenter(user_words(gazetteer, PROJECT_ROOT / "config" / "taxonomy.csv")),
                        Synonyms.load(PROJECT_ROOT / "config" / "kb" / "synonyms.yaml"))
    return KbIndex(load_entries(SEED), analyzer)


def test_search_finds_unseen_paraphrases(index: KbIndex) -> None:
    rows = load(PROJECT_ROOT / "tests" / "data" / "kb_eval.jsonl")
    entries = {e.key for e in load_entries(SEED)}
    per_entry = {k: sum(r["expected"] == k for r in rows) for k in entries}
    assert min(per_entry.values()) >= 2 and sum(not r["expected"] for r in rows) >= 20
    report = evaluate(rows, lambda q: index.search(q, 5), 2.0)
    assert report["top1"] >= 0.93 and report["top3"] >= 0.98


@pytest.mark.parametrize("name", ["kb_citizens_report.jsonl", "kb_citizens_report_c.jsonl"])
def test_citizens_questions_are_answered_or_asked_back(index: KbIndex, name: str) -> None:
    """Issue 14's targets on sets written independently of the KB and not used for calibration (the
    thresholds come from kb_citizens_calibration.jsonl). Bars sit just under the measured figures
    (docs/benchmarks.md), so a regression fails; set B's 14% unanswerable answered is a known shortfall."""
    rows = load(PROJECT_ROOT / "tests" / "data" / name)
    assert sum(bool(r["expected"]) for r in rows) >= 130 and sum(not r["expected"] for r in rows) >= 35
    o = outcomes(rows, [index.search(r["q"], 5) for r in rows], load_settings(None).kb.thresholds)
    assert o["top1"] >= 0.91
    assert o["answered_right"] >= 0.87
    assert o["wrong_direct"] <= 0.03
    assert o["unanswerable_answered"] <= 0.15


def test_subject_outweighs_a_shared_verb_phrase(index: KbIndex) -> None:
    # The passport entry has an alternate 护照过期了怎么换新的; the question is about the identity card.
    assert index.search("我身份证快过期了，想换个新的，怎么弄", 1)[0].key == "kb-0020"
    assert index.search("身份证过期了怎么换新的", 1)[0].key == "kb-0020"


def test_typos_and_colloquial_words(index: KbIndex) -> None:
    assert index.search("社报卡丢了咋整", 1)[0].key == "kb-0002"
    assert index.search("驾照找不着了", 1)[0].key == "kb-0030"
    # Homophones, as typed in a hurry or heard by speech recognition.
    assert index.search("设保卡丢了", 1)[0].key == "kb-0002"
    assert index.search("身份正丢了咋补", 1)[0].key == "kb-0021"
    assert index.search("公基金里还有多少钱咋查", 1)[0].key == "kb-0018"


def test_a_real_word_is_not_corrected_to_a_kb_word_that_sounds_alike(index: KbIndex) -> None:
    corrector = index._corrector
    assert corrector.correct("社宝卡") == "社保卡"
    assert corrector.correct("事故") == "事故"  # a dictionary word stays, whatever it sounds like


def test_choice_replies_are_read_on_every_channel() -> None:
    assert read_choice("2", 3) == 2 and read_choice("第二个吧", 3) == 2 and read_choice("①", 3) == 1
    assert read_choice("一", 2) == 1 and read_choice("我选3", 3) == 3
    assert read_choice("都不是", 3) == NONE_OF_THEM and read_choice("不是", 2) == NONE_OF_THEM
    assert read_choice("3", 2) is None  # the phone offered two
    assert read_choice("12345", 3) is None and read_choice("社保卡丢了怎么补办", 3) is None


def test_decision_answers_asks_or_declines(index: KbIndex) -> None:
    t = load_settings(None).kb.thresholds
    assert decide(index.search("社保卡丢了怎么补办", 5), t).outcome == "answer"
    asked = decide(index.search("社保卡的事咋办", 5), t)
    assert asked.outcome == "choose" and 2 <= len(asked.hits) <= 3
    assert len(decide(index.search("社保卡的事咋办", 5), t, max_choices=2).hits) == 2
    assert decide(index.search("转人工", 5), t).outcome == "none"
    assert decide(index.search("今天天气怎么样", 5), t).outcome == "none"


def test_synonym_file_errors_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("怎么办: [咋办]\n怎么: [咋办]\n", encoding="utf-8")
    with pytest.raises(SynonymFormatError):
        Synonyms.load(bad)
    bad.write_text("- 咋办\n", encoding="utf-8")
    with pytest.raises(SynonymFormatError):
        Synonyms.load(bad)


def test_search_stays_fast_with_thousands_of_entries(index: KbIndex) -> None:
    """Not a timing test (benchmarks/kb_eval.py measures): the two-stage search gives the same
    ranking at 5,000 entries, and the right entry still comes first among its local copies."""
    import dataclasses
    seed = load_entries(SEED)
    many = [dataclasses.replace(e, key=f"{e.key}-{i}") for i in range(20) for e in seed]
    big = KbIndex(many, index._analyzer)
    assert big.search("社保卡丢了怎么补办", 3)[0].key.startswith("kb-0002-")


async def test_edits_append_versions_and_never_lose_text(store: Store) -> None:
    entry = KbEntry(key="t-1", question="路灯坏了找谁", answer="请联系城管部门。", alternates=("路灯不亮",))
    first = await store.kb.save(entry, author="unit:城管")
    assert first.created and first.entry.version == 1
    same = await store.kb.save(entry, author="unit:城管")
    assert not same.changed and same.entry.version == 1
    edited = await store.kb.save(KbEntry(key="t-1", question="路灯坏了找谁", answer="请拨打12345反映。"), "unit:城管")
    assert edited.entry.version == 2 and edited.entry.answer == "请拨打12345反映。"
    history = await store.kb.history("t-1")
    assert [h["answer"] for h in history] == ["请联系城管部门。", "请拨打12345反映。"]
    archived = await store.kb.save(KbEntry(key="t-1", question="路灯坏了找谁", answer="请拨打12345反映。",
                                           status="archived"), "unit:城管")
    assert archived.entry.version == 2 and archived.entry.status == "archived"


def test_only_published_valid_entries_are_servable() -> None:
    today = dt.date(2026, 11, 26)
    assert KbEntry("a", "q", "a").servable(today)
    assert not KbEntry("a", "q", "a", status="draft").servable(today)
    assert not KbEntry("a", "q", "a", valid_to=dt.date(2026, 1, 1)).servable(today)
    assert not KbEntry("a", "q", "a", valid_from=dt.date(2027, 1, 1)).servable(today)


async def test_api_search_create_edit(client: TestClient) -> None:
    empty = await (await client.get("/api/v1/kb/search", params={"q": "社保卡丢了怎么办"})).json()
    assert empty["results"] == [] and empty["matched"] is False
    body = {"id": "kb-9001", "question": "社保卡丢了怎么补办", "alternates": ["社保卡丢失"],
            "answer": "请先挂失，再到服务网点补办。", "category": "劳动和社会保障", "tags": ["社保卡"]}
    assert (await client.post("/api/v1/kb/entries", json=body)).status == 401
    created = await client.post("/api/v1/kb/entries", json=body, headers=auth())
    assert created.status == 201
    again = await client.post("/api/v1/kb/entries", json=body, headers=auth())
    assert again.status == 400
    found = await (await client.get("/api/v1/kb/search", params={"q": "社保卡找不着了咋补", "k": "3"})).json()
    assert found["results"][0]["id"] == "kb-9001" and found["matched"] is True
    edit = await client.put("/api/v1/kb/entries/kb-9001", json={**body, "answer": "请拨打12333挂失后补办。"},
                            headers=auth())
    assert (await edit.json())["version"] == 2
    got = await (await client.get("/api/v1/kb/entries/kb-9001", headers=auth())).json()
    assert len(got["versions"]) == 2 and got["answer"] == "请拨打12333挂失后补办。"
    draft = await client.put("/api/v1/kb/entries/kb-9001", json={**body, "status": "draft"}, headers=auth())
    assert draft.status == 200
    hidden = await (await client.get("/api/v1/kb/search", params={"q": "社保卡丢了"})).json()
    assert hidden["results"] == []
    for params in ({}, {"q": "x", "k": "0"}, {"q": "x", "k": "many"}):
        assert (await client.get("/api/v1/kb/search", params=params)).status == 400
    bad = await client.post("/api/v1/kb/entries", json={"id": "x"}, headers=auth())
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_kb_entry"


async def test_without_the_bot_a_question_the_kb_answers_is_answered_not_ticketed(client: TestClient) -> None:
    await client.app[KB].save(load_entries(SEED), author="test")
    resp = await client.post("/api/v1/web/messages", json={"session": "kbsession01", "text": "请问驾照丢了怎么补办"})
    [reply] = (await resp.json())["replies"]
    assert "驾驶证" in reply["text"] and "ticket_number" not in reply
    resp = await client.post("/api/v1/web/messages",
                             json={"session": "kbsession02", "text": "我们小区门口的路灯坏了一个星期了"})
    assert (await resp.json())["replies"][0]["ticket_number"]


async def test_without_the_bot_the_citizen_picks_from_the_choices(client: TestClient) -> None:
    await client.app[KB].save(load_entries(SEED), author="test")

    async def say(session: str, text: str) -> list[dict]:
        resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
        assert resp.status == 200
        return (await resp.json())["replies"]

    [offer] = await say("kbchoice0001", "请问社保卡的事应该咋办理")
    assert offer["text"].startswith("您是想问") and offer["buttons"][-1]["payload"] == "都不是"
    lost = next(b for b in offer["buttons"] if "丢" in b["title"])
    [answer] = await say("kbchoice0001", lost["payload"])
    assert "挂失" in answer["text"] and "ticket_number" not in answer
    # The same digit later, with no question pending, is an ordinary message again.
    assert "挂失" not in (await say("kbchoice0001", lost["payload"]))[0]["text"]

    [offer] = await say("kbchoice0002", "请问社保卡的事应该咋办理")
    [kept] = await say("kbchoice0002", "都不是")
    ticket = await client.app[STORE].tickets.get(kept["ticket_number"])
    assert ticket is not None and ticket.description == "请问社保卡的事应该咋办理"
    picks = await (await client.get("/api/v1/kb/choices", headers=auth())).json()
    assert [(p["q"], p["expected"]) for p in picks["items"]] == [("请问社保卡的事应该咋办理", "kb-0002"),
                                                                ("请问社保卡的事应该咋办理", None)]
    assert (await client.get("/api/v1/kb/choices")).status == 401


async def test_the_phone_reads_two_choices_and_the_console_leaves_out_unrelated_entries(client: TestClient) -> None:
    service = client.app[KB]
    await service.save(load_entries(SEED), author="test")
    spoken = service.reply("社保卡的事咋办", "ivr")
    assert spoken.outcome == "choose" and len(spoken.entries) == 2 and "请说1或2" in spoken.text
    assert not spoken.buttons
    typed = service.reply("社保卡的事咋办", "wechat")
    assert "请回复序号 1、2、3" in typed.text and "\n1. " in typed.text
    assert service.suggestions("转人工") == [] and service.suggestions("路灯坏了好几天了") == []
    assert service.suggestions("驾照丢了")[0][0].key == "kb-0030"


def test_kb_import_cli(tmp_path: Path) -> None:
    env = {"HOTLINE_DATABASE_URL": f"sqlite:///{tmp_path / 'kb.db'}", "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "gateway.cli", "kb", "import", str(SEED)]
    first = subprocess.run(run, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    second = subprocess.run(run, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120)
    assert "60 created" in first.stdout and "60 unchanged" in second.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("- id: x\n", encoding="utf-8")
    broken = subprocess.run([*run[:-1], str(bad)], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    assert broken.returncode == 2 and "question is missing" in broken.stderr
