"""Table definitions (SQLAlchemy Core). Alembic migrations are written against these.

The same schema runs on SQLite (default, one machine) and PostgreSQL
(production). Timestamps are stored as UTC; `UTCDateTime` makes SQLite, which
has no time-zone type, hand back aware datetimes like PostgreSQL does.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

from routing.lifecycle import STATUSES

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _pk() -> sa.Column[int]:
    return sa.Column("id", Id, primary_key=True, autoincrement=True)


def _created() -> sa.Column[datetime]:
    return sa.Column("created_at", UTCDateTime(), nullable=False)


contacts = sa.Table(
    "contacts", metadata,
    _pk(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("external_user", sa.String(255), nullable=False),
    sa.Column("display_name", sa.String(255)),
    sa.Column("phone", sa.String(32)),
    _created(),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    # Art. 32: a supervisor may stop accepting a contact's messages (still stored; emergencies answered).
    sa.Column("blocked_at", UTCDateTime()),
    sa.Column("blocked_by", sa.String(64)),
    sa.Column("blocked_reason", sa.String(255)),
    sa.UniqueConstraint("channel", "external_user"),
)

CONVERSATION_STATES = ("bot", "waiting_for_agent", "agent", "closed")

conversations = sa.Table(
    "conversations", metadata,
    _pk(),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id"), nullable=False),
    sa.Column("state", sa.String(24), nullable=False, server_default="bot"),
    sa.Column("agent_id", sa.String(64)),
    sa.Column("emergency", sa.Boolean, nullable=False, server_default=sa.false()),
    _created(),
    sa.Column("closed_at", UTCDateTime()),
    # When the citizen (or the bot) last asked for a human: agents count the wait from here.
    sa.Column("handoff_at", UTCDateTime()),
    # The special seat (Art. 17, routing/seats.py) whose agents' waiting list it joins, or NULL.
    sa.Column("seat", sa.String(16)),
    sa.CheckConstraint(
        "state IN ('bot', 'waiting_for_agent', 'agent', 'closed')", name="state"
    ),
    # At most one open conversation per channel key; closed ones are history.
    sa.Index(
        "uq_conversations_open_key", "channel", "key", unique=True,
        sqlite_where=sa.text("state != 'closed'"), postgresql_where=sa.text("state != 'closed'"),
    ),
)

messages = sa.Table(
    "messages", metadata,
    _pk(),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), nullable=False, index=True),
    sa.Column("direction", sa.String(3), nullable=False),  # in | out
    sa.Column("channel", sa.String(16), nullable=False),
    # Platform delivery id for inbound messages; NULL for outbound ones (NULLs never collide).
    sa.Column("external_id", sa.String(255)),
    sa.Column("in_reply_to", Id, sa.ForeignKey("messages.id"), index=True),
    sa.Column("sender_role", sa.String(16), nullable=False),  # citizen | bot | agent | system
    sa.Column("author", sa.String(64)),  # agent username for agent messages
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("payload", sa.JSON),  # buttons, ticket number, emergency lines...
    sa.Column("triage", sa.JSON),
    sa.Column("raw", sa.Text),  # the platform payload as received
    sa.Column("received_at", UTCDateTime(), nullable=False),
    _created(),
    sa.UniqueConstraint("channel", "external_id"),
    sa.CheckConstraint("direction IN ('in', 'out')", name="direction"),
)

attachments = sa.Table(
    "attachments", metadata,
    _pk(),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("content_type", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(255), nullable=False),
    sa.Column("filename", sa.String(255)),
    sa.Column("meta", sa.JSON),
    _created(),
)

# What was read from an image or video (issue 18): a durable queue (pending rows survive a restart and are
# read then) and the result. `text` is masked for personal data; the raw text lives only in memory, for
# triage. `applied`: the message's answer has taken the reading into account (once, by one process).
media_readings = sa.Table(
    "media_readings", metadata,
    sa.Column("attachment_id", Id, sa.ForeignKey("attachments.id"), primary_key=True),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),  # pending | done | failed
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_until", UTCDateTime()),
    sa.Column("text", sa.Text, nullable=False, server_default=""),
    sa.Column("confidence", sa.Float),
    sa.Column("result", sa.JSON),
    sa.Column("applied", sa.Boolean, nullable=False, server_default=sa.false()),
    _created(),
    sa.Column("done_at", UTCDateTime()),
    sa.CheckConstraint("state IN ('pending', 'done', 'failed')", name="state"),
    sa.Index("ix_media_readings_state_lease", "state", "lease_until"),
)

TICKET_STATUSES = STATUSES  # routing/lifecycle.py owns them
OPEN_STATUSES = ("open", "dispatched", "in_progress")  # still being worked on
REQUEST_TYPES = ("consultation", "help", "complaint", "report", "suggestion")

tickets = sa.Table(
    "tickets", metadata,
    _pk(),
    sa.Column("number", sa.String(32), nullable=False, unique=True),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), index=True),
    sa.Column("contact_id", Id, sa.ForeignKey("contacts.id")),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("source", sa.String(16), nullable=False),  # bot | fallback | agent | api | email
    sa.Column("request_type", sa.String(16)),
    sa.Column("category", sa.String(64)),
    sa.Column("district", sa.String(32)),
    sa.Column("location", sa.Text),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("contact_name", sa.String(64)),
    sa.Column("contact_phone", sa.String(32), index=True),
    sa.Column("anonymous", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("utility", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("unit_id", sa.String(32), index=True),  # the lead handling unit (routing/units)
    sa.Column("due_date", sa.Date),                   # in working days (routing/deadlines)
    # Where a photo the citizen sent was taken (EXIF GPS): latitude, longitude, district when known.
    sa.Column("reported_position", sa.JSON),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(
        "status IN ('open', 'dispatched', 'in_progress', 'resolved', 'closed', 'terminated')", name="status"
    ),
    sa.Index("ix_tickets_status_created", "status", "created_at"),
    # Repeats are looked for among one citizen's tickets, same-problem links among the latest of one
    # category and district: both bounded, indexed lookups (never a scan of every recent ticket).
    sa.Index("ix_tickets_contact", "contact_id", "id"),
    sa.Index("ix_tickets_category_district", "category", "district", "id"),
)

# Append-only: the migration installs triggers that refuse UPDATE and DELETE.
ticket_events = sa.Table(
    "ticket_events", metadata,
    _pk(),
    sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),  # citizen | bot | system | agent:<name> | unit:<id>
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),  # shown to the citizen
    sa.Column("data", sa.JSON),
)

ticket_counters = sa.Table(
    "ticket_counters", metadata,
    sa.Column("day", sa.String(8), primary_key=True),
    sa.Column("last", sa.Integer, nullable=False),
)

emergency_referrals = sa.Table(
    "emergency_referrals", metadata,
    _pk(),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False, unique=True),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), nullable=False, index=True),
    sa.Column("lines", sa.JSON, nullable=False),
    sa.Column("reason", sa.String(64), nullable=False),
    _created(),
    sa.Column("acknowledged_by", sa.String(64)),
    sa.Column("acknowledged_at", UTCDateTime()),
)

OUTBOX_STATUSES = ("pending", "sent", "failed")

outbox = sa.Table(
    "outbox", metadata,
    _pk(),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False, unique=True),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("recipient", sa.String(255), nullable=False),
    sa.Column("conversation_key", sa.String(255), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UTCDateTime(), nullable=False),
    sa.Column("last_error", sa.Text),
    _created(),
    sa.Column("sent_at", UTCDateTime()),
    sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)

KB_STATUSES = ("draft", "published", "archived")

# A knowledge-base entry; its text lives in versions, so an edit never destroys the previous text.
kb_entries = sa.Table(
    "kb_entries", metadata,
    _pk(),
    sa.Column("key", sa.String(64), nullable=False, unique=True),  # e.g. kb-0001
    sa.Column("status", sa.String(16), nullable=False, server_default="draft"),
    sa.Column("version", sa.Integer, nullable=False),  # the current version number
    sa.Column("valid_from", sa.Date),
    sa.Column("valid_to", sa.Date),
    sa.Column("reviewed_at", sa.Date),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
)

kb_versions = sa.Table(
    "kb_versions", metadata,
    _pk(),
    sa.Column("entry_id", Id, sa.ForeignKey("kb_entries.id"), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("question", sa.Text, nullable=False),
    sa.Column("alternates", sa.JSON, nullable=False),
    sa.Column("answer", sa.Text, nullable=False),
    sa.Column("department", sa.String(128)),
    sa.Column("category", sa.String(64)),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    _created(),
    sa.UniqueConstraint("entry_id", "version"),
)

# 「您是想问」: the entries offered for a question and what the citizen picked. A pending row (not settled)
# is read when the next message arrives; settled rows are labelled data for calibrating the KB's thresholds.
kb_choices = sa.Table(
    "kb_choices", metadata,
    _pk(),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), nullable=False),
    sa.Column("message_id", Id, sa.ForeignKey("messages.id"), nullable=False),  # the question
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("candidates", sa.JSON, nullable=False),  # entry keys in the order offered
    _created(),
    sa.Column("settled_at", UTCDateTime()),
    # The key picked, "none" for 「都不是」, "ignored" when the citizen went on with something else.
    sa.Column("outcome", sa.String(64)),
    sa.Index("ix_kb_choices_pending", "conversation_id", "settled_at"),
)

# Platform access tokens shared by every gateway process (WeChat's expire after 2 hours and a new one
# invalidates the old: one place must hold the current token).
platform_tokens = sa.Table(
    "platform_tokens", metadata,
    sa.Column("platform", sa.String(16), primary_key=True),
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("token", sa.Text, nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

AGENT_ROLES = ("agent", "supervisor")

agents = sa.Table(
    "agents", metadata,
    _pk(),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime()),
    _created(),
    # Special seats (Art. 17): e.g. ["legal", "enterprise"]; NULL for a general seat.
    sa.Column("skills", sa.JSON),
    sa.CheckConstraint("role IN ('agent', 'supervisor')", name="role"),
)

agent_sessions = sa.Table(
    "agent_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # the cookie's SHA-256; the token is never stored
    sa.Column("agent_id", Id, sa.ForeignKey("agents.id"), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    _created(),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

# Who did what, when, for every agent action (takeover, reply, hand-back, close, login).
audit_log = sa.Table(
    "audit_log", metadata,
    _pk(),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), index=True),
    sa.Column("data", sa.JSON),
)

# --- handling units' staff (Art. 8(1), 15) -----------------------------------------------------------

UNIT_ROLES = ("staff", "head")

# A handling unit's own accounts: `staff` work tickets, `head` also files extension and termination
# requests (the unit's formal applications to the hotline, Art. 15(4)-(6)). The unit is an id from
# config/units.yaml; a user only ever sees that unit's tickets.
unit_users = sa.Table(
    "unit_users", metadata,
    _pk(),
    sa.Column("unit_id", sa.String(32), nullable=False, index=True),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("display_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UTCDateTime()),
    _created(),
    sa.CheckConstraint("role IN ('staff', 'head')", name="role"),
)

unit_sessions = sa.Table(
    "unit_sessions", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),  # the cookie's SHA-256
    sa.Column("user_id", Id, sa.ForeignKey("unit_users.id"), nullable=False, index=True),
    sa.Column("csrf", sa.String(64), nullable=False),
    _created(),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)

# Files a unit attaches to its result, progress or termination material (images, PDF), stored in the
# media store; `event_at` is set when an action names them (a file is used once).
ticket_files = sa.Table(
    "ticket_files", metadata,
    _pk(),
    sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), nullable=False, index=True),
    sa.Column("unit_id", sa.String(32), nullable=False),
    sa.Column("uploaded_by", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("content_type", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("storage_key", sa.String(255), nullable=False),
    sa.Column("filename", sa.String(255)),
    _created(),
    sa.Column("used_in", sa.String(32)),  # the action that attached it
)

# Art. 8(4), 19(4): each KB entry has an owning unit and a next review date (added by migration 0009).
kb_entries.append_column(sa.Column("unit_id", sa.String(32), index=True))
kb_entries.append_column(sa.Column("review_due", sa.Date))
kb_entries.append_column(sa.Column("reviewed_by", sa.String(64)))
# Agents' internal notes on a conversation: never sent to the citizen, shown to agents in the transcript.
conversation_notes = sa.Table(
    "conversation_notes", metadata,
    _pk(),
    sa.Column("conversation_id", Id, sa.ForeignKey("conversations.id"), nullable=False, index=True),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    _created(),
)

# The team's canned replies (快捷回复): kept by supervisors, used by every agent ("/shortcut" in the composer).
canned_replies = sa.Table(
    "canned_replies", metadata,
    _pk(),
    sa.Column("shortcut", sa.String(32), nullable=False, unique=True),
    sa.Column("title", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("author", sa.String(64), nullable=False),
    _created(),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# --- analysis and active governance (Art. 22-25, migration 0012) --------------------------------------

# One row per (ticket, unit it was dispatched to), derived from the trail by routing.analysis.facts and
# refreshed incrementally (gateway/store/analysis.py): what unit evaluation counts.
ticket_facts = sa.Table(
    "ticket_facts", metadata,
    sa.Column("ticket_id", Id, sa.ForeignKey("tickets.id"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("unit_id", sa.String(32), nullable=False),  # "" for a ticket never dispatched
    sa.Column("first", sa.Boolean, nullable=False),
    sa.Column("day", sa.Date, nullable=False),            # local day the ticket was received
    sa.Column("category", sa.String(64)),
    sa.Column("district", sa.String(32)),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("accepted", sa.Boolean, nullable=False),
    sa.Column("accepted_in_time", sa.Boolean, nullable=False),
    sa.Column("returned", sa.Boolean, nullable=False),
    sa.Column("extensions", sa.Integer, nullable=False),
    sa.Column("rehandles", sa.Integer, nullable=False),
    sa.Column("resolved", sa.Boolean, nullable=False),
    sa.Column("on_time", sa.Boolean, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.Column("rating", sa.String(24)),
    sa.Column("first_contact", sa.Boolean, nullable=False),
    sa.Column("handling_hours", sa.Float),
    sa.Column("hours_bucket", sa.SmallInteger),           # routing.analysis.facts.hours_bucket
    sa.Column("due_date", sa.Date),
    sa.Column("open", sa.Boolean, nullable=False),
    sa.Column("done_day", sa.Date),
    sa.Column("rated_day", sa.Date),
    sa.Index("ix_ticket_facts_unit_day", "unit_id", "day"),
    sa.Index("ix_ticket_facts_day", "day"),
    sa.Index("ix_ticket_facts_due", "due_date", "unit_id"),
    sa.Index("ix_ticket_facts_rated", "rated_day", "unit_id"),
    sa.Index("ix_ticket_facts_open", "open", "due_date"),
)

# Sums of ticket_facts per received day, unit, category and district: what the dashboard reads.
ANALYSIS_COUNTS = ("tickets", "received", "accepted", "accepted_in_time", "returned", "extensions", "rehandles",
                   "resolved", "on_time", "late", "satisfied", "basically_satisfied", "dissatisfied", "first_contact")
analysis_daily = sa.Table(
    "analysis_daily", metadata,
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("unit_id", sa.String(32), primary_key=True),
    sa.Column("category", sa.String(64), primary_key=True),  # "" when unknown
    sa.Column("district", sa.String(32), primary_key=True),  # "" when unknown
    *[sa.Column(c, sa.Integer, nullable=False, server_default="0") for c in ANALYSIS_COUNTS],
    sa.Column("handling_hours", sa.Float, nullable=False, server_default="0"),
)

# How many of a unit's tickets of a week (received from that Monday) took how long (log-spaced buckets
# of the hours from dispatch to the first result): the median over a long period without sorting every ticket.
analysis_hours = sa.Table(
    "analysis_hours", metadata,
    sa.Column("week", sa.Date, primary_key=True),
    sa.Column("unit_id", sa.String(32), primary_key=True),
    sa.Column("bucket", sa.SmallInteger, primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
)

# Watermarks of incremental work (the last ticket event folded into ticket_facts, ...).
analysis_state = sa.Table(
    "analysis_state", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

# Risk warnings (Art. 24) with their evidence; one open warning per key until a supervisor closes it.
risk_warnings = sa.Table(
    "risk_warnings", metadata,
    _pk(),
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("key", sa.String(255), nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("district", sa.String(32)),
    sa.Column("category", sa.String(64)),
    sa.Column("unit_id", sa.String(32)),
    sa.Column("p_value", sa.Float),
    sa.Column("evidence", sa.JSON, nullable=False),
    _created(),
    sa.Column("closed_at", UTCDateTime()),
    sa.Column("closed_by", sa.String(64)),
    sa.Index("ix_risk_warnings_key", "key", "closed_at"),
    sa.Index("ix_risk_warnings_day", "day"),
)

# Results too costly to compute per request (hot topics, the outlook), recomputed in the background.
analysis_snapshots = sa.Table(
    "analysis_snapshots", metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("computed_at", UTCDateTime(), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
)
