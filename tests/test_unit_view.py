"""What a handling unit sees of a ticket (gateway/api/unit_view.py), through the portal and the token API
alike: no contact an agent typed in, free text masked, no internal events, only this ticket's citizen
media, only files the unit can open."""

from __future__ import annotations

import json

from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestClient
import sqlalchemy as sa

from gateway.app import STORE
from gateway.store.schema import tickets
from tests.media_samples import png
from tests.test_unit_portal_api import PASSWORD, new_ticket, portal, sessions  # noqa: F401 (fixtures)

SECRETS = ("13800001111", "13912345678", "王小明", "小明", "370902199001011234", "0538-")


async def console(client: TestClient, username: str = "boss") -> tuple[ClientSession, str]:
    await client.app[STORE].agents.add(username, "值班长", "supervisor", PASSWORD)
    http = ClientSession(cookie_jar=CookieJar(unsafe=True))
    resp = await http.post(client.make_url("/console/api/login"), json={"username": username, "password": PASSWORD})
    assert resp.status == 200
    return http, (await resp.json())["csrf"]


async def edited_anonymous_ticket(client: TestClient) -> str:
    """A citizen's ticket an agent edits: another phone, a name, an ID number in the description, anonymous;
    then a supervision record naming the citizen."""
    number = await new_ticket(client, "viewanon01")
    http, csrf = await console(client)
    try:
        edit = await http.patch(client.make_url(f"/console/api/tickets/{number}"), headers={"X-CSRF-Token": csrf}, json={
            "contact_phone": "13800001111", "contact_name": "王小明", "anonymous": True,
            "description": "小区门口的路灯坏了，身份证370902199001011234，电话13912345678"})
        assert edit.status == 200, await edit.text()
        record = await http.post(client.make_url(f"/console/api/tickets/{number}/supervise"),
                                 headers={"X-CSRF-Token": csrf},
                                 json={"method": "phone", "note": "请今日回电，联系人王小明，电话13800001111"})
        assert record.status == 200, await record.text()
    finally:
        await http.close()
    ticket = await client.app[STORE].tickets.get(number)
    assert {"updated", "dispatch_proposed"} <= {e.kind for e in ticket.events}  # the events that leaked
    return number


def assert_nothing_of_the_citizen(view: dict) -> None:
    dumped = json.dumps(view, ensure_ascii=False)
    for secret in SECRETS:
        assert secret not in dumped, (secret, dumped)
    assert view["anonymous"] is True and view["contact_phone"] is None and view["contact_name"] is None
    kinds = [e["kind"] for e in view["events"]]
    assert "dispatch_proposed" not in kinds and "linked" not in kinds
    [updated] = [e for e in view["events"] if e["kind"] == "updated"]
    # The matter stays readable for the unit; only who the citizen is goes.
    assert set(updated["data"]) == {"description"} and "路灯坏了" in updated["data"]["description"]["to"]
    assert "139****5678" in updated["data"]["description"]["to"] and "37****" in updated["data"]["description"]["to"]
    [supervision] = [e for e in view["events"] if e["kind"] == "supervision"]
    assert supervision["actor"] == "agent" and supervision["data"]["note"] == "请今日回电，联系人王**，电话138****1111"
    assert all(not e["actor"].startswith("agent:") for e in view["events"])


async def test_the_portal_shows_no_contact_nor_id_number_from_an_agents_edit_of_an_anonymous_ticket(
        portal: TestClient, sessions) -> None:
    number = await edited_anonymous_ticket(portal)
    zhang = await sessions("zhang")
    status, view = await zhang.get(f"/unit/api/tickets/{number}")
    assert status == 200
    assert_nothing_of_the_citizen(view)


async def test_the_token_api_shows_no_contact_nor_id_number_from_an_agents_edit_of_an_anonymous_ticket(
        portal: TestClient) -> None:
    number = await edited_anonymous_ticket(portal)
    token = {"Authorization": "Bearer urban-token-123"}
    listed = await (await portal.get("/api/v1/unit/tickets", headers=token)).json()
    [item] = listed["items"]
    assert not any(s in json.dumps(item, ensure_ascii=False) for s in SECRETS) and "37****" in item["description"]
    accepted = await portal.post(f"/api/v1/unit/tickets/{number}/accept", headers=token)
    assert accepted.status == 200
    assert_nothing_of_the_citizen(await accepted.json())


async def citizen_sends(client: TestClient, session: str, text: str, photo: str | None = None) -> dict:
    form = FormData()
    form.add_field("session", session)
    form.add_field("text", text)
    if photo:
        form.add_field("file", png(6, 6), filename=photo, content_type="image/png")
    resp = await client.post("/api/v1/web/messages", data=form)
    assert resp.status == 200
    return await resp.json()


