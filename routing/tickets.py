"""A ticket before it is stored: what the citizen asked for, and what planning adds (Art. 13-14).

Every way a ticket is opened builds one of these (the pipeline, the tickets API the bot uses, the
agents' console) and hands it to `routing.intake.TicketIntake`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True, slots=True)
class TicketDraft:
    description: str
    channel: str
    source: str
    conversation_id: int | None = None
    contact_id: int | None = None
    request_type: str | None = None
    category: str | None = None
    district: str | None = None
    location: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    anonymous: bool = False
    utility: bool = False
    # Filled in by dispatch planning (routing.planner): the lead unit when the proposal is
    # clear enough to dispatch at once, the due date, and the proposal for the audit trail.
    unit_id: str | None = None
    due_date: date | None = None
    dispatch: dict[str, Any] | None = None
