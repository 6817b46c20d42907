"""hosts.schedule: worked examples, then hypothesis properties across time zones and DST.

Needs no Django: pytest tests/test_schedule.py -p no:django --noconftest
(--noconftest because tests/conftest.py imports Django at module level).
"""

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

# Without pytest-django nothing puts the project root on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hosts.schedule import (
    ALWAYS,
    BUSINESS_HOURS,
    CUSTOM,
    Deadline,
    Schedule,
    Window,
    in_window,
    next_deadline,
    next_window_start,
    validate_cron,
)

NY, BERLIN = "America/New_York", "Europe/Berlin"
OFFICE = Window(time(8, 0), time(18, 0), (1, 2, 3, 4, 5))
FIVE_MINUTES, MINUTE = timedelta(minutes=5), timedelta(minutes=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(zone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone), fold=fold)


def business(
    zone: str = "UTC",
    window: Window = OFFICE,
    frequency: timedelta = FIVE_MINUTES,
    grace: timedelta = MINUTE,
) -> Schedule:
    return Schedule(BUSINESS_HOURS, frequency, grace, zone, window=window)


def cron(expression: str, zone: str = "UTC", grace: timedelta = MINUTE) -> Schedule:
    return Schedule(CUSTOM, timedelta(0), grace, zone, cron=expression)


# --- always -------------------------------------------------------------------------------------


def test_always_counts_absolute_time_from_the_last_heartbeat() -> None:
    # 01:30 EST + 1 h on the spring-forward night is 03:30 EDT, i.e. 07:30 UTC.
    schedule = Schedule(ALWAYS, timedelta(hours=1), timedelta(minutes=10), NY)
    due = next_deadline(schedule, local(NY, 2024, 3, 10, 1, 30))
    assert due == Deadline(utc(2024, 3, 10, 7, 30), utc(2024, 3, 10, 7, 40))
    assert due.expected_at.tzinfo is UTC
    assert in_window(schedule, utc(2024, 3, 10, 3, 0))


# --- business hours -----------------------------------------------------------------------------


def test_friday_evening_heartbeat_is_expected_monday_morning() -> None:
    due = next_deadline(business(), utc(2024, 3, 8, 17, 58))  # Friday
    assert due == Deadline(utc(2024, 3, 11, 8, 5), utc(2024, 3, 11, 8, 6))


def test_heartbeat_before_the_window_counts_from_its_start() -> None:
    due = next_deadline(business(), utc(2024, 3, 11, 7, 57))  # Monday
    assert due == Deadline(utc(2024, 3, 11, 8, 5), utc(2024, 3, 11, 8, 6))


def test_heartbeat_inside_the_window_behaves_like_always() -> None:
    due = next_deadline(business(), utc(2024, 3, 13, 10, 0))
    assert due == Deadline(utc(2024, 3, 13, 10, 5), utc(2024, 3, 13, 10, 6))


def test_weekend_heartbeat_is_expected_monday() -> None:
    due = next_deadline(business(), utc(2024, 3, 9, 12, 0))  # Saturday
    assert due == Deadline(utc(2024, 3, 11, 8, 5), utc(2024, 3, 11, 8, 6))
    assert not in_window(business(), utc(2024, 3, 10, 12, 0))  # Sunday
    assert next_window_start(business(), utc(2024, 3, 8, 18, 0)) == utc(2024, 3, 11, 8, 0)


def test_window_bounds_are_half_open() -> None:
    assert in_window(business(), utc(2024, 3, 11, 8, 0))
    assert in_window(business(), utc(2024, 3, 11, 17, 59, 59))
    assert not in_window(business(), utc(2024, 3, 11, 18, 0))
    assert next_window_start(business(), utc(2024, 3, 11, 8, 0)) == utc(2024, 3, 12, 8, 0)


