"""A loopback stand-in for the Rasa REST channel the cluster tests' gateway processes call (a process of
its own: the gateways are processes too). `GET /turns` lists every turn it was asked for, so a test can
count turns per message: a message answered twice would show up as two turns.

    python -m tests.cluster_rasa PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

turns: list[dict[str, str]] = []


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


def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{key}/tracker/events", tracker_events)
    app.router.add_get("/status", status)
    app.router.add_get("/turns", list_turns)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
