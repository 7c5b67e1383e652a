"""The triage worker process: the same answers as the gateway's own triage, and screening that never
depends on it (killed, the gateway triages alone until a new one is up)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import signal

from gateway.app import PLANNER, SETTINGS, STORE, TRIAGE_WORKER, TRIAGER
from gateway.triage_worker import MAX_IN_FLIGHT, TriageWorker
from routing.planner import proposal_input
from routing.tickets import TicketDraft

TEXTS = [
    "楼道里冒黑烟了，好像着火了",
    "我爸突然晕倒了叫不醒，快来人",
    "小区门口的路灯坏了一个星期了晚上很黑",
    "泰山区东岳大街的井盖丢了，很危险",
    "我想咨询一下居住证怎么办理",
    "建议在学校门口增设红绿灯",
    "",
    "又来了",
]


async def citizen(client, session: str, text: str) -> str:
    resp = await client.post("/api/v1/web/messages", json={"session": session, "text": text})
    assert resp.status == 200, await resp.text()
    return " ".join(r["text"] for r in (await resp.json())["replies"])


async def test_the_worker_answers_as_the_gateway_would(make_client) -> None:
    client = await make_client(triage={"worker": True})
    worker, triager = client.app[TRIAGE_WORKER], client.app[TRIAGER]
    assert worker.alive and worker.pid not in (None, os.getpid())
    health = (await (await client.get("/healthz")).json())["components"]["triage_worker"]
    assert health == {"ok": True, "pid": worker.pid, "triaged_here": 0, "required": False}
    for text in TEXTS:
        assert await worker.analyze(text) == triager.analyze(text), text
    answers = await asyncio.gather(*(worker.analyze(t) for t in TEXTS * 3))  # many in flight at once
    assert answers == [triager.analyze(t) for t in TEXTS * 3]
    assert worker.fallbacks == 0
    # A citizen's danger, screened by the worker: the emergency lines at once.
    assert "119" in await citizen(client, "workerfire0001", "楼道里冒黑烟了，好像着火了")
    assert worker.fallbacks == 0


async def test_a_killed_worker_never_stops_screening_and_is_started_again(make_client) -> None:
    client = await make_client(triage={"worker": True})
    worker = client.app[TRIAGE_WORKER]
    first = worker.pid
    os.kill(first, signal.SIGKILL)
    # At once, before the gateway may even have noticed: still screened, in the gateway's process.
    assert "120" in await citizen(client, "workerkill0001", "我爸突然晕倒了叫不醒，快来人")
    assert "119" in await citizen(client, "workerkill0002", "楼道里冒黑烟了，好像着火了")
    assert worker.fallbacks >= 1
    resp = await client.get("/healthz")
    health = (await resp.json())["components"]["triage_worker"]
    assert resp.status == 200 and health["triaged_here"] >= 1  # not required: the gateway serves on
    for _ in range(600):
        if worker.alive and worker.pid != first:
            break
        await asyncio.sleep(0.1)
    assert worker.alive and worker.pid != first
    before = worker.fallbacks
    assert "119" in await citizen(client, "workerkill0003", "厨房着火了，火很大")
    assert worker.fallbacks == before  # the new worker answered


async def test_the_worker_stops_with_the_gateway(make_client) -> None:
    client = await make_client(triage={"worker": True})
    pid = client.app[TRIAGE_WORKER].pid
    os.kill(pid, 0)  # running
    await client.close()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return
    raise AssertionError(f"triage worker {pid} still running after the gateway stopped")


async def test_without_the_worker_the_gateway_triages_itself(make_client) -> None:
    client = await make_client(triage={"worker": False})
    assert TRIAGE_WORKER not in client.app
    assert "119" in await citizen(client, "noworker00001", "楼道里冒黑烟了，好像着火了")


# Requests a ticket is opened for, as citizens would write them (the dispatcher's input is the text and
# what triage found in it).
TICKET_TEXTS = [
    "泰山区东岳大街的井盖丢了，很危险",
    "小区门口的路灯坏了一个星期了晚上很黑",
    "新泰市青云街道自来水停了两天了也没有通知",
    "楼上邻居装修天天晚上十一点还在砸墙",
    "我在岱岳区一家超市买到过期牛奶，商家不给退",
    "公司拖欠我三个月工资不发",
]


async def ticket_of(client, session: str, text: str):
    reply = await citizen(client, session, text)
    number = re.search(r"工单号：(\S+?)。", reply)
    assert number, reply
    return await client.app[STORE].tickets.get(number.group(1))


async def test_the_worker_proposes_dispatch_as_the_gateway_would(make_client) -> None:
    client = await make_client(triage={"worker": True})
    worker, triager, planner = client.app[TRIAGE_WORKER], client.app[TRIAGER], client.app[PLANNER]
    drafts = []
    for text in TICKET_TEXTS:
        t = triager.analyze(text)
        drafts.append(TicketDraft(description=text, channel="web", source="fallback", request_type=t.request_type,
                                  category=t.category, district=t.district, utility=t.utility))
    for draft in drafts:
        args = proposal_input(draft)
        assert await worker.propose(*args) == planner.dispatcher.propose(*args), draft.description
        assert planner.plan(draft, await worker.propose(*args)) == planner.plan(draft)
    assert {planner.dispatcher.propose(*proposal_input(d)).lead for d in drafts} - {None}  # some have a unit
    # A citizen's first message opens a ticket planned from the worker's proposal; a second message in the
    # same conversation joins it and asks for none.
    before = worker.proposed
    ticket = await ticket_of(client, "workerplan0001", TICKET_TEXTS[0])
    assert worker.proposed == before + 1 and worker.fallbacks == 0
    expected = planner.plan(drafts[0])
    proposed = next(e.data for e in ticket.events if e.kind == "dispatch_proposed")
    assert proposed == expected.dispatch and ticket.unit_id == expected.unit_id
    assert ticket.due_date == expected.due_date
    assert ticket.number in await citizen(client, "workerplan0001", "都一个星期了还没人来修")
    assert worker.proposed == before + 1


async def test_without_the_worker_a_ticket_is_planned_in_the_gateway(make_client) -> None:
    client = await make_client(triage={"worker": True})
    worker, planner = client.app[TRIAGE_WORKER], client.app[PLANNER]
    os.kill(worker.pid, signal.SIGKILL)
    await asyncio.sleep(0.2)  # the gateway notices the closed socket
    before = worker.proposed
    ticket = await ticket_of(client, "workerplan0002", TICKET_TEXTS[0])
    assert worker.proposed == before
    t = client.app[TRIAGER].analyze(TICKET_TEXTS[0])
    expected = planner.plan(TicketDraft(description=TICKET_TEXTS[0], channel="web", source="fallback",
                                        request_type=t.request_type, category=t.category, district=t.district,
                                        utility=t.utility))
    proposed = next(e.data for e in ticket.events if e.kind == "dispatch_proposed")
    assert proposed == expected.dispatch and ticket.unit_id == expected.unit_id


def _own_worker(client, **timing: float) -> TriageWorker:
    s = client.app[SETTINGS]
    t = s.triage
    return TriageWorker(client.app[TRIAGER], (s.path(t.gazetteer), s.path(t.taxonomy), s.path(t.model)), **timing)


async def test_a_hung_worker_is_replaced_and_never_holds_the_event_loop(make_client) -> None:
    client = await make_client()
    worker = _own_worker(client, answer_seconds=0.5, restart_seconds=0.2)
    assert await worker.start()
    try:
        hung = worker.pid
        os.kill(hung, signal.SIGSTOP)  # stands for a worker stuck in a text or starved of CPU
        text = "小区门口的路灯坏了，晚上很黑" * 40  # near the longest text the worker takes
        expected = client.app[TRIAGER].analyze(text)
        for _ in range(3):  # more texts than the socket holds, were they all written to it
            answers = await asyncio.wait_for(
                asyncio.gather(*(worker.analyze(text) for _ in range(MAX_IN_FLIGHT + 8))), 30)
            assert answers == [expected] * (MAX_IN_FLIGHT + 8)
        for _ in range(300):
            if worker.alive and worker.pid != hung:
                break
            await asyncio.sleep(0.1)
        assert worker.alive and worker.pid != hung
        assert not os.path.exists(f"/proc/{hung}")  # killed and reaped
        before = worker.fallbacks
        assert await worker.analyze("楼道里冒黑烟了") == client.app[TRIAGER].analyze("楼道里冒黑烟了")
        assert worker.fallbacks == before
    finally:
        await worker.stop()


async def test_stopping_while_a_new_worker_starts_leaves_no_process(make_client) -> None:
    client = await make_client()
    worker = _own_worker(client, restart_seconds=0.05)
    assert await worker.start()
    os.kill(worker.pid, signal.SIGKILL)
    for _ in range(100):  # the replacement is being started (its models take ~1 s to load)
        await asyncio.sleep(0.05)
        if [p for p in multiprocessing.active_children() if p.name == "triage-worker"]:
            break
    await asyncio.wait_for(worker.stop(), 15)
    assert not [p for p in multiprocessing.active_children() if p.name == "triage-worker"]


def test_answers_are_cut_from_the_stream_however_the_reads_fall() -> None:
    """The worker writes `multiprocessing.connection` frames; the gateway's transport may read a frame in
    pieces or several at once."""
    from gateway.triage_worker import _AnswerStream

    class Transport:
        def is_closing(self) -> bool:
            return False

    frames: list[bytes] = []
    closed: list[object] = []
    stream = _AnswerStream(frames.append, closed.append)
    stream.connection_made(Transport())  # type: ignore[arg-type]
    parent, child = multiprocessing.Pipe()
    sent = [b"", b"a", "楼道里冒黑烟了".encode() * 50, bytes(range(256)) * 70]  # the last over 16 KiB
    for frame in sent:
        child.send_bytes(frame)
    child.close()
    wire = b"".join(iter(lambda: os.read(parent.fileno(), 7), b""))
    for i in range(0, len(wire), 5):  # in pieces
        stream.data_received(wire[i:i + 5])
    stream.data_received(wire)  # all at once
    assert frames == sent + sent and not closed
    stream.data_received((-1).to_bytes(4, "big", signed=True))  # a frame over 2 GiB: no answer is
    assert closed == [stream]
