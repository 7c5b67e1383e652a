"""Reading what citizens show (issue 18): text in photos and video frames, a photo's position, hostile
files — through the real app on loopback, with the real OCR engine in its worker process."""

from __future__ import annotations

import asyncio
import io
import struct
import uuid
import zlib

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from PIL import Image

from channels.reading.images import UnreadableImage, gps_of, open_checked, without_metadata
from channels.reading.pool import ReadingPool
from channels.reading.reader import ReadingLimits
from gateway.app import STORE
from gateway.pipeline import MEDIA_ONLY_REPLY, READ_TEXT_MARK
from gateway.settings import PROJECT_ROOT
from gateway.store.schema import attachments, emergency_referrals, media_readings, messages, tickets
from nlu.positions import DistrictMap
from tests.media_samples import text_image, text_video
from tests.test_email import mail_client, relay  # noqa: F401 - the e-mail channel's fixtures

FIRE_NOTICE = ["紧急！3号楼2单元楼道着火了", "浓烟很大 有老人困在楼上"]
COMPLAINT = ["投诉：泰山区岱宗大街88号烧烤店", "每天夜里油烟和噪音扰民到凌晨两点", "多次反映无人处理"]
TAISHAN = (36.19, 117.12)  # inside the shipped outline of 泰山区


async def rows(client: TestClient, table: sa.Table, *where) -> list:
    return await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(table).where(*where)).all())


async def upload(client: TestClient, data: bytes, name: str, text: str = "", sess: str | None = None) -> dict:
    form = aiohttp.FormData()
    form.add_field("session", sess or uuid.uuid4().hex)
    if text:
        form.add_field("text", text)
    form.add_field("file", data, filename=name)
    resp = await client.post("/api/v1/web/messages", data=form)
    assert resp.status == 200, await resp.text()
    return await resp.json()


