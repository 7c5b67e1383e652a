"""The one clock: local days in the hotline's timezone, whatever the host's, and settable for demos."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.errors import ConfigError
from gateway.settings import PROJECT_ROOT, load_settings
from routing.clock import Clock, ClockError


def test_late_evening_utc_is_already_tomorrow_in_shanghai() -> None:
    clock = Clock.create("Asia/Shanghai", "2026-12-01T16:30:00+00:00")
    assert clock.today() == dt.date(2026, 12, 2)
    assert clock.now().tzinfo is not None and clock.now().utcoffset() == dt.timedelta(0)
    assert clock.local_day(dt.datetime(2026, 12, 1, 15, 59, tzinfo=dt.timezone.utc)) == dt.date(2026, 12, 1)


def test_a_naive_start_is_local_time_and_the_clock_keeps_ticking() -> None:
    clock = Clock.create("Asia/Shanghai", "2026-12-01T23:30:00")
    first = clock.local_now()
    assert (first.date(), first.hour, first.minute) == (dt.date(2026, 12, 1), 23, 30)
    assert clock.now() >= first


def test_unknown_timezone_and_bad_start_are_refused() -> None:
    with pytest.raises(ClockError):
        Clock.create("Mars/Olympus")
    with pytest.raises(ClockError):
        Clock.create("Asia/Shanghai", "yesterday")
    with pytest.raises(ConfigError):
        load_settings(PROJECT_ROOT / "config" / "hotline.toml", env={"HOTLINE_CLOCK_TIMEZONE": "Mars/Olympus"})


def test_settings_build_the_clock_from_the_environment() -> None:
    settings = load_settings(PROJECT_ROOT / "config" / "hotline.toml",
                             env={"HOTLINE_CLOCK_START_AT": "2027-01-01T00:30:00+08:00"})
    assert settings.clock.clock().today() == dt.date(2027, 1, 1)