def test_window_crossing_midnight_belongs_to_the_day_it_starts() -> None:
    schedule = business(window=Window(time(22, 0), time(6, 0), (5,)))  # Friday night only
    assert not in_window(schedule, utc(2024, 3, 8, 21, 59))
    assert in_window(schedule, utc(2024, 3, 8, 22, 0))
    assert in_window(schedule, utc(2024, 3, 9, 3, 0))  # Saturday is not in days, still inside
    assert not in_window(schedule, utc(2024, 3, 9, 6, 0))
    assert not in_window(schedule, utc(2024, 3, 9, 23, 0))
    assert next_deadline(schedule, utc(2024, 3, 8, 23, 0)) == Deadline(
        utc(2024, 3, 8, 23, 5), utc(2024, 3, 8, 23, 6)
    )
    # 05:58 + 6 min is past 06:00, so the host gets a fresh start next Friday at 22:00.
    assert next_deadline(schedule, utc(2024, 3, 9, 5, 58)) == Deadline(
        utc(2024, 3, 15, 22, 5), utc(2024, 3, 15, 22, 6)
    )


def test_frequency_longer_than_the_window_is_down_at_a_window_start() -> None:
    schedule = business(frequency=timedelta(hours=12), grace=timedelta(hours=1))
    due = next_deadline(schedule, utc(2024, 3, 11, 9, 0))  # Monday
    assert due == Deadline(utc(2024, 3, 12, 20, 0), utc(2024, 3, 13, 8, 0))


def test_deadline_is_not_monotonic_when_frequency_plus_grace_spans_the_night() -> None:
    # Documents a consequence of the reset rule: with frequency + grace (15 h) longer than the
    # night (14 h), an earlier heartbeat can be given a later deadline.
    every_day = Window(time(8, 0), time(18, 0), (1, 2, 3, 4, 5, 6, 7))
    schedule = business(window=every_day, frequency=timedelta(hours=14), grace=timedelta(hours=1))
    later = next_deadline(schedule, utc(2024, 3, 11, 17, 0))
    earlier = next_deadline(schedule, utc(2024, 3, 11, 16, 0))
    assert later == Deadline(utc(2024, 3, 12, 7, 0), utc(2024, 3, 12, 8, 0))
    assert earlier == Deadline(utc(2024, 3, 12, 22, 0), utc(2024, 3, 13, 8, 0))


@pytest.mark.parametrize(
    ("zone", "friday_evening", "monday_expected"),
    [
        # US spring forward (Sun 2024-03-10): EST before, EDT after.
        (NY, local(NY, 2024, 3, 8, 17, 58), utc(2024, 3, 11, 12, 5)),
        # US fall back (Sun 2024-11-03): EDT before, EST after.
        (NY, local(NY, 2024, 11, 1, 17, 58), utc(2024, 11, 4, 13, 5)),
        # EU spring forward (Sun 2024-03-31): CET before, CEST after.
        (BERLIN, local(BERLIN, 2024, 3, 29, 17, 58), utc(2024, 4, 1, 6, 5)),
        # EU fall back (Sun 2024-10-27): CEST before, CET after.
        (BERLIN, local(BERLIN, 2024, 10, 25, 17, 58), utc(2024, 10, 28, 7, 5)),
    ],
)
def test_business_hours_follow_local_time_across_dst(
    zone: str, friday_evening: datetime, monday_expected: datetime
) -> None:
    due = next_deadline(business(zone), friday_evening)
    assert due == Deadline(monday_expected, monday_expected + MINUTE)


def test_window_start_keeps_local_time_on_both_sides_of_the_dst_change() -> None:
    weekend = business(NY, Window(time(8, 0), time(18, 0), (6, 7)))
    assert next_window_start(weekend, utc(2024, 3, 9, 0, 0)) == utc(2024, 3, 9, 13, 0)  # EST
    assert next_window_start(weekend, utc(2024, 3, 9, 13, 0)) == utc(2024, 3, 10, 12, 0)  # EDT
    assert next_window_start(weekend, utc(2024, 11, 2, 0, 0)) == utc(2024, 11, 2, 12, 0)  # EDT
    assert next_window_start(weekend, utc(2024, 11, 2, 12, 0)) == utc(2024, 11, 3, 13, 0)  # EST


def test_window_starting_in_the_spring_forward_gap_opens_when_the_gap_ends() -> None:
    schedule = business(NY, Window(time(2, 30), time(4, 0), (1, 2, 3, 4, 5, 6, 7)))
    start = next_window_start(schedule, utc(2024, 3, 9, 12, 0))
    assert start == utc(2024, 3, 10, 7, 0)  # 03:00 EDT
    assert not in_window(schedule, start - timedelta(seconds=1))
    assert in_window(schedule, start)
    assert next_window_start(schedule, start) == utc(2024, 3, 11, 6, 30)  # 02:30 EDT