def bomb_png(width: int = 60_000, height: int = 60_000) -> bytes:
    """A PNG header declaring 3.6 gigapixels over a few bytes of data: decoding it would take ~10 GB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + chunk(b"IEND", b""))


# --- pure parts: image safety, EXIF, districts

def test_a_decompression_bomb_and_a_truncated_image_are_refused_with_a_reason() -> None:
    with pytest.raises(UnreadableImage, match="over the limit"):
        open_checked(bomb_png(), 40_000_000)
    jpeg = text_image(["停水通知"], fmt="JPEG")
    with pytest.raises(UnreadableImage, match="decoded"):
        open_checked(jpeg[: len(jpeg) // 2], 40_000_000)
    with pytest.raises(UnreadableImage, match="not a readable image"):
        open_checked(b"GIF89a" + b"\x00" * 20, 40_000_000)


def test_gps_is_read_from_exif_resolved_to_a_district_and_stripped_for_others() -> None:
    photo = text_image(["路灯不亮"], fmt="JPEG", gps=TAISHAN)
    point = gps_of(photo)
    assert point is not None and abs(point.latitude - 36.19) < 1e-3 and abs(point.longitude - 117.12) < 1e-3
    districts = DistrictMap.load(PROJECT_ROOT / "config" / "districts.geojson")
    assert districts.locate(point.latitude, point.longitude)["district"] == "泰山区"
    assert districts.locate(35.88, 117.70)["district"] == "新泰市"
    assert "district" not in districts.locate(39.90, 116.40)  # Beijing: kept as coordinates only
    clean, mime = without_metadata(photo, 40_000_000)
    assert mime == "image/jpeg" and gps_of(clean) is None
    assert not Image.open(io.BytesIO(clean)).getexif()
    assert gps_of(text_image(["无定位"], fmt="JPEG")) is None


async def test_a_file_over_its_time_is_given_up_and_the_worker_replaced(tmp_path) -> None:
    path = tmp_path / "n.png"
    path.write_bytes(text_image(COMPLAINT))
    pool = ReadingPool(1, ReadingLimits(), seconds_per_file=0.05, memory_bytes=0)
    try:
        reading = await pool.read(str(path), "image")
        assert not reading.ok and "over" in (reading.reason or "")
        pool._seconds = 120.0  # the same pool, given time: a new worker reads the file
        reading = await pool.read(str(path), "image")
        assert reading.ok and "烧烤店" in reading.text
    finally:
        pool.close()


# --- through the app

@pytest.fixture
async def client(make_client, db_url: str) -> TestClient:
    """The app with time to read a photo before answering (the first one starts the OCR worker)."""
    return await make_client(db_url=db_url, media_reading={"default_wait_seconds": 60.0},
                             server={"reply_wait_seconds": 90.0})


async def test_a_photographed_fire_is_screened_like_a_typed_one(client: TestClient) -> None:
    body = await upload(client, text_image(FIRE_NOTICE), "notice.png")
    texts = " ".join(r["text"] for r in body["replies"])
    assert "119" in texts
    [ref] = await rows(client, emergency_referrals)
    assert "119" in ref.lines
    [reading] = await rows(client, media_readings)
    assert reading.state == "done" and "着火" in reading.text and reading.confidence > 0.8 and reading.applied


async def test_a_photographed_complaint_becomes_a_ticket_with_its_text_and_place(client: TestClient) -> None:
    photo = text_image(COMPLAINT + ["联系电话13912345678"], fmt="JPEG", gps=TAISHAN)
    body = await upload(client, photo, "IMG_0001.jpg")
    assert any(r.get("ticket_number") for r in body["replies"]), body
    [ticket] = await rows(client, tickets)
    assert READ_TEXT_MARK in ticket.description and "烧烤店" in ticket.description
    assert "13912345678" not in ticket.description  # the photo's text is masked like any shown text
    assert ticket.district == "泰山区"
    assert ticket.reported_position["district"] == "泰山区" and ticket.reported_position["approximate"] is True
    [reading] = await rows(client, media_readings)
    assert "139****5678" in reading.text and reading.result["location"]["district"] == "泰山区"


async def test_a_hostile_image_is_kept_and_the_citizen_asked_to_type(client: TestClient) -> None:
    body = await upload(client, bomb_png(), "big.png")
    assert body["replies"][0]["text"] == MEDIA_ONLY_REPLY
    [reading] = await rows(client, media_readings)
    assert reading.state == "failed" and "over the limit" in reading.result["reason"]
    [att] = await rows(client, attachments)
    assert att.kind == "image"  # kept for agents, only not read


async def test_a_video_is_read_from_its_frames_with_duration_poster_and_sound(client: TestClient) -> None:
    clip = text_video(["小区门口井盖丢失", "晚上有人掉进去"], seconds=3.0)
    body = await upload(client, clip, "clip.mp4", text="见视频")
    assert body["replies"]
    [reading] = await rows(client, media_readings)
    assert reading.state == "done" and "井盖" in reading.text
    assert 2.5 <= reading.result["duration"] <= 3.5
    assert reading.result["poster_key"] and reading.result["audio_key"]
    assert reading.result["has_audio"] is True


async def test_a_reading_left_pending_by_a_restart_is_read_and_followed_up(make_client, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    first = await make_client(db_url=url, media_reading={"enabled": False})
    body = await upload(first, text_image(FIRE_NOTICE), "notice.png")
    assert body["replies"][0]["text"] == MEDIA_ONLY_REPLY  # nothing read: the reader is off
    [pending] = await rows(first, media_readings)
    assert pending.state == "pending"
    await first.close()
    second = await make_client(db_url=url, media_reading={"sweep_after_seconds": 0})
    for _ in range(300):
        [reading] = await rows(second, media_readings)
        refs = await rows(second, emergency_referrals)
        if reading.state == "done" and refs:
            break
        await asyncio.sleep(0.1)
    assert reading.state == "done" and reading.applied and "119" in refs[0].lines
    replies = await rows(second, messages, messages.c.direction == "out")
    assert any("119" in r.text for r in replies)


# --- what agents see

@pytest.mark.browser
async def test_agents_see_the_text_under_the_photo_and_the_video_facts(make_client, db_url) -> None:
    from tests.console_helpers import DESK, SHOTS, add_agent, chromium, console_page, web_conversation

    client = await make_client(db_url=db_url, media_reading={"default_wait_seconds": 60.0},
                               server={"reply_wait_seconds": 90.0})
    await add_agent(client, "reader1")
    sess = "reading-session-0001"
    await upload(client, text_image(COMPLAINT + ["联系电话13912345678"], fmt="JPEG", gps=TAISHAN), "IMG_1.jpg",
                 sess=sess)
    await upload(client, text_video(["小区门口井盖丢失", "晚上有人掉进去"], seconds=3.0), "clip.mp4", text="见视频",
                 sess=sess)
    cid = await web_conversation(client, sess)
    async with chromium() as browser:
        page = await console_page(browser, client, "reader1", DESK)
        await page.click(f"#list li[data-id='{cid}']")
        await page.wait_for_selector(".transcript .reading-text")
        blocks = await page.eval_on_selector_all(".transcript .reading", "bs => bs.map(b => b.innerText)")
        photo, video = blocks
        assert "图片中的文字" in photo and "烧烤店" in photo and "139****5678" in photo and "13912345678" not in photo
        assert "约在泰山区" in photo and "36.19" in photo
        assert "视频画面中的文字" in video and "井盖" in video and "时长 3 秒" in video and "视频原声" in video
        poster = await page.eval_on_selector(".transcript video", "v => v.poster")
        assert poster and (await page.request.get(poster)).status == 200
        audio = await page.eval_on_selector(".transcript .reading audio", "a => a.src")
        assert (await page.request.get(audio)).headers["content-type"] == "audio/mp4"
        await page.screenshot(path=f"{SHOTS}/console-reading.png", full_page=True)


async def test_the_citizen_gets_their_photo_back_without_its_position(client: TestClient) -> None:
    photo = text_image(["路灯不亮"], fmt="JPEG", gps=TAISHAN)
    sess = uuid.uuid4().hex
    await upload(client, photo, "IMG_2.jpg", sess=sess)
    [att] = await rows(client, attachments)
    served = await client.get(f"/api/v1/web/media/{att.id}", params={"session": sess})
    body = await served.read()
    assert served.status == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert gps_of(body) is None and gps_of(photo) is not None
    assert Image.open(io.BytesIO(body)).size == Image.open(io.BytesIO(photo)).size


async def test_a_reader_that_dies_on_a_file_is_reported_not_fatal(tmp_path) -> None:
    """A worker over its memory limit (what a hostile file would make it) dies; the file is reported as not
    read with the reason, and the gateway's process is untouched."""
    path = tmp_path / "n.png"
    path.write_bytes(text_image(COMPLAINT))
    pool = ReadingPool(1, ReadingLimits(), seconds_per_file=120.0, memory_bytes=64 * 1024 * 1024)
    try:
        reading = await pool.read(str(path), "image")
        assert not reading.ok and reading.reason and ("stopped" in reading.reason or "failed" in reading.reason)
    finally:
        pool.close()


