"""Several gateways (real `hotline serve` processes) on one PostgreSQL and Redis, behind Debian's HAProxy
with deploy/haproxy.cfg; and the refusals that keep a single-process set-up single.

The cluster tests run when HOTLINE_TEST_PG_URL is set (as the store's PostgreSQL tests do) and use the
Redis at HOTLINE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0) under a namespace of their own.
"""

from __future__ import annotations

import asyncio
import logging
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import asyncpg
import pytest

from deploy.haproxy_render import TEMPLATE, render
from channels.base import Channel
from gateway.cluster import RedisWindow
from gateway.settings import PROJECT_ROOT
from tests.conftest import API_TOKEN, PG_URL

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery"
SESSION_LIMIT = 30  # web messages per minute per session in the cluster
needs_pg = pytest.mark.skipif(not PG_URL, reason="needs PostgreSQL (HOTLINE_TEST_PG_URL) and Redis")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _gateway_env(tmp: Path, db_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update({
        "PYTHONPATH": str(PROJECT_ROOT), "HOTLINE_API_TOKEN": API_TOKEN, "HOTLINE_DATABASE_URL": db_url,
        "HOTLINE_SERVER_PORT": str(port), "HOTLINE_MEDIA_ROOT": str(tmp / "media"),
        "HOTLINE_EMAIL_ENABLED": "false", "HOTLINE_BOT_ENABLED": "false",
        "HOTLINE_SERVER_TRUSTED_PROXIES": "127.0.0.1",
        # One loopback address plays every citizen; the limits' sharing has its own test.
        "HOTLINE_ABUSE_MESSAGES_PER_MINUTE_PER_SESSION": "10000",
        "HOTLINE_ABUSE_NEW_SESSIONS_PER_HOUR_PER_ADDRESS": "10000",
        "HOTLINE_ABUSE_MESSAGES_PER_TEN_MINUTES_PER_CONTACT": "10000",
        "HOTLINE_OUTBOX_POLL_SECONDS": "0.2", "HOTLINE_LOGGING_LEVEL": "WARNING",
    })
    env.update(extra)
    return env


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve"], env=env, cwd=PROJECT_ROOT,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} not healthy within {seconds}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- one process per SQLite file; a configured Redis must be there


def test_a_second_gateway_on_the_same_sqlite_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hotline.db'}"
    first_port, second_port = _free_port(), _free_port()
    first = _serve(_gateway_env(tmp_path, db, first_port), tmp_path / "first.log")
    try:
        _wait_healthy(f"http://127.0.0.1:{first_port}", first)
        second = subprocess.run([sys.executable, "-m", "gateway.cli", "serve"], cwd=PROJECT_ROOT, timeout=60,
                                env=_gateway_env(tmp_path, db, second_port), capture_output=True, text=True)
        assert second.returncode == 2
        assert "another `hotline serve`" in second.stderr and f"pid {first.pid}" in second.stderr
        assert "PostgreSQL" in second.stderr and "redis_url" in second.stderr
        with urllib.request.urlopen(f"http://127.0.0.1:{first_port}/healthz", timeout=2) as resp:
            assert resp.status == 200  # the first one serves on
    finally:
        _stop(first)
    # The lock ends with its process: the next gateway starts.
    third = _serve(_gateway_env(tmp_path, db, second_port), tmp_path / "third.log")
    try:
        _wait_healthy(f"http://127.0.0.1:{second_port}", third)
    finally:
        _stop(third)


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def test_a_gateway_killed_with_9_leaves_no_worker_process_behind(tmp_path: Path) -> None:
    """The triage worker (and the readers) hold their models: none may outlive a gateway killed with -9."""
    port = _free_port()
    gateway = _serve(_gateway_env(tmp_path, f"sqlite:///{tmp_path / 'hotline.db'}", port,
                                  HOTLINE_TRIAGE_WORKER="true", HOTLINE_MEDIA_READING_WARM_UP="true"),
                     tmp_path / "gateway.log")
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", gateway)
        deadline = time.monotonic() + 60
        while len(workers := _children(gateway.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.3)  # the reading worker starts beside the server
        names = {Path(f"/proc/{w}/cmdline").read_bytes() for w in workers}
        assert len(workers) >= 2 and all(b"multiprocessing" in n for n in names), names
        gateway.kill()
        gateway.wait()
        deadline = time.monotonic() + 10
        while (alive := {w for w in workers if Path(f"/proc/{w}").exists()
                         and "Z" not in Path(f"/proc/{w}/stat").read_text().rsplit(")", 1)[1].split()[0]}) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive, f"worker processes {alive} outlived their gateway"
    finally:
        _stop(gateway)


def test_a_gateway_whose_redis_is_unreachable_does_not_start(tmp_path: Path) -> None:
    env = _gateway_env(tmp_path, "postgresql://nobody@127.0.0.1:9/never", _free_port(),
                       HOTLINE_CLUSTER_REDIS_URL="redis://:s3cret-pw@127.0.0.1:9/0")
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "serve"], cwd=PROJECT_ROOT, env=env, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "[cluster] redis_url redis://:***@127.0.0.1:9/0 is unreachable" in done.stderr
    assert "s3cret-pw" not in done.stderr


def test_replicas_on_sqlite_are_refused(tmp_path: Path) -> None:
    env = _gateway_env(tmp_path, f"sqlite:///{tmp_path / 'h.db'}", _free_port(),
                       HOTLINE_CLUSTER_REDIS_URL=REDIS_URL)
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "serve"], cwd=PROJECT_ROOT, env=env, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "the database is SQLite" in done.stderr


