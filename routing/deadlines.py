"""Deadlines in working days, with China's public holidays and adjusted working days.

The chinese-calendar package knows every year the State Council had announced when it was released;
for later years the operators list the schedule in `config/holidays.yaml`. With neither, the year is
counted provisionally (weekends and the holidays fixed by law, `routing.statutory_holidays`) and a
warning is logged; `/healthz` and the supervisor's screen show until when the calendar is known and
warn `WARN_DAYS` ahead, so operators add the State Council's schedule before it is needed.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar
import yaml

from routing.statutory_holidays import statutory_holidays

log = logging.getLogger(__name__)

WARN_DAYS = 60
PACKAGE_LAST_YEAR = max(chinese_calendar.holidays).year


@dataclass(frozen=True, slots=True)
class CalendarCoverage:
    """Until when working days are known from an announced schedule, seen from `today`."""
    known_until: dt.date
    days_left: int

    @property
    def warning(self) -> bool:
        return self.days_left <= WARN_DAYS

    def as_json(self) -> dict[str, object]:
        message = None
        if self.days_left < 0:
            message = (f"工作日历只到{self.known_until.isoformat()}，之后的办理期限暂按周末和法定节假日计算，"
                       "请尽快在 config/holidays.yaml 中补充国务院公布的放假安排。")
        elif self.warning:
            message = (f"工作日历只到{self.known_until.isoformat()}（还剩{self.days_left}天），"
                       "请在 config/holidays.yaml 中补充国务院公布的下一年放假安排。")
        return {"ok": not self.warning, "known_until": self.known_until.isoformat(), "days_left": self.days_left,
                "message_zh": message}


@dataclass
class WorkCalendar:
    extra_holidays: set[dt.date] = field(default_factory=set)
    extra_workdays: set[dt.date] = field(default_factory=set)
    listed_years: set[int] = field(default_factory=set)
    _warned: set[int] = field(default_factory=set)
    _known: dict[dt.date, bool] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "WorkCalendar":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {} if path.exists() else {}
        cal = cls()
        for year, days in data.items():
            cal.listed_years.add(int(year))
            cal.extra_holidays |= {dt.date.fromisoformat(str(d)) for d in days.get("holidays", [])}
            cal.extra_workdays |= {dt.date.fromisoformat(str(d)) for d in days.get("workdays", [])}
        return cal

    @property
    def known_until(self) -> dt.date:
        """The last day of the last year with an announced schedule (package or operators' list)."""
        return dt.date(max({PACKAGE_LAST_YEAR} | self.listed_years), 12, 31)

    def coverage(self, today: dt.date) -> CalendarCoverage:
        return CalendarCoverage(self.known_until, (self.known_until - today).days)

    def is_workday(self, day: dt.date) -> bool:
        # Asked for every new ticket's due date: the package's lookup validates its argument on each
        # call (a quarter of the gateway's CPU under load), so answers are kept per day.
        known = self._known.get(day)
        if known is None:
            known = self._known[day] = self._is_workday(day)
        return known

    def _is_workday(self, day: dt.date) -> bool:
        if day.year in self.listed_years:
            return day in self.extra_workdays or (day.weekday() < 5 and day not in self.extra_holidays)
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            if day.year not in self._warned:
                self._warned.add(day.year)
                log.warning("no holiday schedule for %d: counting weekends and statutory holidays only; "
                            "add the State Council's schedule to config/holidays.yaml", day.year)
            return day.weekday() < 5 and day not in statutory_holidays(day.year)

    def add_workdays(self, start: dt.date, days: int) -> dt.date:
        """The date `days` working days after `start` (start itself not counted)."""
        day, left = start, days
        while left > 0:
            day += dt.timedelta(days=1)
            if self.is_workday(day):
                left -= 1
        return day


def due_date(calendar: WorkCalendar, created: dt.date, request_type: str | None, utility: bool,
             days: dict[str, int], urgent_days: int) -> dt.date:
    """Requests of unknown type get a complaint's time, the common case at the hotline."""
    n = urgent_days if utility else days.get(request_type or "complaint", days["complaint"])
    return calendar.add_workdays(created, n)
