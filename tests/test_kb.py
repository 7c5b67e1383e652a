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
from gateway.app import KB
from gateway.settings import PROJECT_ROOT
from gateway.store import Store
from nlu.gazetteer import Gazetteer
from nlu.kb import KbEntry, load_entries
from nlu.kb_search import DEFAULT_THRESHOLD, Analyzer, KbIndex
from nlu.segment import Segmenter, user_words
from tests.conftest import auth

SEED = PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"


@pytest.fixture(scope="module")
def index() -> KbIndex:
    gazetteer = Gazetteer.load(PROJECT_ROOT / "config" / "gazetteer.yaml")
    analyzer = Analyzer(Segmenter(user_words(gazetteer, PROJECT_ROOT / "config" / "taxonomy.csv")))
    return KbIndex(load_entries(SEED), analyzer)


def test_search_finds_unseen_paraphrases(index: KbIndex) -> None:
    rows = load(PROJECT_ROOT / "tests" / "data" / "kb_eval.jsonl")
    entries = {e.key for e in load_entries(SEED)}
    per_entry = {k: sum(r["expected"] == k for r in rows) for k in entries}
    assert min(per_entry.values()) >= 2 and sum(not r["expected"] for r in rows) >= 20
    report = evaluate(rows, lambda q: index.search(q, 5), DEFAULT_THRESHOLD)
    print(f"top-1 {report['top1']:.1%} top-3 {report['top3']:.1%} "
          f"no-match precision {report['no_match_precision']:.1%} answers right {report['answer_precision']:.1%}")
    assert report["top1"] >= 0.9 and report["top3"] >= 0.97
    assert report["answer_precision"] >= 0.85


def test_typos_and_colloquial_words(index: KbIndex) -> None:
    assert index.search("社报卡丢了咋整", 1)[0].key == "kb-0002"
    assert index.search("驾照找不着了", 1)[0].key == "kb-0030"


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
