"""The hotline's one clock: every "now" and every "today" in the app comes from here.

Deadlines, ticket numbers and the supervision colours are counted in the
hotline's local day (Asia/Shanghai by default), while the host may run in UTC;
mixing the two made dates differ between 16:00 and 24:00 UTC. The clock is
injected so tests and demos can run the whole app at any time of day: a clock
started at a given instant keeps ticking from there (an offset from the real
time), so timeouts and ordering still behave.

Signature freshness checks of platform webhooks (WeChat, IVR) keep the real
wall clock on purpose: they compare with the platform's clock, not ours.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Asia/Shanghai"


class ClockError(ValueError):
    """A timezone or start instant that cannot be used."""


@dataclass(frozen=True)
class Clock:
    tz: dt.tzinfo
    offset: dt.timedelta = dt.timedelta(0)

    @classmethod
    def create(cls, timezone: str = DEFAULT_TIMEZONE, start_at: str = "") -> "Clock":
        """A clock in `timezone`; with `start_at` (ISO 8601, naive means local) it starts there."""
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ClockError(f"unknown timezone {timezone!r}") from exc
        if not start_at:
            return cls(tz)
        try:
            start = dt.datetime.fromisoformat(start_at)
        except ValueError as exc:
            raise ClockError(f"start_at is not an ISO 8601 date-time: {start_at!r}") from exc
        if start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        return cls(tz, start - dt.datetime.now(dt.timezone.utc))

    def now(self) -> dt.datetime:
        """The current instant, timezone-aware in UTC (what the store records)."""
        return dt.datetime.now(dt.timezone.utc) + self.offset

    def local_now(self) -> dt.datetime:
        return self.now().astimezone(self.tz)

    def today(self) -> dt.date:
        """The hotline's current local day: the day deadlines and ticket numbers are counted in."""
        return self.local_now().date()

    def local_day(self, instant: dt.datetime) -> dt.date:
        return instant.astimezone(self.tz).date()


SYSTEM_CLOCK = Clock(ZoneInfo(DEFAULT_TIMEZONE))