def test_window_starting_in_the_repeated_hour_uses_its_first_occurrence() -> None:
    schedule = business(NY, Window(time(1, 30), time(3, 0), (1, 2, 3, 4, 5, 6, 7)))
    assert next_window_start(schedule, utc(2024, 11, 3, 0, 0)) == utc(2024, 11, 3, 5, 30)
    assert in_window(schedule, local(NY, 2024, 11, 3, 1, 15, fold=1))  # second 01:15, EST
    assert not in_window(schedule, local(NY, 2024, 11, 3, 1, 15, fold=0))  # first 01:15, EDT
    assert not in_window(schedule, local(NY, 2024, 11, 3, 3, 0))


# --- custom (cron) ------------------------------------------------------------------------------


def test_cron_weekdays_in_berlin() -> None:
    schedule = cron("0 9 * * 1-5", BERLIN, grace=timedelta(minutes=15))
    due = next_deadline(schedule, local(BERLIN, 2024, 3, 29, 9, 30))  # Friday, CET
    assert due == Deadline(utc(2024, 4, 1, 7, 0), utc(2024, 4, 1, 7, 15))  # Monday 09:00 CEST
    # A heartbeat exactly at a fire time expects the next one.
    assert next_deadline(schedule, local(BERLIN, 2024, 3, 28, 9, 0)).expected_at == utc(
        2024, 3, 29, 8, 0
    )


def test_cron_every_five_minutes() -> None:
    schedule = cron("*/5 * * * *")
    assert next_deadline(schedule, utc(2024, 5, 1, 10, 2, 30)) == Deadline(
        utc(2024, 5, 1, 10, 5), utc(2024, 5, 1, 10, 6)
    )
    assert next_deadline(schedule, utc(2024, 5, 1, 10, 5)).expected_at == utc(2024, 5, 1, 10, 10)
    assert next_deadline(schedule, utc(2024, 5, 1, 23, 59, 59, 999999)).expected_at == utc(
        2024, 5, 2, 0, 0
    )


def test_cron_time_in_the_spring_forward_gap_fires_when_the_gap_ends() -> None:
    schedule = cron("30 2 * * *", NY)
    first = next_deadline(schedule, local(NY, 2024, 3, 9, 2, 30)).expected_at
    assert first == utc(2024, 3, 10, 7, 0)  # 02:30 does not exist: 03:00 EDT
    assert next_deadline(schedule, first).expected_at == utc(2024, 3, 11, 6, 30)  # 02:30 EDT


def test_cron_times_in_the_gap_fire_once() -> None:
    schedule = cron("*/30 * * * *", NY)  # 02:00 and 02:30 both map to 03:00 EDT, as does 03:00
    fires = [utc(2024, 3, 10, 6, 20)]
    for _ in range(3):
        fires.append(next_deadline(schedule, fires[-1]).expected_at)
    assert fires[1:] == [utc(2024, 3, 10, 6, 30), utc(2024, 3, 10, 7, 0), utc(2024, 3, 10, 7, 30)]


def test_cron_on_the_fall_back_day_fires_once() -> None:
    after_two = cron("30 2 * * *", NY)  # 02:30 happens once, in EST
    fire = next_deadline(after_two, utc(2024, 11, 2, 6, 30)).expected_at
    assert fire == utc(2024, 11, 3, 7, 30)
    assert next_deadline(after_two, fire).expected_at == utc(2024, 11, 4, 7, 30)

    repeated = cron("30 1 * * *", NY)  # 01:30 happens twice: only the first (EDT) one fires
    fire = next_deadline(repeated, utc(2024, 11, 2, 5, 30)).expected_at
    assert fire == utc(2024, 11, 3, 5, 30)
    assert next_deadline(repeated, fire).expected_at == utc(2024, 11, 4, 6, 30)
    second_pass = local(NY, 2024, 11, 3, 1, 10, fold=1)  # 01:10 EST, before the second 01:30
    assert next_deadline(repeated, second_pass).expected_at == utc(2024, 11, 4, 6, 30)
    # Minute-level expressions skip the repeated hour instead of firing twice in it.
    assert next_deadline(cron("*/5 * * * *", NY), utc(2024, 11, 3, 5, 57)).expected_at == utc(
        2024, 11, 3, 7, 0
    )