# --- the cluster


@dataclass
class Cluster:
    tmp: Path
    db_url: str
    namespace: str
    lb: str
    lb_smtp: int
    rasa: str
    gateways: dict[str, str]
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster")
    name = f"hotline_c_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    db_url = f"{PG_URL.rsplit('/', 1)[0]}/{name}"  # type: ignore[union-attr]
    namespace = f"t{uuid.uuid4().hex[:10]}"
    rasa_port, relay_port, lb_port, lb_smtp = _free_port(), _free_port(), _free_port(), _free_port()
    ports = {"a": _free_port(), "b": _free_port()}
    smtp_ports = {"a": _free_port(), "b": _free_port()}
    c = Cluster(tmp, db_url, namespace, f"http://127.0.0.1:{lb_port}", lb_smtp, f"http://127.0.0.1:{rasa_port}",
                {k: f"http://127.0.0.1:{p}" for k, p in ports.items()})
    try:
        c.procs["standins"] = subprocess.Popen(
            [sys.executable, "-m", "tests.cluster_standins", str(rasa_port), str(relay_port)],
            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
        for key, port in ports.items():
            c.procs[key] = _serve(_gateway_env(tmp, db_url, port, HOTLINE_CLUSTER_REDIS_URL=REDIS_URL,
                                               HOTLINE_CLUSTER_NAMESPACE=namespace, HOTLINE_CLUSTER_INSTANCE=key,
                                               HOTLINE_BOT_ENABLED="true", HOTLINE_BOT_RASA_URL=c.rasa,
                                               HOTLINE_EMAIL_ENABLED="true", HOTLINE_EMAIL_PORT=str(smtp_ports[key]),
                                               HOTLINE_EMAIL_RELAY_PORT=str(relay_port),
                                               HOTLINE_EMAIL_MAX_MAILS_PER_SENDER_PER_HOUR="10000",
                                               HOTLINE_EMAIL_MAX_AUTO_REPLIES_PER_HOUR="10000",
                                               # Low enough for a test to reach, above any test's session.
                                               HOTLINE_ABUSE_MESSAGES_PER_MINUTE_PER_SESSION=str(SESSION_LIMIT)),
                                  tmp / f"gateway-{key}.log")
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(render(TEMPLATE.read_text(encoding="utf-8"), {
            "gateways": [f"127.0.0.1:{p}" for p in ports.values()],
            "gateways_smtp": [f"127.0.0.1:{p}" for p in smtp_ports.values()],
            "rasa_servers": [], "action_servers": []}), encoding="utf-8")
        lb_env = {**os.environ, "HOTLINE_LB_BIND": "127.0.0.1", "HOTLINE_LB_PORT": str(lb_port),
                  "HOTLINE_LB_SMTP_PORT": str(lb_smtp), "HOTLINE_LB_RASA_PORT": str(_free_port()),
                  "HOTLINE_LB_ACTIONS_PORT": str(_free_port())}
        c.procs["haproxy"] = subprocess.Popen(["/usr/sbin/haproxy", "-db", "-f", str(cfg)], env=lb_env,
                                              stdout=(tmp / "haproxy.log").open("ab"), stderr=subprocess.STDOUT)
        for key in ports:
            _wait_healthy(c.gateways[key], c.procs[key])
        _wait_healthy(c.lb, c.procs["haproxy"], 20)
        yield c
    finally:
        for proc in c.procs.values():
            _stop(proc)
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        _forget(namespace)


def _forget(namespace: str) -> None:
    """The test's keys out of the shared Redis (some windows would otherwise live for hours)."""
    import redis
    r = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(r.scan_iter(f"{namespace}:*", count=1000))
        for start in range(0, len(keys), 500):
            r.delete(*keys[start:start + 500])
    finally:
        r.close()


async def _agent(c: Cluster, username: str) -> None:
    from gateway.store import open_store
    store = await open_store(c.db_url, auto_migrate=False)
    try:
        await store.agents.add(username, f"坐席{username}", "agent", PASSWORD)
    finally:
        await store.db.dispose()


async def _login(http: aiohttp.ClientSession, base: str, username: str) -> str:
    async with http.post(f"{base}/console/api/login", json={"username": username, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["csrf"])


async def _say(http: aiohttp.ClientSession, base: str, session: str, text: str,
               client_id: str | None = None) -> dict[str, Any]:
    body = {"session": session, "text": text, **({"client_id": client_id} if client_id else {})}
    async with http.post(f"{base}/api/v1/web/messages", json=body) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def _turns(c: Cluster) -> list[dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{c.rasa}/turns") as resp:
        return list(await resp.json())


async def _relayed(c: Cluster) -> list[dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(f"{c.rasa}/relay") as resp:
        return list(await resp.json())


def _mail(n: int) -> tuple[str, bytes]:
    """A citizen's mail with its own Message-ID (what a real MTA resends unchanged)."""
    from email.message import EmailMessage
    mail = EmailMessage()
    mail["From"] = f"citizen{n}@example.com"
    mail["To"] = "12345@hotline.taian.gov.cn"
    mail["Subject"] = f"第{n}封来信：小区路灯坏了"
    mail["Message-ID"] = f"<cluster-{n}-{uuid.uuid4().hex[:8]}@example.com>"
    mail.set_content(f"我是第{n}位写信的市民，我们小区门口的路灯坏了一个星期，晚上很黑，请派人修理。")
    return str(mail["Message-ID"]), mail.as_bytes()


def _send_mail(port: int, n: int, raw: bytes) -> int:
    """Like an MTA: the same mail again until the server answers 250; the number of retries."""
    import smtplib
    for attempt in range(60):
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                smtp.sendmail(f"citizen{n}@example.com", ["12345@hotline.taian.gov.cn"], raw)
                return attempt
        except (smtplib.SMTPException, OSError):
            time.sleep(0.3)
    raise AssertionError(f"mail {n} never accepted")


@needs_pg
async def test_an_agent_on_replica_a_sees_a_message_that_reached_b_within_a_second(cluster: Cluster) -> None:
    await _agent(cluster, "ana")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent, \
            aiohttp.ClientSession() as citizen:
        await _login(agent, cluster.gateways["a"], "ana")
        async with agent.ws_connect(f"{cluster.gateways['a']}/console/api/ws") as ws:
            session = f"s{uuid.uuid4().hex[:12]}"
            await _say(citizen, cluster.gateways["b"], session, "小区路灯坏了三天了")

            async def message_event() -> dict[str, Any]:
                while True:
                    event = json.loads((await ws.receive()).data)
                    if event.get("type") == "message" and event.get("channel") == "web":
                        return dict(event)
            event = await asyncio.wait_for(message_event(), 1.0)
            assert "路灯" in event["text"]
            # And the web page open on A hears of a reply stored by B (the web chat's own topic).
            async with citizen.ws_connect(f"{cluster.gateways['a']}/api/v1/web/ws?session={session}") as page:
                await asyncio.sleep(0.2)  # subscribed on A before B answers
                await _say(citizen, cluster.gateways["b"], session, "在泰山区")
                reply = json.loads((await asyncio.wait_for(page.receive(), 1.0)).data)
                assert reply["type"] == "reply" and reply["text"] == "机器人收到：在泰山区"
            # Presence: B lists the agent whose console is open on A as online.
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as on_b:
                await _login(on_b, cluster.gateways["b"], "ana")
                async with on_b.get(f"{cluster.gateways['b']}/console/api/agents") as resp:
                    listed = {a["username"]: a["online"] for a in (await resp.json())["items"]}
                assert listed["ana"] is True
        # The console on A closed: B sees it within a few seconds (A's set is rewritten at once).
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as on_b:
            await _login(on_b, cluster.gateways["b"], "ana")

            async def offline_on_b() -> None:
                while True:
                    async with on_b.get(f"{cluster.gateways['b']}/console/api/agents") as resp:
                        if not {a["username"]: a["online"] for a in (await resp.json())["items"]}["ana"]:
                            return
                    await asyncio.sleep(0.1)
            await asyncio.wait_for(offline_on_b(), 3.0)


@needs_pg
async def test_a_takeover_on_replica_a_silences_the_bot_for_messages_arriving_at_b(cluster: Cluster) -> None:
    await _agent(cluster, "bo")
    session = f"s{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as agent, \
            aiohttp.ClientSession() as citizen:
        first = await _say(citizen, cluster.gateways["b"], session, "我要投诉噪音")
        assert first["replies"][0]["text"] == "机器人收到：我要投诉噪音"
        csrf = await _login(agent, cluster.gateways["a"], "bo")
        cid = await _conversation_of(cluster, session)
        async with agent.post(f"{cluster.gateways['a']}/console/api/conversations/{cid}/takeover",
                              headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 200, await resp.text()
        before = len(await _turns(cluster))
        later = await _say(citizen, cluster.gateways["b"], session, "人呢？")
        assert later["replies"] == []
        assert len(await _turns(cluster)) == before  # the bot was not asked
        # The agent's reply, sent on A, is what the citizen reads (stored once, whichever replica serves).
        async with agent.post(f"{cluster.gateways['a']}/console/api/conversations/{cid}/reply",
                              json={"text": "您好，我是坐席，正在为您处理。"}, headers={"X-CSRF-Token": csrf}) as resp:
            assert resp.status == 200, await resp.text()
        async with citizen.get(f"{cluster.gateways['b']}/api/v1/web/history?session={session}") as resp:
            texts = [m["text"] for m in (await resp.json())["messages"]]
        assert texts.count("您好，我是坐席，正在为您处理。") == 1


async def _conversation_of(c: Cluster, session: str) -> int:
    conn = await asyncpg.connect(c.db_url)
    try:
        return int(await conn.fetchval("SELECT id FROM conversations WHERE key = $1", session))
    finally:
        await conn.close()


@needs_pg
async def test_a_knowledge_base_edit_on_a_is_answered_on_b_at_once(cluster: Cluster) -> None:
    entry = {"id": f"cluster-{uuid.uuid4().hex[:8]}", "question": "集群测试专用的问题怎么办理",
             "answer": "集群测试专用的答案。", "department": "市政务服务中心", "status": "published"}
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{cluster.gateways['a']}/api/v1/kb/entries", json=entry, headers=headers) as resp:
            assert resp.status == 201, await resp.text()

        async def found_on_b() -> None:
            while True:
                async with http.get(f"{cluster.gateways['b']}/api/v1/kb/search",
                                    params={"q": "集群测试专用的问题怎么办理"}) as resp:
                    hits = (await resp.json())["results"]
                if hits and hits[0]["id"] == entry["id"]:
                    return
                await asyncio.sleep(0.1)
        # B polls every 10 s; the cluster event makes it seconds at most (the rebuild is jieba work).
        await asyncio.wait_for(found_on_b(), 5.0)


@needs_pg
async def test_abuse_windows_are_counted_once_for_all_replicas() -> None:
    from redis import asyncio as aioredis
    a, b = aioredis.Redis.from_url(REDIS_URL), aioredis.Redis.from_url(REDIS_URL)
    prefix = f"t{uuid.uuid4().hex[:10]}:rl:web_session:"
    try:
        on_a, on_b = RedisWindow(a, prefix, 3, 60), RedisWindow(b, prefix, 3, 60)
        assert [await on_a.hit("s1"), await on_b.hit("s1"), await on_a.hit("s1")] == [True, True, True]
        assert await on_b.hit("s1") is False and await on_a.hit("s1") is False
        assert await on_b.hit("s2") is True  # per key
        # Checked before the work, counted after it (e-mail's automatic replies), across replicas too.
        mail_a, mail_b = RedisWindow(a, prefix + "mail:", 2, 3600), RedisWindow(b, prefix + "mail:", 2, 3600)
        assert await mail_a.full("x@example.com") is False
        await mail_a.add("x@example.com")
        await mail_b.add("x@example.com")
        assert await mail_b.full("x@example.com") is True and await mail_a.full("y@example.com") is False
        gone = RedisWindow(aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5), prefix, 1, 60)
        assert await gone.hit("s1") is True and await gone.hit("s1") is True  # Redis away: allowed, logged
    finally:
        await a.delete(*[k async for k in a.scan_iter(f"{prefix}*")] or ["none"])
        await a.aclose()
        await b.aclose()


@needs_pg
async def test_a_web_sessions_limit_is_counted_across_the_replicas(cluster: Cluster) -> None:
    session = f"s{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession() as http:
        for i in range(SESSION_LIMIT):
            await _say(http, cluster.gateways["ab"[i % 2]], session, f"第{i}条")
        for key in "ab":
            async with http.post(f"{cluster.gateways[key]}/api/v1/web/messages",
                                 json={"session": session, "text": "再来一条"}) as resp:
                assert resp.status == 429  # each gateway alone has seen only half


@needs_pg
async def test_kill_9_of_one_gateway_under_load_loses_no_acknowledged_message_and_answers_none_twice(
        cluster: Cluster) -> None:
    """30 web conversations of 6 messages each through the balancer; gateway A is killed with SIGKILL
    once a third of the messages are answered. The page's behaviour: a failed POST is retried with the
    same client_id (to whichever gateway the balancer picks)."""
    conversations, per_conversation = 30, 6
    acknowledged: dict[str, dict[str, Any]] = {}   # client_id -> the answer the page got
    killed = asyncio.Event()
    retries = 0

    async def post(http: aiohttp.ClientSession, session: str, text: str, client_id: str) -> dict[str, Any]:
        nonlocal retries
        for attempt in range(40):
            try:
                async with http.post(f"{cluster.lb}/api/v1/web/messages",
                                     json={"session": session, "text": text, "client_id": client_id}) as resp:
                    if resp.status == 200:
                        return dict(await resp.json())
            except (aiohttp.ClientError, asyncio.TimeoutError):
                pass
            retries += 1
            await asyncio.sleep(0.25)
        raise AssertionError(f"{client_id} never acknowledged")

    async def citizen(n: int, http: aiohttp.ClientSession) -> None:
        session = f"load{n:03d}{uuid.uuid4().hex[:8]}"
        for i in range(per_conversation):
            client_id = f"c{n}m{i}"
            acknowledged[f"{session}/{client_id}"] = await post(http, session, f"第{n}位市民的第{i}条消息", client_id)
            if len(acknowledged) >= conversations * per_conversation // 3 and not killed.is_set():
                killed.set()
                cluster.procs["a"].send_signal(signal.SIGKILL)

    mails = [_mail(n) for n in range(20)]

    async def writer(n: int) -> int:
        await asyncio.sleep(n * 0.15)  # the mails arrive before, during and after the kill
        return await asyncio.to_thread(_send_mail, cluster.lb_smtp, n, mails[n][1])

    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        mail_retries = await asyncio.gather(*(citizen(n, http) for n in range(conversations)),
                                            *(writer(n) for n in range(len(mails))))
    assert killed.is_set() and cluster.procs["a"].wait(5) == -signal.SIGKILL

    conn = await asyncpg.connect(cluster.db_url)
    try:
        rows = await conn.fetch(
            "SELECT m.external_id, m.id FROM messages m JOIN conversations c ON c.id = m.conversation_id "
            "WHERE m.direction = 'in' AND c.key LIKE 'load%'")
        stored = {r["external_id"].replace(":", "/", 1): r["id"] for r in rows}
        replies = await conn.fetch(
            "SELECT r.text, count(*) AS n FROM messages r JOIN conversations c ON c.id = r.conversation_id "
            "WHERE r.direction = 'out' AND c.key LIKE 'load%' GROUP BY r.text")
    finally:
        await conn.close()
    # 0 acknowledged messages lost: every one the page was answered for is stored, exactly once.
    assert set(acknowledged) <= set(stored) and len(stored) == len(rows) == conversations * per_conversation
    # 0 duplicate replies: no message was answered twice (each text is unique, so is its reply).
    assert [r["text"] for r in replies if r["n"] > 1] == []
    # The bot is asked twice only about a message whose first gateway died mid-turn (B took the turn over;
    # the reply A never stored was never sent).
    turns = [t["message"] for t in await _turns(cluster) if t["sender"].startswith("load")]
    taken_over = (cluster.tmp / "gateway-b.log").read_text(encoding="utf-8").count("answered here")
    assert len(turns) - len(set(turns)) <= taken_over
    # Every message was answered: a retry got what the first attempt stored, or — when A died between
    # storing the message and its answer — B answered it once A's heartbeat had stopped.
    assert [k for k, a in acknowledged.items() if not a["replies"]] == []
    assert all(len(a["replies"]) == 1 and a["replies"][0]["text"].startswith("机器人收到：")
               for a in acknowledged.values())
    print(f"\n{len(acknowledged)} web messages acknowledged, {retries} retries after the kill, "
          f"{taken_over} turns taken over, {sum(r for r in mail_retries if r)} mail retries")
    await _every_mail_answered_once(cluster, [m[0] for m in mails])
    # Every conversation continues on B.
    async with aiohttp.ClientSession(timeout=timeout) as http:
        sessions = {key.split("/")[0] for key in acknowledged}
        for session in sessions:
            answer = await post(http, session, f"{session}继续说", "after")
            assert answer["replies"][0]["text"] == f"机器人收到：{session}继续说"


# --- graceful stop


class _SlowPlatform:
    """Accepts the first reply, then hangs: a stop arrives while the platform has the second."""

    channel = Channel.TELEGRAM

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.hanging = asyncio.Event()

    async def deliver(self, message: Any) -> None:
        if self.sent:
            self.hanging.set()
            await asyncio.Event().wait()
        self.sent.append(message.text)


async def test_a_stopping_gateway_releases_the_replies_it_leased_but_never_tried(store: Any) -> None:
    """What went out is marked sent (no replica sends it again), the attempt cut off keeps its lease (the
    platform may have it), and what was never tried is due at once for the other replicas."""
    from channels.registry import Capabilities
    from gateway.outbox import OutboxDispatcher
    from gateway.settings import OutboxSettings
    from gateway.store.messages import OutboundDraft
    from channels.base import InboundMessage
    from datetime import timedelta

    r = await store.messages.record_inbound(InboundMessage(
        channel=Channel.TELEGRAM, external_id="u1", sender="42", conversation_key="42", text="路灯坏了"), None)
    items = await store.messages.record_outbound(r.conversation, "42", r.message_id,
                                                 [OutboundDraft("一"), OutboundDraft("二"), OutboundDraft("三")])
    for item in items:  # as if their first attempt had failed: due for the worker now
        await store.outbox.mark_retry(item.id, "first attempt failed", timedelta(seconds=-1))
    platform = _SlowPlatform()
    outbox = OutboxDispatcher(store.outbox, {Channel.TELEGRAM: platform},
                              {Channel.TELEGRAM: Capabilities(conversational=True)}, OutboxSettings(poll_seconds=0.1))
    worker = asyncio.create_task(outbox.run_forever())
    await asyncio.wait_for(platform.hanging.wait(), 5)
    await outbox.stop(worker, grace_seconds=0.2)
    assert worker.done() and platform.sent == ["一"]
    due = await store.outbox.claim()
    assert [d.text for d in due] == ["三"] and due[0].attempts == 2  # the release gave back its claim's count
    assert await store.outbox.counts() == {"sent": 1, "pending": 2}


async def test_a_gateway_stopping_while_its_database_is_gone_still_stops(tmp_path: Path, caplog: Any) -> None:
    """Releasing the untried leases needs the database; without it the stop goes on (the leases expire by
    themselves) and says why, instead of failing the rest of the shutdown."""
    from gateway.store import open_store
    from tests.conftest import TEST_CLOCK
    from channels.registry import Capabilities
    from gateway.outbox import OutboxDispatcher
    from gateway.settings import OutboxSettings
    from gateway.store.messages import OutboundDraft
    from channels.base import InboundMessage
    from datetime import timedelta

    store = await open_store(f"sqlite:///{tmp_path / 'gone.db'}", auto_migrate=True, clock=TEST_CLOCK)
    r = await store.messages.record_inbound(InboundMessage(
        channel=Channel.TELEGRAM, external_id="u2", sender="43", conversation_key="43", text="路灯坏了"), None)
    items = await store.messages.record_outbound(r.conversation, "43", r.message_id,
                                                 [OutboundDraft("一"), OutboundDraft("二"), OutboundDraft("三")])
    for item in items:
        await store.outbox.mark_retry(item.id, "first attempt failed", timedelta(seconds=-1))
    platform = _SlowPlatform()
    outbox = OutboxDispatcher(store.outbox, {Channel.TELEGRAM: platform},
                              {Channel.TELEGRAM: Capabilities(conversational=True)}, OutboxSettings(poll_seconds=0.1))
    worker = asyncio.create_task(outbox.run_forever())
    await asyncio.wait_for(platform.hanging.wait(), 5)
    await store.db.dispose()  # the database goes away before the gateway stops (its writer has ended)
    with caplog.at_level(logging.WARNING, logger="gateway.outbox"):
        await outbox.stop(worker, grace_seconds=0.2)
    assert worker.done() and platform.sent == ["一"]
    assert any("not released" in rec.getMessage() for rec in caplog.records)


async def _every_mail_answered_once(c: Cluster, message_ids: list[str]) -> None:
    """Every accepted mail is stored once and answered once: replies A had leased and not sent go out
    from B when the lease ends (moved forward here instead of waiting its 60 s)."""
    conn = await asyncpg.connect(c.db_url)
    try:
        stored = await conn.fetch("SELECT external_id, count(*) AS n FROM messages WHERE channel = 'email' "
                                  "AND direction = 'in' GROUP BY external_id")
        assert {r["external_id"] for r in stored} == set(message_ids) and all(r["n"] == 1 for r in stored)
        await asyncio.sleep(1)  # B's own background deliveries finish
        await conn.execute("UPDATE outbox SET next_attempt_at = now() - interval '1 second' "
                           "WHERE status = 'pending' AND channel = 'email'")
    finally:
        await conn.close()

    async def all_answered() -> list[dict[str, str]]:
        while True:
            relayed = await _relayed(c)
            if {r["in_reply_to"] for r in relayed} >= set(message_ids):
                return relayed
            await asyncio.sleep(0.2)
    relayed = await asyncio.wait_for(all_answered(), 15)
    await asyncio.sleep(1.5)  # anything that would go out twice has had time to
    relayed = await _relayed(c)
    replies = {m: {r["message_id"] for r in relayed if r["in_reply_to"] == m} for m in message_ids}
    assert all(len(ids) == 1 for ids in replies.values()), replies
    resent = len([r for r in relayed if r["in_reply_to"] in replies]) - len(message_ids)
    # A reply the relay had accepted from A just before A died, not yet marked sent, goes out again from
    # B after the lease with the same Message-ID (at least once; a receiving server sees the same mail).
    print(f"{len(message_ids)} mails answered once each ({resent} re-sent with the same Message-ID)")


# --- per-process state that must not decide where a reply goes


async def test_a_wechat_reply_sent_by_a_gateway_that_never_saw_the_message_uses_the_citizens_account(
        make_client: Any, tmp_path: Path) -> None:
    """With two official accounts, a reply the outbox sends from another gateway (or after a restart) goes
    out from the account the citizen wrote to, which the stored message names — not the first account."""
    from aiohttp import web
    from channels.base import InboundMessage
    from gateway.app import STORE
    from gateway.store.messages import OutboundDraft
    from tests.conftest import loopback

    sent: list[tuple[str, str]] = []

    async def token(request: web.Request) -> web.Response:
        return web.json_response({"access_token": f"T-{request.query['appid']}", "expires_in": 7200})

    async def custom_send(request: web.Request) -> web.Response:
        sent.append((request.query["access_token"], (await request.json())["touser"]))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    platform = web.Application()
    platform.router.add_get("/cgi-bin/token", token)
    platform.router.add_post("/cgi-bin/message/custom/send", custom_send)
    accounts = [{"app_id": app_id, "token": "hotlinetoken", "app_secret": "s3"} for app_id in ("wxfirst", "wxsecond")]
    async with loopback(platform) as base:
        client = await make_client(db_url=f"sqlite:///{tmp_path / 'wx.db'}",
                                   wechat={"api_base": base, "accounts": accounts})
        store = client.app[STORE]
        # Received by another gateway: stored with its account, never seen by this process's adapter.
        ingest = await store.messages.record_inbound(InboundMessage(
            channel=Channel.WECHAT, external_id="wxsecond:1", sender="o_second", conversation_key="o_second",
            text="路灯坏了", meta={"app_id": "wxsecond", "msg_type": "text"}), None)
        await store.messages.record_outbound(ingest.conversation, "o_second", ingest.message_id,
                                             [OutboundDraft("您的诉求已受理。")])
        await store.db.run(lambda conn: conn.exec_driver_sql("UPDATE outbox SET next_attempt_at = '2000-01-01'"))

        async def delivered() -> None:
            while not sent:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(delivered(), 5)
    assert sent == [("T-wxsecond", "o_second")]
