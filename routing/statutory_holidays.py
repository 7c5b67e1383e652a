"""The public holidays fixed by law, for years whose schedule the State Council has not announced yet.

《全国年节及纪念日放假办法》 (as amended with effect from 2025-01-01) fixes 13 days off: New Year's Day
(1 Jan), the Spring Festival (lunar New Year's Eve and the 1st-3rd of the first lunar month), Qingming
(the solar term), Labour Day (1-2 May), the Dragon Boat Festival (5th of the 5th lunar month),
the Mid-Autumn Festival (15th of the 8th lunar month) and National Day (1-3 Oct). Each December the
State Council adds the bridging days and the adjusted weekend working days (调休); those cannot be
computed, so a year counted from this list alone is *provisional*: a deadline never falls on a
statutory holiday, but may fall on a bridging day until operators list the year in
`config/holidays.yaml`.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import chinese_calendar
from lunardate import LunarDate


@lru_cache(maxsize=16)
def statutory_holidays(year: int) -> frozenset[dt.date]:
    lunar_new_year = LunarDate(year, 1, 1).to_solar_date()
    days = {dt.date(year, 1, 1), dt.date(year, 5, 1), dt.date(year, 5, 2),
            dt.date(year, 10, 1), dt.date(year, 10, 2), dt.date(year, 10, 3),
            LunarDate(year, 5, 5).to_solar_date(), LunarDate(year, 8, 15).to_solar_date()}
    days |= {lunar_new_year + dt.timedelta(days=n) for n in (-1, 0, 1, 2)}
    days |= {d for d, name in chinese_calendar.get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 30))
             if name == "清明"}
    return frozenset(days)  # the lunar New Year falls 21 Jan - 20 Feb: its eve is in the same year
