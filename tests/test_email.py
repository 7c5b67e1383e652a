"""The e-mail channel with real SMTP conversations on loopback: smtplib and swaks as clients, a second
aiosmtpd as the relay that receives our replies."""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import shutil
import smtplib
from email.header import Header
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email import encoders
from pathlib import Path
from typing import AsyncIterator

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP

from gateway.app import KB, STORE
from gateway.settings import PROJECT_ROOT
from gateway.store.schema import attachments, messages, tickets
from nlu.kb import load_entries
from tests.conftest import PG_URL, smtp_port

HOTLINE = "12345@hotline.taian.gov.cn"
SAMPLES = PROJECT_ROOT / "tests" / "data" / "email"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * 64 + b"\xff\xd9"


class Relay:
    """The outgoing relay: an aiosmtpd server that keeps what it is given."""

    def __init__(self) -> None:
        self.received: list[email.message.Message] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        self.arrived.set()
        return "250 OK"

    async def wait_for(self, n: int, timeout: float = 10) -> list[email.message.Message]:
        async with asyncio.timeout(timeout):
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


@pytest.fixture
async def relay() -> AsyncIterator[tuple[Relay, int]]:
    r = Relay()
    server = await asyncio.get_running_loop().create_server(lambda: SMTP(r), "127.0.0.1", 0)
    try:
        yield r, server.sockets[0].getsockname()[1]
    finally:
        server.close()


