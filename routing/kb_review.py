"""When a unit's knowledge-base entry needs checking again (Art. 8(4): units keep their KB content
true; Art. 19(4): late or poor upkeep is supervised).

An entry is checked every REVIEW_DAYS; it shows as due soon WARN_DAYS before, and as overdue after.
An entry never reviewed is overdue: nobody has vouched for it yet.
"""

from __future__ import annotations

import datetime as dt

REVIEW_DAYS = 180
WARN_DAYS = 30
STATE_ZH = {"overdue": "已过审核期", "soon": "即将到期", "ok": "正常"}


def due(review_due: dt.date | None, reviewed_at: dt.date | None) -> dt.date | None:
    if review_due is not None:
        return review_due
    return reviewed_at + dt.timedelta(days=REVIEW_DAYS) if reviewed_at is not None else None


def state(due_on: dt.date | None, today: dt.date) -> str:
    if due_on is None or due_on < today:
        return "overdue"
    if due_on <= today + dt.timedelta(days=WARN_DAYS):
        return "soon"
    return "ok"


def next_review(today: dt.date) -> dt.date:
    return today + dt.timedelta(days=REVIEW_DAYS)