def test_cron_in_a_half_hour_dst_gap() -> None:
    # Lord Howe Island springs forward from 02:00 (+10:30) to 02:30 (+11:00).
    schedule = cron("15 2 * * *", "Australia/Lord_Howe")
    due = next_deadline(schedule, utc(2024, 10, 5, 12, 0))
    assert due.expected_at == utc(2024, 10, 5, 15, 30)


@pytest.mark.parametrize(
    ("expression", "fires"),
    [
        # Both day fields restricted: either may match (Friday or the 13th).
        ("0 0 13 * 5", [date(2024, 9, 6), date(2024, 9, 13), date(2024, 9, 20)]),
        # A day field starting with "*" makes both fields required, as in Vixie cron/cronie:
        # odd days that are Mondays.
        ("0 0 */2 * 1", [date(2024, 9, 9), date(2024, 9, 23), date(2024, 10, 7)]),
        # croniter alone would read a one-value range as "*".
        ("0 0 5-5 * *", [date(2024, 9, 5), date(2024, 10, 5), date(2024, 11, 5)]),
        ("0 0 * * sun-sun", [date(2024, 9, 8), date(2024, 9, 15), date(2024, 9, 22)]),
    ],
)
def test_cron_day_matching(expression: str, fires: list[date]) -> None:
    schedule, found = cron(expression), [utc(2024, 9, 1)]
    for _ in fires:
        found.append(next_deadline(schedule, found[-1]).expected_at)
    assert [instant.date() for instant in found[1:]] == fires


# --- validation and errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression",
    [
        "* * * * *",
        "0 9 * * 1-5",
        "*/5 * * * *",
        "0,15,30,45 8-18 * * mon-fri",
        "0 0 1 jan,jul *",
        "0 12 * * SUN",
        "5 4 * * 7",
        "0 0-23/2 1-15 * *",
        "0 0 29 2 *",
        "  30  2 * * *  ",
    ],
)
def test_validate_cron_accepts_standard_expressions(expression: str) -> None:
    assert validate_cron(expression) is None


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "must have 5 fields (minute hour day month weekday)"),
        ("* * * *", "must have 5 fields"),
        ("0 0 * * * *", "must have 5 fields"),
        ("0 0 12 * * ? 2030", "must have 5 fields"),
        ("@daily", "must have 5 fields"),
        ("every day at noon", "must have 5 fields"),
        ("61 * * * *", "invalid minute field '61'"),
        ("0 24 * * *", "invalid hour field '24'"),
        ("0 0 0 * *", "invalid day field '0'"),
        ("0 0 * 13 *", "invalid month field '13'"),
        ("0 0 * * 8", "invalid weekday field '8'"),
        ("0 0 * * funday", "invalid weekday field 'funday'"),
        ("*/0 * * * *", "invalid minute field '*/0'"),
        ("R * * * *", "invalid minute field 'R'"),
        ("0 0 L * *", "invalid day field 'L'"),
        ("0 0 30 2 *", "never fires"),
        ("0 0 31 4,6,9,11 *", "never fires"),
    ],
)
def test_validate_cron_explains_what_is_wrong(expression: str, message: str) -> None:
    error = validate_cron(expression)
    assert error is not None
    assert message in error


