"""The ceiling the ingest benchmark compares the gateway with: an aiohttp app on uvloop that parses the
same JSON and commits one SQLite row per request (WAL, like the gateway's store), and answers in the
gateway's reply shape. Nothing else: no triage, no tickets, no outbox.

    .venv/bin/python benchmarks/ceiling_app.py PORT DB_PATH
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import uvloop
from aiohttp import web


def main(port: int, db_path: str) -> None:
    db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, session TEXT, client_id TEXT, "
               "text TEXT, UNIQUE(session, client_id))")
    writer = ThreadPoolExecutor(1)  # one writer thread, as the gateway's store has
    lock = threading.Lock()

    def insert(session: str, client_id: str, text: str) -> int:
        with lock:
            db.execute("BEGIN")
            cur = db.execute("INSERT OR IGNORE INTO messages (session, client_id, text) VALUES (?, ?, ?)",
                             (session, client_id, text))
            db.execute("COMMIT")
            return int(cur.lastrowid or 0)

    async def post(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        row = await asyncio.get_running_loop().run_in_executor(writer, insert, body["session"],
                                                               body.get("client_id", ""), body["text"])
        return web.json_response({"replies": [{"text": "已收到", "from": "system", "id": row}]})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/api/v1/web/messages", post)
    app.router.add_get("/healthz", health)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
