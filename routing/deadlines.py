"""Deadlines in working days, with China's public holidays and adjusted working days.

The chinese-calendar package knows every year the State Council has announced; for later years the
operators list the schedule in `config/holidays.yaml`; with neither, weekends are assumed and every
such computation logs a warning, so nobody relies on it silently.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path

import chinese_calendar
import yaml

log = logging.getLogger(__name__)



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
                log.warning("no holiday schedule for %d: counting weekends only; add it to config/holidays.yaml",
                            day.year)
            return day.weekday() < 5

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