async def test_a_mailed_photo_without_words_is_read_and_ticketed_after_the_first_reply(mail_client, relay) -> None:
    """E-mail is answered inside the SMTP transaction, so a photo alone first hears it is being read; the
    ticket made from what it says follows in a second mail."""
    from email.message import EmailMessage

    from tests.test_email import HOTLINE, asend

    r, _ = relay
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "li@example.com", HOTLINE, "照片"
    mail["Message-ID"] = "<photo-only-1@example.com>"
    mail.add_attachment(text_image(COMPLAINT), maintype="image", subtype="png", filename="complaint.png")
    assert await asend(mail_client, mail) == {}
    first, second = await r.wait_for(2, timeout=180)
    assert "正在识别" in first.get_body(("plain",)).get_content()
    [ticket] = await rows(mail_client, tickets)
    assert ticket.number in second.get_body(("plain",)).get_content()
    assert "烧烤店" in ticket.description and ticket.channel == "email"


async def test_a_typed_danger_stays_one_whatever_the_photo_adds(client: TestClient) -> None:
    """Review of issue 18: a long photographed notice made the whole read as a letter, where the typed
    danger needed a word of "now" beside it, and the reply lost the 110 it had."""
    notice = ["停水通知", "因泰山区东岳大街供水管网改造施工，定于2026年7月3日8:00至18:00对以下区域停止供水：",
              "东岳大街以北、青年路以东、龙潭路以西区域。", "请各位用户提前做好储水准备，给您带来不便，敬请谅解。",
              "泰安市自来水有限公司", "2026年7月1日", "另：小区二次供水设备检修，届时水压偏低，请勿频繁开关阀门，",
              "如发现管道漏水请及时联系物业服务中心，感谢配合。"]
    body = await upload(client, text_image(notice, font_size=28), "notice.jpg", text="楼顶有人要跳下去")
    assert "110" in " ".join(r["text"] for r in body["replies"])


async def test_the_citizen_is_not_shown_what_was_read_from_their_photo(client: TestClient) -> None:
    sess = uuid.uuid4().hex
    await upload(client, text_image(["路灯不亮"], fmt="JPEG", gps=TAISHAN), "IMG_3.jpg", sess=sess)
    history = await (await client.get("/api/v1/web/history", params={"session": sess})).json()
    shown = [a for m in history["messages"] for a in m.get("attachments") or ()]
    assert shown and all("reading" not in a for a in shown)
    assert "36.19" not in str(history)