async def test_a_later_tickets_unit_never_sees_media_of_an_earlier_ticket_of_the_same_chat(
        portal: TestClient, sessions) -> None:
    store = portal.app[STORE]
    first = await new_ticket(portal, "viewmedia01", "小区门口的路灯坏了一个星期了")
    await citizen_sends(portal, "viewmedia01", "这是我的身份证照片，方便核实", "id-card-front.png")
    assert (await store.tickets.get(first)).unit_id == "urban"
    await store.db.run(lambda conn: conn.execute(tickets.update().where(tickets.c.number == first).values(status="closed")))
    # The same chat opens a second matter, with a photo in the message that opens it.
    reply = await citizen_sends(portal, "viewmedia01", "我家小区物业不管电梯坏了，物业公司不作为，电梯停了两周", "lift.png")
    second = reply["replies"][0]["ticket_number"]
    assert second != first
    second_ticket = await store.tickets.get(second)
    assert second_ticket.conversation_id == (await store.tickets.get(first)).conversation_id
    if second_ticket.unit_id != "housing":
        await store.db.run(lambda conn: conn.execute(tickets.update().where(tickets.c.number == second).values(
            unit_id="housing", status="dispatched")))
    zhang, liu = await sessions("zhang"), await sessions("liu")
    [id_card] = (await zhang.get(f"/unit/api/tickets/{first}"))[1]["citizen_media"]  # the first unit keeps it
    assert id_card["filename"] == "id-card-front.png"
    status, view = await liu.get(f"/unit/api/tickets/{second}")
    assert status == 200 and [m["filename"] for m in view["citizen_media"]] == ["lift.png"]
    assert "id-card" not in json.dumps(view, ensure_ascii=False)
    stolen = await liu.http.get(portal.make_url(f"/unit/api/tickets/{second}/citizen-media/{id_card['id']}"))
    assert stolen.status == 404
    own = await liu.http.get(portal.make_url(f"/unit/api/tickets/{second}/citizen-media/{view['citizen_media'][0]['id']}"))
    assert own.status == 200 and await own.read() == png(6, 6)


async def test_the_next_unit_lists_only_files_it_can_open(portal: TestClient, sessions) -> None:
    store = portal.app[STORE]
    number = await new_ticket(portal, "viewfiles01")
    zhang, liu = await sessions("zhang"), await sessions("liu")
    _, unused = await zhang.upload(number, png(), "张三家门口-身份证.png")
    _, attached = await zhang.upload(number, png(5, 5), "退回依据-李四.png")
    status, body = await zhang.post(f"/unit/api/tickets/{number}/return",
                                    {"reason": "路灯属供电公司维护", "files": [attached["id"]]})
    assert status == 200 and body["returned"] is True
    if (await store.tickets.get(number)).unit_id != "housing":
        await store.db.run(lambda conn: conn.execute(tickets.update().where(tickets.c.number == number).values(
            unit_id="housing", status="dispatched")))
    _, mine = await liu.upload(number, png(3, 3), "现场.png")
    status, view = await liu.get(f"/unit/api/tickets/{number}")
    assert status == 200 and [f["id"] for f in view["files"]] == [mine["id"]]
    dumped = json.dumps(view, ensure_ascii=False)
    assert "身份证" not in dumped and "李四" not in dumped
    [ret] = [e for e in view["events"] if e["kind"] == "return"]
    assert ret["data"]["text"] == "路灯属供电公司维护" and "files" not in ret["data"]
    for f in (unused, attached):  # what is not listed does not open either, and the other way round
        assert (await liu.http.get(portal.make_url(f"/unit/api/files/{f['id']}"))).status == 404
    assert (await liu.http.get(portal.make_url(f"/unit/api/files/{mine['id']}"))).status == 200
    stored = await store.db.run(lambda conn: conn.execute(sa.text("SELECT count(*) FROM ticket_files")).scalar_one())
    assert stored == 3  # the earlier unit's files are kept for the hotline, only hidden from the next unit


async def test_a_ticket_the_bot_opens_shows_the_photos_sent_for_it_and_none_of_an_earlier_ticket(
        portal: TestClient, sessions) -> None:
    """The bot (or an agent, or an integrator) opens tickets through the API: the photos the citizen sent in
    the conversation since its previous ticket are this ticket's; the earlier ticket's stay with it."""
    from tests.conftest import auth
    store = portal.app[STORE]
    first = await new_ticket(portal, "viewbot01", "小区门口的路灯坏了一个星期了")
    await citizen_sends(portal, "viewbot01", "这是我的身份证照片，方便核实", "id-card-front.png")
    earlier = await store.tickets.get(first)
    await store.db.run(lambda conn: conn.execute(tickets.update().where(tickets.c.number == first).values(status="closed")))
    await citizen_sends(portal, "viewbot01", "", "lift.png")  # a photo alone opens nothing
    resp = await portal.post("/api/v1/tickets", headers=auth(), json={
        "description": "小区电梯坏了两周，物业公司一直不修", "channel": "web",
        "conversation_id": earlier.conversation_id})
    assert resp.status == 201, await resp.text()
    second = (await resp.json())["number"]
    if (await store.tickets.get(second)).unit_id != "housing":
        await store.db.run(lambda conn: conn.execute(tickets.update().where(tickets.c.number == second).values(
            unit_id="housing", status="dispatched")))
    status, view = await (await sessions("liu")).get(f"/unit/api/tickets/{second}")
    assert status == 200 and [m["filename"] for m in view["citizen_media"]] == ["lift.png"]


def test_an_anonymous_citizens_photo_position_reaches_units_as_a_district_only() -> None:
    """Review of issue 18: the photo's GPS (often the citizen's home) named an anonymous citizen (Art. 28)."""
    from gateway.api.unit_view import position_for_unit
    taken = {"latitude": 36.19, "longitude": 117.12, "district": "泰山区", "approximate": True}
    assert position_for_unit(taken, anonymous=True) == {"district": "泰山区"}
    assert position_for_unit({"latitude": 39.9, "longitude": 116.4}, anonymous=True) is None
    assert position_for_unit(taken, anonymous=False) == taken
