"""The ticket lifecycle (Art. 14-16) as a table: which action moves which status where, and who may.

Anything not in the table is refused with a clear reason; every transition is an event in the
ticket's audit trail (the store writes it in the same transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("open", "dispatched", "in_progress", "resolved", "closed", "terminated")
# A result exists (resolved) or handling has ended: a new message is not part of the handling any more.
FINISHED = frozenset({"resolved", "closed", "terminated"})
# Nothing more happens to it: not linked to, not reopened by a new report.
ENDED = frozenset({"closed", "terminated"})
# What the citizen reads about a status.
STATUS_ZH = {"open": "已受理", "dispatched": "已派单", "in_progress": "办理中", "resolved": "已办结，待回访",
             "closed": "已办结", "terminated": "已终止办理"}

# action: (allowed from, to, public event text for the citizen or None). Every status change of a
# ticket goes through `step` with one of these; the store applies the result in the same transaction.
TRANSITIONS: dict[str, tuple[frozenset[str], str | None, str | None]] = {
    "assign": (frozenset({"open"}), "dispatched", None),            # dispatch, by rule or by an agent
    "accept": (frozenset({"dispatched"}), "in_progress", "承办单位已受理，正在办理"),
    "return": (frozenset({"dispatched"}), "open", None),            # wrongly dispatched: back to dispatch
    "progress": (frozenset({"in_progress"}), None, "承办单位更新了办理进展"),
    "result": (frozenset({"in_progress"}), "resolved", "承办单位已答复办理结果"),
    # Requests a supervisor decides on (Art. 15(4)-(6)); the status changes only when approved.
    "extension": (frozenset({"in_progress"}), None, None),
    "termination": (frozenset({"in_progress"}), None, None),
    "approve_extension": (frozenset({"in_progress"}), None, None),  # the due date moves
    "reject_extension": (frozenset({"in_progress"}), None, None),
    "approve_termination": (frozenset({"in_progress"}), "terminated", None),
    "reject_termination": (frozenset({"in_progress"}), None, None),
    # Art. 16: a satisfied (or basically satisfied) rating closes; a dissatisfied one waits for a supervisor.
    "rate_satisfied": (frozenset({"resolved"}), "closed", None),
    "rate_dissatisfied": (frozenset({"resolved"}), None, None),
    "rehandle": (frozenset({"resolved"}), "dispatched", None),
    "close": (frozenset({"resolved"}), "closed", None),
}


class TransitionRefused(Exception):
    def __init__(self, action: str, status: str) -> None:
        allowed = "、".join(sorted(TRANSITIONS[action][0])) if action in TRANSITIONS else ""
        super().__init__(f"'{action}' is not allowed while the ticket is {status} (allowed from: {allowed})")
        self.action, self.status = action, status


class RequestPending(TransitionRefused):
    """A unit asks for an extension or termination while its previous request of that kind still
    waits for a supervisor: the supervisor must decide on the request they read, not a newer one."""

    def __init__(self, request: str) -> None:
        super().__init__(request, "awaiting a decision on the previous request")
        self.request = request


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
