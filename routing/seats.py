"""Special seats (Art. 17: 法律服务、涉企服务等专席): which conversations a skilled agent's own waiting list
takes, read from the triage of what the citizen wrote."""

from __future__ import annotations

from typing import Any, Mapping

SEATS = {"legal": "法律服务专席", "enterprise": "涉企服务专席"}
# Level-1 categories of the taxonomy each seat serves; a matter already in a legal channel is the legal seat's.
_CATEGORIES = {"政法": "legal", "经济管理": "enterprise"}


def seat_for(triage: Mapping[str, Any] | None) -> str | None:
    """The seat a conversation waiting for a human belongs to, or None for the general queue."""
    if not triage:
        return None
    if triage.get("disposition") == "legal_channel":
        return "legal"
    return _CATEGORIES.get(triage.get("category") or "")
