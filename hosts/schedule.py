"""When a host's next heartbeat is expected and when the host counts as down.

Pure functions: no Django, no database and no clock (the current time is always a parameter).
Every datetime passed in must be timezone-aware; every datetime returned is in UTC.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from math import ceil
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

ALWAYS, BUSINESS_HOURS, CUSTOM = "always", "business_hours", "custom"

_CRON_FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("weekday", "0-7 or sun-sat"),
)
# One comma-separated item of a standard cron field: *, 5, mon, 1-5, mon-fri, */15, 0-30/5.
_CRON_ITEM = re.compile(r"(\*|(\d+|[a-z]{3})(-(\d+|[a-z]{3}))?)(/\d+)?")
_ONE_VALUE_RANGE = re.compile(r"\b(\w+)-(\w+)(/\d+)?")
_CRON_NAMES = {
    name: number
    for names, first in (
        ("jan feb mar apr may jun jul aug sep oct nov dec", 1),
        ("sun mon tue wed thu fri sat", 0),
    )
    for number, name in enumerate(names.split(), start=first)
}
_MAX_SKIPPED_FIRES = 1000  # fires skipped for landing at or before `last` (repeated DST hour)
_WINDOW_SEARCH_DAYS = 15  # windows start at least weekly, even if a DST gap swallows one


@dataclass(frozen=True)
class Window:
    """A business-hours window in local wall-clock time, half-open: [start, end).

    If end <= start the window crosses midnight and ends on the day after it starts.
    `days` are the ISO weekdays (1 = Monday ... 7 = Sunday) on which a window starts.
    """

    start: time
    end: time
    days: tuple[int, ...]


@dataclass(frozen=True)
class Schedule:
    kind: str  # ALWAYS | BUSINESS_HOURS | CUSTOM
    frequency: timedelta  # ignored for CUSTOM
    grace: timedelta
    timezone: str = "UTC"  # IANA name, used for business hours and cron
    cron: str = ""  # 5-field cron expression for CUSTOM
    window: Window = Window(time(8, 0), time(18, 0), (1, 2, 3, 4, 5))


@dataclass(frozen=True)
class Deadline:
    expected_at: datetime  # the next heartbeat is late after this instant
    deadline: datetime  # the host is down after this instant


def next_deadline(schedule: Schedule, last: datetime) -> Deadline:
    """When the heartbeat after the one at `last` is expected, and when the host is down."""
    last = _utc(last)
    if schedule.grace < timedelta(0):
        raise ValueError("grace must not be negative")
    if schedule.kind == CUSTOM:
        expected = _next_fire(schedule.cron, _zone(schedule.timezone), last)
        return Deadline(expected, expected + schedule.grace)
    if schedule.kind not in (ALWAYS, BUSINESS_HOURS):
        raise ValueError(f"unknown schedule kind {schedule.kind!r}")
    if schedule.frequency <= timedelta(0):
        raise ValueError("frequency must be positive")
    if schedule.kind == ALWAYS:
        expected = last + schedule.frequency
        return Deadline(expected, expected + schedule.grace)

    anchor = last if in_window(schedule, last) else next_window_start(schedule, last)
    expected = anchor + schedule.frequency
    deadline = expected + schedule.grace
    if not in_window(schedule, deadline):  # the window closed first: start over in the next one
        expected = next_window_start(schedule, deadline) + schedule.frequency
        deadline = expected + schedule.grace
        if not in_window(schedule, deadline):  # frequency + grace is longer than the window
            deadline = next_window_start(schedule, deadline)
            expected = min(expected, deadline)
    return Deadline(expected, deadline)


def in_window(schedule: Schedule, at: datetime) -> bool:
    at = _utc(at)
    if schedule.kind != BUSINESS_HOURS:
        return True
    tz = _zone(schedule.timezone)
    today = at.astimezone(tz).date()
    for day in (today - timedelta(days=1), today):
        window = _window_on(schedule.window, tz, day)
        if window and window[0] <= at < window[1]:
            return True
    return False


def next_window_start(schedule: Schedule, after: datetime) -> datetime:
    """The first business-hours window start strictly after `after`."""
    after = _utc(after)
    if schedule.kind != BUSINESS_HOURS:
        raise ValueError("only business-hours schedules have windows")
    tz = _zone(schedule.timezone)
    today = after.astimezone(tz).date()
    for offset in range(_WINDOW_SEARCH_DAYS):
        window = _window_on(schedule.window, tz, today + timedelta(days=offset))
        if window and window[0] > after:
            return window[0]
    raise ValueError("business-hours window has no valid days")


def validate_cron(expression: str) -> str | None:
    """None if `expression` is a valid 5-field cron expression, else what is wrong with it."""
    fields = expression.split()
    if len(fields) != 5:
        return (
            f"cron expression must have 5 fields (minute hour day month weekday), got {len(fields)}"
        )
    for index, (field, (name, allowed)) in enumerate(zip(fields, _CRON_FIELDS, strict=True)):
        alone = " ".join(field if i == index else "*" for i in range(5))
        items = field.lower().split(",")
        if not all(_CRON_ITEM.fullmatch(item) for item in items) or not croniter.is_valid(alone):
            return (
                f"invalid {name} field {field!r}: use {allowed}, *, lists (1,2), "
                "ranges (1-5) or steps (*/5)"
            )
    try:
        _croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterError:
        return "cron expression never fires (that day of the month does not exist in its months)"
    return None


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: a timezone is required")
    return value.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"unknown time zone {name!r}") from error


def _local_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The first instant at which the wall clock in `tz` reads `naive` or later.

    An ambiguous time (fall-back) is its first occurrence; a time that does not exist
    (spring-forward gap) becomes the first instant after the gap.
    """
    instant = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) == naive:
        return instant
    # In a gap, fold=0 reads the time with the old offset (landing after the transition) and
    # fold=1 with the new one (landing before it). Transitions fall on whole seconds.
    before = naive.replace(tzinfo=tz, fold=1).astimezone(UTC).replace(microsecond=0)
    old_offset = before.astimezone(tz).utcoffset()
    low, high = 0, ceil((instant - before).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if (before + timedelta(seconds=middle)).astimezone(tz).utcoffset() == old_offset:
            low = middle
        else:
            high = middle
    return before + timedelta(seconds=high)


def _window_on(window: Window, tz: ZoneInfo, day: date) -> tuple[datetime, datetime] | None:
    """The (start, end) in UTC of the window starting on local `day`, if there is one."""
    if day.isoweekday() not in window.days:
        return None
    end_day = day if window.end > window.start else day + timedelta(days=1)
    start = _local_to_utc(datetime.combine(day, window.start), tz)
    end = _local_to_utc(datetime.combine(end_day, window.end), tz)
    return (start, end) if start < end else None  # a window inside a DST gap is empty


def _croniter(expression: str, start: datetime) -> croniter:
    """Fire times of `expression` after the naive `start`, matching days like Vixie cron/cronie.

    Day of month and weekday are OR-ed only when neither field starts with '*' (so "0 0 */2 * 1"
    means odd days that are Mondays), and a one-value range such as 5-5 or mon-mon is spelled
    as the value because croniter reads it as '*'.
    """

    def value(token: str) -> int | None:
        return int(token) if token.isdigit() else _CRON_NAMES.get(token.lower())

    def single(match: re.Match[str]) -> str:
        same = value(match[1]) is not None and value(match[1]) == value(match[2])
        return match[1] if same else match[0]

    return croniter(_ONE_VALUE_RANGE.sub(single, expression), start, implement_cron_bug=True)


def next_fire(expression: str, timezone: str, after: datetime) -> datetime:
    """The first fire time (UTC) of a valid cron `expression` on the wall clock of
    `timezone` strictly after `after`: for schedules of other things than hosts
    (recurring maintenance windows), with the same days and DST rules."""
    return _next_fire(expression, _zone(timezone), _utc(after))


def _next_fire(expression: str, tz: ZoneInfo, last: datetime) -> datetime:
    """The first fire time of `expression` in `tz` strictly after `last` (UTC)."""
    if error := validate_cron(expression):
        raise ValueError(error)
    # croniter walks naive local wall-clock time; DST is resolved by _local_to_utc.
    fires = _croniter(expression, last.astimezone(tz).replace(tzinfo=None, fold=0))
    for _ in range(_MAX_SKIPPED_FIRES):
        try:
            fire = _local_to_utc(fires.get_next(datetime), tz)
        except CroniterError as error:
            raise ValueError(f"cron expression {expression!r} does not fire again") from error
        if fire > last:
            return fire
    raise ValueError(f"cron expression {expression!r} does not fire after {last.isoformat()}")
