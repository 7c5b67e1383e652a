"""What a handling unit sees of a ticket, whichever door it comes through (the unit portal or the units'
token API): one allow-list, so a field added to an event elsewhere never reaches a unit by default.

A unit needs the request, the decisions about its work and the citizen's follow-ups; it does not need
the contact an agent typed in (Art. 28: an anonymous citizen stays anonymous, and the portal reveals a
contact only on an audited click), nor the hotline's internal bookkeeping (dispatch proposals, links
between citizens' tickets, which agent did what). Free text is masked: citizens and agents put phone
and ID numbers anywhere.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from gateway.store.tickets import TicketEvent, TicketRecord, named_messages
from nlu.pii import find, mask_phone

_MASKED_KINDS = frozenset({"phone", "id_card", "bank_card", "email", "name"})
# Events whose data name the citizen's message: its attachments are this ticket's citizen media.
_MESSAGE_KINDS = frozenset({"created", "citizen_message", "citizen_media", "media_text", "repeat"})


def mask_numbers(text: str | None) -> str | None:
    """Phone, ID, card numbers, e-mail addresses and names given as such in free text, masked; places
    stay readable (the unit must find the street light)."""
    if not text or not isinstance(text, str):
        return text
    out, pos = [], 0
    for span in find(text):
        if span.kind in _MASKED_KINDS:
            out.append(text[pos:span.start])
            out.append(mask_phone(span.text) if span.kind == "phone" else mask_name(span.text)
                       if span.kind == "name" else span.text[:2] + "****")
            pos = span.end
    out.append(text[pos:])
    return "".join(out)


def mask_name(name: str | None) -> str | None:
    return name[0] + "*" * (len(name) - 1) if name else name


def may_open(file_unit: str | None, unit_id: str) -> bool:
    """A unit opens (and is shown) only the files its own people uploaded: the download rule and the
    lists agree, so no unit sees names of files it would get 404 on."""
    return file_unit is not None and file_unit == unit_id


Field = Callable[[Any], Any]


def _keep(value: Any) -> Any:
    return value


def _masked_diff(value: Any) -> Any:
    if isinstance(value, dict):
        return {"from": mask_numbers(value.get("from")), "to": mask_numbers(value.get("to"))}
    return None


_UNIT_ACTION: dict[str, Field] = {"text": mask_numbers, "days": _keep, "material": mask_numbers, "unit": _keep,
                                  "status": _keep}
_DECISION: dict[str, Field] = {"note": mask_numbers, "due_date": _keep}
# kind -> the data fields a unit sees and how. A kind not named here is left out of the unit's trail.
_ALLOWED: dict[str, dict[str, Field]] = {
    "created": {"source": _keep, "channel": _keep},
    "dispatched": {"unit": _keep, "due_date": _keep, "reason": mask_numbers, "cooperating": _keep},
    **{kind: _UNIT_ACTION for kind in ("accept", "return", "progress", "result", "extension", "termination")},
    **{f"{r}_{d}": _DECISION for r in ("extension", "termination") for d in ("approved", "rejected")},
    "rehandle": {"status": _keep, "note": mask_numbers, "due_date": _keep},
    "close": {"status": _keep, "note": mask_numbers},
    "rating": {"level": _keep, "solved": _keep, "note": mask_numbers},
    "status_changed": {"status": _keep},
    "supervision": {"method": _keep, "note": mask_numbers, "unit": _keep},
    # An agent's edit: what the matter is, never who the citizen is (contact fields are not listed).
    "updated": {"request_type": _keep, "category": _keep, "district": _keep, "status": _keep,
                "location": _masked_diff, "description": _masked_diff},
    "citizen_message": {"text": mask_numbers},
    "citizen_media": {"attachments": _keep},
    "media_text": {"text": mask_numbers},   # what a photo the citizen sent says (issue 18)
    "repeat": {},
}
# Events that mean nothing without their data (an edit of the contact only) are left out entirely.
_EMPTY_MEANS_NOTHING = frozenset({"updated"})


def _actor(actor: str) -> str:
    """Agents stay the hotline to a unit: which agent did something is the hotline's business."""
    return "agent" if actor.startswith("agent:") else actor


def unit_trail(events: Iterable[TicketEvent], unit_id: str) -> list[dict[str, Any]]:
    """The ticket's trail as unit `unit_id` may see it (the portal and the token API both call this)."""
    out = []
    for e in events:
        fields = _ALLOWED.get(e.kind)
        if fields is None:
            continue
        given = e.data or {}
        data = {name: how(given[name]) for name, how in fields.items() if name in given}
        if e.kind in _EMPTY_MEANS_NOTHING and not data:
            continue
        files = given.get("files")
        if fields is _UNIT_ACTION and files and may_open(given.get("unit"), unit_id):
            data["files"] = [{k: f.get(k) for k in ("id", "filename", "content_type", "size")}
                             for f in files if isinstance(f, dict)]
        out.append({"at": e.at.isoformat(), "actor": _actor(e.actor), "kind": e.kind, "data": data})
    return out


def citizen_message_ids(events: Iterable[TicketEvent]) -> list[int]:
    """The citizen's messages recorded on this ticket (the one that opened it, follow-ups, media, repeats):
    their attachments are what the unit may see, never those of another ticket of the same chat."""
    return [m for e in events if e.kind in _MESSAGE_KINDS for m in named_messages(e.data)]


def position_for_unit(position: dict[str, Any] | None, anonymous: bool) -> dict[str, Any] | None:
    """Where the citizen's photo was taken, as a unit may see it: for an anonymous citizen only the district
    (the photo is often taken at home, and the position would name them)."""
    if not position or not anonymous:
        return position
    return {"district": position["district"]} if position.get("district") else None


def ticket_for_unit(ticket: TicketRecord, unit_id: str, with_events: bool = True) -> dict[str, Any]:
    """The token API's ticket: free text masked, the trail through `unit_trail`. A citizen who asked to
    stay anonymous is anonymous to the handling unit too (Art. 28): the hotline keeps the contact for the
    callback, the unit answers through the hotline."""
    data = ticket.as_json(with_events=False)
    data["description"] = mask_numbers(ticket.description)
    data["location"] = mask_numbers(ticket.location)
    if ticket.anonymous:
        data["contact_name"] = data["contact_phone"] = None
        data["reported_position"] = position_for_unit(ticket.reported_position, anonymous=True)
    if with_events:
        data["events"] = unit_trail(ticket.events, unit_id)
    return data