@pytest.fixture
async def mail_client(make_client, relay, db_url) -> TestClient:
    r, port = relay
    client = await make_client(db_url=db_url, email={"relay_port": port, "max_message_bytes": 200_000,
                                                     "max_auto_replies_per_hour": 3})
    await client.app[KB].save(load_entries(PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"), author="test")
    return client


def send(port: int, mail: bytes | EmailMessage, rcpt: str = HOTLINE, sender: str = "zhang@example.com") -> dict:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        raw = mail if isinstance(mail, bytes) else mail.as_bytes()
        return smtp.sendmail(sender, [rcpt], raw)


async def asend(client: TestClient, mail: bytes | EmailMessage, **kw: str) -> dict:
    return await asyncio.to_thread(send, smtp_port(client), mail, **kw)


def plain_mail(sender: str, subject: str, message_id: str, body: str, **headers: str) -> EmailMessage:
    """A plain-text mail to the hotline, as a citizen's client sends it (extra headers: In_Reply_To=...)."""
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = sender, HOTLINE, subject, message_id
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


async def rows(client: TestClient, table: sa.Table, *where) -> list:
    return await client.app[STORE].db.run(lambda conn: conn.execute(sa.select(table).where(*where)).all())


def gbk_mail_with_photo(msg_id: str = "<a1@foxmail.com>") -> bytes:
    """Shaped like Foxmail/Outlook: GBK body, RFC 2047 GBK subject and file name, base64 JPEG."""
    m = MIMEMultipart("mixed")
    m["From"] = f"{Header('张先生', 'gbk').encode()} <zhang@example.com>"
    m["To"] = HOTLINE
    m["Subject"] = Header("反映泰山区财源街道小区路灯损坏问题", "gbk").encode()
    m["Message-ID"] = msg_id
    m["X-Mailer"] = "Foxmail 7.2.25"
    m.attach(MIMEText("你好：\n我们小区门口的路灯坏了一个多星期了，晚上很黑，老人出门不安全，请尽快派人维修。\n\n张先生\n"
                      "-----原始邮件-----\n发件人: 12345\n以前的内容", "plain", "gbk"))
    photo = MIMEBase("application", "octet-stream")  # the declared type lies; the bytes are a JPEG
    photo.set_payload(JPEG)
    encoders.encode_base64(photo)
    photo.add_header("Content-Disposition", "attachment", filename=("gbk", "", "路灯照片.jpg"))
    m.attach(photo)
    return m.as_bytes()


async def test_gbk_mail_with_photo_becomes_a_ticket_and_gets_a_threaded_reply(mail_client, relay) -> None:
    r, _ = relay
    assert await asend(mail_client, gbk_mail_with_photo()) == {}
    [ticket] = await rows(mail_client, tickets)
    assert ticket.channel == "email" and ticket.district == "泰山区" and "路灯坏了" in ticket.description
    assert "原始邮件" not in ticket.description  # the quoted earlier mail is trimmed
    [att] = await rows(mail_client, attachments)
    assert att.content_type == "image/jpeg" and att.kind == "image" and att.filename == "路灯照片.jpg"
    [reply] = await r.wait_for(1)
    assert reply["Subject"].startswith(f"[12345-{ticket.number}]") and "路灯" in reply["Subject"]
    assert reply["In-Reply-To"] == "<a1@foxmail.com>" and reply["Auto-Submitted"] == "auto-replied"
    assert reply["To"] == "zhang@example.com" and ticket.number in reply.get_content()


async def test_a_subject_that_decodes_to_line_breaks_cannot_add_headers_to_the_reply(mail_client, relay) -> None:
    """The citizen's subject goes into our reply's Subject: an encoded word hiding CR LF must stay text."""
    r, _ = relay
    mail = plain_mail("zhang@example.com", "x", "<inject@example.com>", "小区路灯坏了一个星期了。")
    del mail["Subject"]
    hidden = base64.b64encode("路灯\r\nBcc: victim@example.org\r\nX-Evil: 1".encode()).decode()
    mail["Subject"] = f"=?utf-8?b?{hidden}?="
    assert await asend(mail_client, mail) == {}
    [reply] = await r.wait_for(1)
    assert reply["Bcc"] is None and reply["X-Evil"] is None
    assert "路灯" in reply["Subject"] and "\n" not in reply["Subject"]


async def test_an_internationalised_address_is_answered_with_smtputf8(make_client, db_url) -> None:
    """RFC 6531: a citizen writing from 用户@例子.中国 gets the reply at that address (SMTPUTF8 to the relay)."""
    r = Relay()
    envelopes: list[tuple[str, list[str]]] = []

    class Keeping(Relay):
        async def handle_DATA(self, server: SMTP, session: object, envelope: object) -> str:
            envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            return await r.handle_DATA(server, session, envelope)

    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(Keeping(), enable_SMTPUTF8=True, decode_data=False), "127.0.0.1", 0)
    try:
        client = await make_client(db_url=db_url, email={"relay_port": server.sockets[0].getsockname()[1]})
        mail = plain_mail("用户@例子.中国", "路灯坏了", "<eai@例子.中国>", "小区门口的路灯坏了一个星期了。")

        def run() -> dict:
            with smtplib.SMTP("127.0.0.1", smtp_port(client), timeout=10) as smtp:
                return smtp.sendmail("用户@例子.中国", [HOTLINE], mail.as_bytes(policy=email.policy.SMTPUTF8),
                                     mail_options=["SMTPUTF8"])

        assert await asyncio.to_thread(run) == {}
        [reply] = await r.wait_for(1)
        assert envelopes == [(HOTLINE, ["用户@例子.中国"])]
        assert reply["To"] == "用户@例子.中国" and reply["Subject"].endswith("路灯坏了")
    finally:
        server.close()


async def test_a_reply_mail_joins_its_ticket(mail_client, relay) -> None:
    r, _ = relay
    await asend(mail_client, gbk_mail_with_photo("<first@foxmail.com>"))
    [first_reply] = await r.wait_for(1)
    follow = plain_mail("zhang@example.com", "回复：" + first_reply["Subject"], "<second@foxmail.com>",
                        "补充一下：坏的是东门那一盏，晚上七点以后完全不亮。\n\n在 2026年11月26日 写道：\n> 您的诉求已记录",
                        In_Reply_To=first_reply["Message-ID"])  # some clients send no References
    await asend(mail_client, follow)
    assert len(await rows(mail_client, tickets)) == 1
    number = (await rows(mail_client, tickets))[0].number
    got = await mail_client.app[STORE].tickets.get(number)
    assert [e.kind for e in got.events if not e.kind.startswith("dispatch")] == ["created", "citizen_message"]
    [added] = [e for e in got.events if e.kind == "citizen_message"]
    assert "东门" in added.data["text"] and "您的诉求已记录" not in added.data["text"]
    # A reply naming only the ticket in the subject, from the same citizen, finds it too.
    tagged = plain_mail("zhang@example.com", f"Re: [12345-{number}] 还没修", "<third@foxmail.com>",
                        "到今天还没有修好，请催一下。")
    await asend(mail_client, tagged)
    assert len(await rows(mail_client, tickets)) == 1
    replies = await r.wait_for(3)
    assert all(m["Subject"].startswith(f"[12345-{number}]") for m in replies)


async def test_html_only_mail_is_read_as_text(mail_client) -> None:
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "li@example.com", HOTLINE, "投诉"
    m["Message-ID"] = "<html1@example.com>"
    m.set_content("<html><head><style>p{color:red}</style><script>alert(1)</script></head><body>"
                  "<p>岱岳区粥店街道某小区物业不作为，</p><p>电梯坏了一个月&nbsp;都不修。</p></body></html>", subtype="html")
    await asend(mail_client, m, sender="li@example.com")
    [ticket] = await rows(mail_client, tickets)
    assert "电梯坏了一个月" in ticket.description and "alert" not in ticket.description
    assert "<p>" not in ticket.description and ticket.district == "岱岳区"


async def test_emergency_mail_is_answered_with_the_line_and_not_ticketed(mail_client, relay) -> None:
    r, _ = relay
    m = plain_mail("wang@example.com", "救命", "<fire@example.com>", "我家楼下饭店着火了，浓烟滚滚，楼道里全是烟")
    await asend(mail_client, m, sender="wang@example.com")
    [reply] = await r.wait_for(1)
    assert "119" in reply.get_content() and await rows(mail_client, tickets) == []


async def test_a_question_the_kb_answers_is_answered(mail_client, relay) -> None:
    r, _ = relay
    m = plain_mail("zhao@example.com", "咨询", "<kb@example.com>", "请问驾驶证丢了怎么补办？")
    await asend(mail_client, m, sender="zhao@example.com")
    [reply] = await r.wait_for(1)
    assert "驾驶证" in reply.get_content() and await rows(mail_client, tickets) == []


async def test_automatic_mail_is_kept_but_never_answered(mail_client, relay) -> None:
    r, _ = relay
    m = plain_mail("someone@example.com", "自动回复：我正在休假", "<ooo@example.com>", "我正在休假，11月30日回来。",
                   Auto_Submitted="auto-replied")
    await asend(mail_client, m, sender="someone@example.com")
    bounce = (SAMPLES / "17_dsn-bounce_mailbox-full.eml").read_bytes()
    await asend(mail_client, bounce, sender="")
    await asyncio.sleep(0.5)
    assert r.received == []
    stored = await rows(mail_client, messages, messages.c.direction == "in")
    assert len(stored) == 2 and all(s.kind == "unsupported" for s in stored)
    assert await rows(mail_client, tickets) == []


async def test_auto_replies_per_sender_are_capped(mail_client, relay) -> None:
    r, _ = relay
    for i in range(5):
        m = plain_mail("loop@example.com", f"第{i}封", f"<loop{i}@example.com>",
                       f"第{i}次反映：小区门口的垃圾好几天没人清运了")
        await asend(mail_client, m, sender="loop@example.com")
    await asyncio.sleep(0.5)
    assert len(r.received) == 3  # max_auto_replies_per_hour in this test
    assert len(await rows(mail_client, messages, messages.c.direction == "in")) == 5


async def test_same_message_id_twice_is_processed_once(mail_client, relay) -> None:
    r, _ = relay
    await asend(mail_client, gbk_mail_with_photo("<dup@foxmail.com>"))
    await asend(mail_client, gbk_mail_with_photo("<dup@foxmail.com>"))
    await asyncio.sleep(0.3)
    assert len(await rows(mail_client, tickets)) == 1 and len(r.received) == 1
    assert len(await rows(mail_client, messages, messages.c.direction == "in")) == 1


async def test_foreign_recipient_is_refused_no_relay(mail_client) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
        await asend(mail_client, gbk_mail_with_photo(), rcpt="victim@elsewhere.example")
    assert exc.value.recipients["victim@elsewhere.example"][0] == 550


async def test_oversized_mail_is_refused_and_the_limit_announced(mail_client) -> None:
    def run() -> tuple[str, int]:
        with smtplib.SMTP("127.0.0.1", smtp_port(mail_client), timeout=10) as smtp:
            smtp.ehlo()
            size = smtp.esmtp_features.get("size", "")
            try:
                smtp.sendmail("big@example.com", [HOTLINE], b"Subject: big\r\n\r\n" + b"x" * 300_000)
            except smtplib.SMTPDataError as exc:
                return size, exc.smtp_code
            except smtplib.SMTPSenderRefused as exc:
                return size, exc.smtp_code
            return size, 250
    size, code = await asyncio.to_thread(run)
    assert size == "200000" and code == 552


async def test_real_world_samples_are_accepted_and_read(mail_client) -> None:
    for name in ("07_gb18030_multipart-mixed_base64_attachments.eml", "05_big5_html-only_base64_raw-8bit-subject_list.eml",
                 "03_gb2312_raw-8bit-headers_qp_spam.eml", "16_rfc2231-filename_apple-mail.eml",
                 "15_raw-8bit-attachment-filename_outlook-express.eml"):
        assert await asend(mail_client, (SAMPLES / name).read_bytes()) == {}, name
    stored = {m.external_id: m for m in await rows(mail_client, messages, messages.c.direction == "in")}
    assert len(stored) == 5
    texts = " ".join(m.text for m in stored.values())
    assert "石室诗士施氏" in texts and "台湾鑫龙商贸集团公司" in texts
    names = {a.filename for a in await rows(mail_client, attachments)}
    assert "Eelanalüüsi päring.jpg" in names and "attached-pdf-filename.pdf" in names
    kinds = {a.content_type: a.kind for a in await rows(mail_client, attachments)}
    assert kinds["image/jpeg"] == "image" and kinds["application/pdf"] == "file"


@pytest.mark.skipif(not PG_URL, reason="needs a PostgreSQL database that can be dropped under the app "
                                       "(HOTLINE_TEST_PG_URL; .ci/run sets it)")
async def test_store_failure_answers_451_so_the_sender_retries(make_client, relay, pg_database) -> None:
    import asyncpg
    _, port = relay
    client = await make_client(db_url=pg_database, email={"relay_port": port})
    admin = await asyncpg.connect(PG_URL)
    try:
        await admin.execute(f'DROP DATABASE "{pg_database.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await admin.close()
    with pytest.raises(smtplib.SMTPDataError) as exc:
        await asend(client, gbk_mail_with_photo())
    assert exc.value.smtp_code == 451


async def test_swaks_can_deliver(mail_client, tmp_path: Path) -> None:
    swaks = shutil.which("swaks")
    assert swaks, "swaks is installed by scripts/test.sh (Debian package swaks)"
    proc = await asyncio.create_subprocess_exec(
        swaks, "--server", "127.0.0.1", "--port", str(smtp_port(mail_client)), "--to", HOTLINE,
        "--from", "swaks@example.com", "--header", "Subject: =?UTF-8?B?5bCP5Yy65YGc5rC0?=",
        "--body", "肥城市新城街道幸福小区从昨天开始停水了，一直没有通知。",
        "--add-header", "Content-Type: text/plain; charset=UTF-8",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    [ticket] = await rows(mail_client, tickets)
    assert ticket.district == "肥城市" and ticket.utility is True


async def test_starttls_when_a_certificate_is_configured(make_client, relay, tmp_path) -> None:
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hotline.taian.gov.cn")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    _, port = relay
    client = await make_client(email={"relay_port": port, "tls_cert": str(tmp_path / "cert.pem"),
                                      "tls_key": str(tmp_path / "key.pem")})

    def run() -> tuple[bool, dict]:
        with smtplib.SMTP("127.0.0.1", smtp_port(client), timeout=10) as smtp:
            smtp.ehlo()
            offered = smtp.has_extn("starttls")
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # a self-signed test certificate
            smtp.starttls(context=ctx)
            smtp.ehlo()
            return offered, smtp.sendmail("tls@example.com", [HOTLINE], gbk_mail_with_photo("<tls@example.com>"))

    offered, refused = await asyncio.to_thread(run)
    assert offered and refused == {}
    assert len(await rows(client, tickets)) == 1


async def test_the_result_is_mailed_and_a_reply_rates_it(make_client, relay, db_url) -> None:
    """Art. 16 by mail: the unit's result reaches the citizen in the ticket's thread; the reply
    keyword under it is read as the rating, not as a new request, even with the mail quoted."""
    import json
    r, port = relay
    client = await make_client(db_url=db_url, email={"relay_port": port},
                               secrets={"unit_tokens": json.dumps({"urban": "urban-token-123"})})
    ticket, result_mail = await _result_mailed(client, r, "<rate1@foxmail.com>")
    text = result_mail.get_content()
    assert result_mail["Subject"].startswith(f"[12345-{ticket.number}]") and "恢复照明" in text and "满意" in text
    rating = plain_mail("zhang@example.com", "回复：" + result_mail["Subject"], "<rate2@foxmail.com>",
                        "3 不满意，路灯还是不亮\n\n在 2026年11月26日 12345 写道：\n> " + text.replace("\n", "\n> "),
                        In_Reply_To=result_mail["Message-ID"])
    await asend(client, rating)
    got = await client.app[STORE].tickets.get(ticket.number)
    [rated] = [e for e in got.events if e.kind == "rating"]
    assert rated.data["level"] == "dissatisfied" and len(await rows(client, tickets)) == 1
    answer = (await r.wait_for(3))[2]
    assert "复核" in answer.get_content()


async def test_an_emergency_inside_a_complaint_mail_keeps_the_complaint(mail_client, relay) -> None:
    r, _ = relay
    m = plain_mail("sun@example.com", "物业问题", "<both@example.com>",
                   "我想反映一下我们小区物业的问题，垃圾好几天没人清，电梯也老是坏，上个月打过电话也没人管。"
                   "另外刚才楼道里有一股很冲的煤气味，越来越浓，邻居敲门没人应")
    await asend(mail_client, m, sender="sun@example.com")
    replies = await r.wait_for(2)
    text = "".join(reply.get_content() for reply in replies)
    [ticket] = await rows(mail_client, tickets)
    assert "119" in text and ticket.number in text and ticket.source == "emergency"


async def _result_mailed(client, r, msg_id: str):
    """A citizen's ticket by mail, dispatched, answered by the unit: the result mail to rate."""
    await asend(client, gbk_mail_with_photo(msg_id))
    [ticket] = await rows(client, tickets)
    assert (ticket.status, ticket.unit_id) == ("dispatched", "urban")  # automatically (issue 17)
    auth = {"Authorization": "Bearer urban-token-123"}
    for action, body in (("accept", None), ("result", {"text": "路灯已更换，恢复照明。"})):
        resp = await client.post(f"/api/v1/unit/tickets/{ticket.number}/{action}", json=body, headers=auth)
        assert resp.status == 200, await resp.text()
    return ticket, (await r.wait_for(2))[1]


async def test_a_forged_from_cannot_rate_someone_elses_ticket(make_client, relay, db_url) -> None:
    """Anyone can write From: <victim>. Without the victim's envelope (or a DKIM signature that
    verifies) the mail is a new request of its own, never a rating of the victim's ticket."""
    import json
    r, port = relay
    client = await make_client(db_url=db_url, email={"relay_port": port},
                               secrets={"unit_tokens": json.dumps({"urban": "urban-token-123"})})
    ticket, result_mail = await _result_mailed(client, r, "<forge1@foxmail.com>")
    forged = plain_mail("zhang@example.com", "回复：" + result_mail["Subject"], "<forge2@evil.example>",
                        "1 满意", In_Reply_To=result_mail["Message-ID"])
    await asend(client, forged, sender="attacker@evil.example")
    got = await client.app[STORE].tickets.get(ticket.number)
    assert [e for e in got.events if e.kind == "rating"] == [] and got.status == "resolved"
    [stored] = await rows(client, messages, messages.c.external_id == "<forge2@evil.example>")
    assert stored.payload["mail_auth"]["may_act_on_tickets"] is False


async def test_a_dkim_signature_that_does_not_verify_cannot_act(make_client, relay, db_url) -> None:
    import json

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.dns_standin import shared_dns
    r, port = relay
    client = await make_client(db_url=db_url, email={"relay_port": port},
                               secrets={"unit_tokens": json.dumps({"urban": "urban-token-123"})})
    ticket, result_mail = await _result_mailed(client, r, "<dkim1@foxmail.com>")
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64
    shared_dns().txt["s1._domainkey.example.com"] = [b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)]

    def signed(body: str, msg_id: str) -> bytes:
        from email.policy import SMTP
        m = plain_mail("zhang@example.com", "回复：" + result_mail["Subject"], msg_id, body,
                       In_Reply_To=result_mail["Message-ID"])
        raw = m.as_bytes(policy=SMTP)
        return dkim.sign(raw, b"s1", b"example.com", pem, include_headers=[b"from", b"subject", b"message-id"]) + raw

    tampered = signed("1 满意", "<dkim2@example.com>").replace("1 满意".encode(), "5 满意".encode())
    await asend(client, tampered, sender="zhang@example.com")
    got = await client.app[STORE].tickets.get(ticket.number)
    assert [e for e in got.events if e.kind == "rating"] == []
    await asend(client, signed("3 不满意，还是不亮", "<dkim3@example.com>"), sender="zhang@example.com")
    got = await client.app[STORE].tickets.get(ticket.number)
    [rated] = [e for e in got.events if e.kind == "rating"]
    assert rated.data["level"] == "dissatisfied"
    assert "s1._domainkey.example.com" in shared_dns().queries


async def test_a_mail_without_any_sender_is_kept_under_a_visible_unknown_contact(mail_client) -> None:
    m = EmailMessage()
    m["To"], m["Subject"], m["Message-ID"] = HOTLINE, "路灯", "<nofrom@example.com>"
    m.set_content("小区门口的路灯坏了好几天了")
    await asend(mail_client, m, sender="")
    from gateway.store.schema import contacts
    assert [c.external_user for c in await rows(mail_client, contacts)] == ["unknown-sender@invalid"]


async def test_a_mailed_question_gets_a_numbered_choice_and_the_reply_number_answers_it(mail_client, relay) -> None:
    """Issue 14 by mail: 「您是想问」 as a numbered list; the citizen replies with the number, the quoted
    list under it notwithstanding, and gets the chosen entry's answer."""
    r, _ = relay
    await mail_client.app[KB].save(load_entries(PROJECT_ROOT / "config" / "kb" / "seed_kb.yaml"), author="test")
    await asend(mail_client, plain_mail("li@example.com", "咨询", "<kbq1@example.com>", "请问社保卡的事应该咋办理"),
                sender="li@example.com")
    [offer] = await r.wait_for(1)
    text = offer.get_content()
    assert "您是想问" in text and "请回复序号 1、2、3" in text
    line = next(x for x in text.splitlines() if "丢" in x and x[:1].isdigit())
    pick = plain_mail("li@example.com", "回复：" + offer["Subject"], "<kbq2@example.com>",
                      line[0] + "\n\n在 2026年12月1日 12345 写道：\n> " + text.replace("\n", "\n> "),
                      In_Reply_To=offer["Message-ID"])
    await asend(mail_client, pick, sender="li@example.com")
    answer = (await r.wait_for(2))[1]
    assert "挂失" in answer.get_content() and not await rows(mail_client, tickets)