@pytest.mark.parametrize(
    "schedule", [Schedule(ALWAYS, FIVE_MINUTES, MINUTE), business(), cron("* * * * *")]
)
def test_naive_datetimes_are_rejected(schedule: Schedule) -> None:
    naive = datetime(2024, 3, 11, 9, 0)
    with pytest.raises(ValueError, match="naive"):
        next_deadline(schedule, naive)
    with pytest.raises(ValueError, match="naive"):
        in_window(schedule, naive)
    with pytest.raises(ValueError, match="naive"):
        next_window_start(schedule, naive)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (Schedule("sometimes", FIVE_MINUTES, MINUTE), "unknown schedule kind"),
        (business("Mars/Olympus_Mons"), "unknown time zone"),
        (cron("0 0 30 2 *"), "never fires"),
        (cron(""), "5 fields"),
        (Schedule(ALWAYS, timedelta(0), MINUTE), "frequency"),
        (Schedule(ALWAYS, FIVE_MINUTES, -MINUTE), "grace"),
        (business(window=Window(time(8, 0), time(18, 0), ())), "no valid days"),
    ],
)
def test_invalid_schedules_raise_value_error(schedule: Schedule, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next_deadline(schedule, utc(2024, 3, 11, 9, 0))


def test_only_business_hours_have_window_starts() -> None:
    always = Schedule(ALWAYS, FIVE_MINUTES, MINUTE)
    assert in_window(always, utc(2024, 3, 10, 3, 0))
    assert in_window(cron("0 9 * * 1"), utc(2024, 3, 10, 3, 0))
    with pytest.raises(ValueError, match="business-hours"):
        next_window_start(always, utc(2024, 3, 10, 3, 0))


# --- properties ---------------------------------------------------------------------------------
#
# Oracles below are deliberately naive re-derivations from the definitions (minute walks instead
# of a binary search, explicit day/hour/minute loops instead of croniter).

ZONES = [
    "UTC",
    NY,
    "Europe/London",
    BERLIN,
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Sao_Paulo",  # DST at midnight until 2019
    "America/St_Johns",
]
FIRST_YEAR, LAST_YEAR = 2016, 2030
PROPERTIES = settings(
    max_examples=120,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def wall_clock(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None, fold=0)


def wall_clock_reaches(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first instant at which the wall clock in `tz` shows `naive` or later."""
    readings = [naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    exact = [instant for instant in readings if wall_clock(instant, tz) == naive]
    if exact:
        return min(exact)
    instant = min(readings).replace(second=0, microsecond=0)  # before the gap
    while wall_clock(instant, tz) < naive:
        instant += MINUTE
    return instant


@cache
def transitions(zone: str) -> list[datetime]:
    tz, found = ZoneInfo(zone), []
    day = utc(FIRST_YEAR, 1, 1)
    while day.year <= LAST_YEAR:
        following = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != following.astimezone(tz).utcoffset():
            instant = day
            while instant.astimezone(tz).utcoffset() == day.astimezone(tz).utcoffset():
                instant += MINUTE
            found.append(instant)
        day = following
    return found


@st.composite
def instants(draw: st.DrawFn, zone: str) -> datetime:
    tz = ZoneInfo(zone)
    how = draw(st.sampled_from(["anywhere", "near a transition", "on a round local time"]))
    if how == "near a transition" and transitions(zone):
        around = draw(st.sampled_from(transitions(zone)))
        return around + timedelta(seconds=draw(st.integers(-4 * 86400, 4 * 86400)))
    if how == "on a round local time":
        day = draw(st.dates(date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)))
        clock = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45, 59])))
        fold = draw(st.integers(0, 1))
        return datetime.combine(day, clock).replace(tzinfo=tz, fold=fold).astimezone(UTC)
    start, end = utc(FIRST_YEAR, 1, 1), utc(LAST_YEAR, 12, 31)
    seconds = draw(st.integers(0, int((end - start).total_seconds())))
    micro = draw(st.sampled_from([0, 0, 999999]))
    return (start + timedelta(seconds=seconds, microseconds=micro)).astimezone(tz)


clock_times = st.builds(
    time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59)
)
day_sets = st.sets(st.integers(1, 7), min_size=1).map(lambda days: tuple(sorted(days)))
windows = st.builds(Window, clock_times, clock_times, day_sets)
frequencies = st.sampled_from([10, 60, 300, 3600, 86400]) | st.integers(10, 31 * 86400)
graces = st.sampled_from([0, 60, 300]) | st.integers(0, 7 * 86400)


def window_bounds(window: Window, tz: ZoneInfo, day: date) -> tuple[datetime, datetime] | None:
    if day.isoweekday() not in window.days:
        return None
    end_day = day if window.end > window.start else day + timedelta(days=1)
    start = wall_clock_reaches(datetime.combine(day, window.start), tz)
    end = wall_clock_reaches(datetime.combine(end_day, window.end), tz)
    return (start, end) if start < end else None


def oracle_in_window(window: Window, tz: ZoneInfo, at: datetime) -> bool:
    today = at.astimezone(tz).date()
    for days_back in (2, 1, 0):
        bounds = window_bounds(window, tz, today - timedelta(days=days_back))
        if bounds and bounds[0] <= at < bounds[1]:
            return True
    return False


def oracle_window_starts(
    window: Window, tz: ZoneInfo, after: datetime, until: datetime
) -> Iterator[datetime]:
    day = after.astimezone(tz).date() - timedelta(days=1)
    while day <= until.astimezone(tz).date() + timedelta(days=1):
        bounds = window_bounds(window, tz, day)
        if bounds and after < bounds[0] <= until:
            yield bounds[0]
        day += timedelta(days=1)


@PROPERTIES
@given(st.data(), st.sampled_from(ZONES), frequencies, graces)
def test_always_is_last_plus_frequency_plus_grace(
    data: st.DataObject, zone: str, frequency: int, grace: int
) -> None:
    last = data.draw(instants(zone))
    schedule = Schedule(ALWAYS, timedelta(seconds=frequency), timedelta(seconds=grace), zone)
    due = next_deadline(schedule, last)
    # Aware arithmetic in a ZoneInfo zone is wall-clock arithmetic: add in UTC.
    assert due.expected_at == last.astimezone(UTC) + timedelta(seconds=frequency)
    assert due.deadline == due.expected_at + timedelta(seconds=grace)
    assert due.expected_at.tzinfo is UTC and due.deadline.tzinfo is UTC


@PROPERTIES
@given(st.data(), st.sampled_from(ZONES), windows)
def test_windows_match_the_local_wall_clock(data: st.DataObject, zone: str, window: Window) -> None:
    tz, at = ZoneInfo(zone), data.draw(instants(zone))
    schedule = business(zone, window)
    assert in_window(schedule, at) == oracle_in_window(window, tz, at)
    start = next_window_start(schedule, at)
    assert start.tzinfo is UTC
    assert start > at
    assert in_window(schedule, start)
    assert list(oracle_window_starts(window, tz, at, start)) == [start]


@PROPERTIES
@given(st.data(), st.sampled_from(ZONES), windows, frequencies, graces)
def test_business_hours_deadline_is_never_at_night(
    data: st.DataObject, zone: str, window: Window, frequency: int, grace: int
) -> None:
    tz, last = ZoneInfo(zone), data.draw(instants(zone))
    schedule = business(zone, window, timedelta(seconds=frequency), timedelta(seconds=grace))
    due = next_deadline(schedule, last)
    assert due.expected_at.tzinfo is UTC and due.deadline.tzinfo is UTC
    assert last <= due.expected_at <= due.deadline
    assert due.deadline - last >= schedule.frequency + schedule.grace
    assert oracle_in_window(window, tz, due.deadline)
    # While the whole allowance fits in the window, business hours behave like "always".
    in_window_at_last = oracle_in_window(window, tz, last)
    anchor = last.astimezone(UTC) if in_window_at_last else next_window_start(schedule, last)
    if oracle_in_window(window, tz, anchor + schedule.frequency + schedule.grace):
        assert due == Deadline(
            anchor + schedule.frequency, anchor + schedule.frequency + schedule.grace
        )


def shortest_gap(window: Window) -> timedelta:
    """The shortest wall-clock time from the end of one window to the start of the next."""
    start = timedelta(hours=window.start.hour, minutes=window.start.minute)
    end = timedelta(hours=window.end.hour, minutes=window.end.minute)
    length = end - start if window.end > window.start else end - start + timedelta(days=1)
    days = window.days
    following = days[1:] + days[:1]
    return min(
        timedelta(days=(b - a) % 7 or 7) - length for a, b in zip(days, following, strict=True)
    )


@PROPERTIES
@given(st.data(), st.sampled_from(ZONES), windows)
def test_business_hours_deadline_is_monotonic_when_the_allowance_fits_between_windows(
    data: st.DataObject, zone: str, window: Window
) -> None:
    # DST can shorten a gap by up to an hour in these zones.
    allowance = int((shortest_gap(window) - timedelta(hours=1)).total_seconds()) - 1
    assume(allowance >= 10)
    frequency = data.draw(st.integers(10, allowance), label="frequency")
    grace = data.draw(st.integers(0, allowance - frequency), label="grace")
    schedule = business(zone, window, timedelta(seconds=frequency), timedelta(seconds=grace))
    first = data.draw(instants(zone), label="first")
    second = first.astimezone(UTC) + timedelta(
        seconds=data.draw(st.integers(0, 10 * 86400), label="later by")
    )
    before, after = next_deadline(schedule, first), next_deadline(schedule, second)
    assert before.deadline <= after.deadline
    assert before.expected_at <= after.expected_at


MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]


@dataclass(frozen=True)
class Cron:
    expression: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday
    day_or_weekday: bool  # neither day field starts with "*": either may match (Vixie cron)

    def fires_on(self, day: date) -> bool:
        if day.month not in self.months:
            return False
        matches = (day.day in self.days, day.isoweekday() % 7 in self.weekdays)
        return any(matches) if self.day_or_weekday else all(matches)


@st.composite
def cron_field(draw: st.DrawFn, low: int, high: int, names: list[str] | None = None, star=3):
    def show(value: int) -> str:
        use_name = names and value - low < len(names) and draw(st.booleans())
        return names[value - low] if use_name else str(value)

    form = draw(st.sampled_from(["*"] * star + ["value", "list", "range", "step", "range/step"]))
    if form == "*":
        return "*", set(range(low, high + 1))
    if form == "value":
        value = draw(st.integers(low, high))
        return show(value), {value}
    if form == "list":
        values = draw(st.lists(st.integers(low, high), min_size=2, max_size=4, unique=True))
        return ",".join(map(show, values)), set(values)
    first = draw(st.integers(low, high))
    last = draw(st.integers(first, high))
    step = draw(st.integers(1, max(1, (high - low) // 2)))
    if form == "range":
        return f"{show(first)}-{show(last)}", set(range(first, last + 1))
    if form == "step":
        return f"*/{step}", set(range(low, high + 1, step))
    return f"{first}-{last}/{step}", set(range(first, last + 1, step))


@st.composite
def crons(draw: st.DrawFn) -> Cron:
    minute, minutes = draw(cron_field(0, 59, star=1))
    hour, hours = draw(cron_field(0, 23, star=2))
    day, days = draw(cron_field(1, 31, star=12))
    month, months = draw(cron_field(1, 12, MONTH_NAMES, star=12))
    weekday, weekdays = draw(cron_field(0, 7, DAY_NAMES, star=8))
    return Cron(
        f"{minute} {hour} {day} {month} {weekday}",
        *map(frozenset, (minutes, hours, days, months)),
        frozenset(value % 7 for value in weekdays),
        not day.startswith("*") and not weekday.startswith("*"),
    )


def oracle_next_fire(spec: Cron, tz: ZoneInfo, last: datetime) -> datetime | None:
    """Walk local days, hours and minutes in order; None if nothing fires within eight years."""
    local_last = wall_clock(last, tz)
    day = local_last.date() - timedelta(days=1)
    for _ in range(8 * 366):
        if spec.fires_on(day):
            for hour in sorted(spec.hours):
                for minute in sorted(spec.minutes):
                    naive = datetime.combine(day, time(hour, minute))
                    if naive < local_last - timedelta(hours=3):
                        continue  # certainly before `last`, whatever DST does
                    fire = wall_clock_reaches(naive, tz)
                    if fire > last:
                        return fire
        day += timedelta(days=1)
    return None


def ends_a_dst_gap(instant: datetime, tz: ZoneInfo) -> bool:
    just_before = instant - timedelta(microseconds=1)
    return wall_clock(instant, tz) - wall_clock(just_before, tz) > timedelta(seconds=1)


@PROPERTIES
@given(st.data(), st.sampled_from(ZONES), crons(), graces)
def test_cron_matches_a_brute_force_walk_of_local_time(
    data: st.DataObject, zone: str, spec: Cron, grace: int
) -> None:
    tz, last = ZoneInfo(zone), data.draw(instants(zone))
    schedule = cron(spec.expression, zone, timedelta(seconds=grace))
    expected = oracle_next_fire(spec, tz, last)
    if expected is None:
        assert validate_cron(spec.expression) is not None
        with pytest.raises(ValueError, match="never fires"):
            next_deadline(schedule, last)
        return
    assert validate_cron(spec.expression) is None
    due = next_deadline(schedule, last)
    assert due.expected_at == expected
    assert due.deadline == expected + schedule.grace
    assert due.expected_at.tzinfo is UTC and due.deadline.tzinfo is UTC
    assert due.expected_at > last
    fired = wall_clock(due.expected_at, tz)
    matches = (
        fired.minute in spec.minutes and fired.hour in spec.hours and spec.fires_on(fired.date())
    )
    assert matches or ends_a_dst_gap(due.expected_at, tz)
