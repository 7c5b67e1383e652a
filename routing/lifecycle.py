"""The ticket lifecycle (Art. 14-16) as a table: which action moves which status where, and who may.

Anything not in the table is refused with a clear reason; every transition is an event in the
ticket's audit trail (the store writes it in the same transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

# action: (allowed from, to, public event text for the citizen or None)
TRANSITIONS: dict[str, tuple[frozenset[str], str | None, str | None]] = {
    "accept": (frozenset({"dispatched"}), "in_progress", "承办单位已受理，正在办理"),
    "return": (frozenset({"dispatched"}), "open", None),            # wrongly dispatched: back to dispatch
    "progress": (frozenset({"in_progress"}), None, "承办单位更新了办理进展"),
    "result": (frozenset({"in_progress"}), "resolved", "承办单位已答复办理结果"),
    # Requests a supervisor decides on (Art. 15(4)-(6)); the status changes only when approved.
    "extension": (frozenset({"in_progress"}), None, None),
    "termination": (frozenset({"in_progress"}), None, None),
}


class TransitionRefused(Exception):
    def __init__(self, action: str, status: str) -> None:
        allowed = "、".join(sorted(TRANSITIONS[action][0])) if action in TRANSITIONS else ""
        super().__init__(f"'{action}' is not allowed while the ticket is {status} (allowed from: {allowed})")
        self.action, self.status = action, status


@dataclass(frozen=True)
class Step:
    action: str
    to: str | None
    public_text: str | None


def step(action: str, status: str) -> Step:
    if action not in TRANSITIONS:
        raise TransitionRefused(action, status)
    allowed, to, text = TRANSITIONS[action]
    if status not in allowed:
        raise TransitionRefused(action, status)
    return Step(action, to, text)
