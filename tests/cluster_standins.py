"""Loopback stand-ins the cluster tests' gateway processes talk to, in a process of their own (the
gateways are processes too): Rasa's REST channel and the outgoing SMTP relay.

`GET /turns` lists every bot turn asked for (a message answered twice would show as two turns);
`GET /relay` lists every mail the relay accepted (Message-ID, In-Reply-To, To).

    python -m tests.cluster_standins HTTP_PORT SMTP_PORT
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import sys
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP

turns: list[dict[str, str]] = []
relayed: list[dict[str, str]] = []


class Relay:
    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        relayed.append({"message_id": str(mail["Message-ID"]), "in_reply_to": str(mail["In-Reply-To"]),
                        "to": str(mail["To"])})
        return "250 OK"


async def webhook(request: web.Request) -> web.Response:
    body = await request.json()
    turns.append({"sender": body["sender"], "message": body["message"]})
    return web.json_response([{"recipient_id": body["sender"], "text": f"机器人收到：{body['message']}"}])


async def tracker_events(request: web.Request) -> web.Response:
    return web.json_response({})


async def status(request: web.Request) -> web.Response:
    return web.json_response({"model_file": "cluster-standin.tar.gz"})


async def list_turns(request: web.Request) -> web.Response:
    return web.json_response(turns)


async def list_relayed(request: web.Request) -> web.Response:
    return web.json_response(relayed)


async def main(http_port: int, smtp_port: int) -> None:
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{key}/tracker/events", tracker_events)
    app.router.add_get("/status", status)
    app.router.add_get("/turns", list_turns)
    app.router.add_get("/relay", list_relayed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    await asyncio.get_running_loop().create_server(lambda: SMTP(Relay()), "127.0.0.1", smtp_port)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
