"""Who in a handling unit may do what (Art. 15).

`staff` do the daily work: accept, return a wrongly dispatched ticket (within the window), record
progress, answer with the result. Asking the hotline to extend the deadline (Art. 15(4)) or to end the
handling (Art. 15(5)(6)) is the unit's formal application and moves or ends its obligation: only the
unit's `head` files it. A unit's API token acts for the unit as a whole and may do everything.
"""

from __future__ import annotations

ROLES = ("staff", "head")
ROLE_ZH = {"staff": "经办人", "head": "单位负责人"}
HEAD_ONLY = frozenset({"extension", "termination"})
UNIT_ACTIONS = ("accept", "return", "progress", "result", "extension", "termination")


def may(role: str, action: str) -> bool:
    if role not in ROLES or action not in UNIT_ACTIONS:
        return False
    return role == "head" or action not in HEAD_ONLY
