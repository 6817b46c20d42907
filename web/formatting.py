"""Short human texts for times, durations and percentages (the JS has twins of the first)."""

from datetime import datetime, timedelta

from django.conf import settings

from hosts.choices import ScheduleType
from hosts.models import Host
from netmon.durations import human_duration


def relative_time(at: datetime | None, now: datetime) -> str:
    """'just now', '42 s ago', '5 min ago', '3 h ago', '2 d ago', 'in 4 min' or 'never'."""
    if at is None:
        return "never"
    seconds = int((now - at).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 5:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            return f"in {amount}" if future else f"{amount} ago"
    return "just now"  # unreachable


def exact_time(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S} UTC" if at else ""


def duration(seconds: float) -> str:
    if seconds <= 0:
        return "0 s"
    return human_duration(timedelta(seconds=seconds))


def uptime_text(percent: float | None) -> str:
    """'99.95 %'; never rounds a short outage up to 100; '—' when the host was not monitored."""
    if percent is None:
        return "—"
    if percent >= 100:
        return "100 %"
    return f"{min(percent, 99.99):.2f} %"


def expected_text(host: Host) -> str:
    if host.schedule_type == ScheduleType.CUSTOM:
        grace = f" + {duration(host.grace_seconds)} grace" if host.grace_seconds else ""
        return f"at each cron time{grace}"
    text = duration(host.frequency_seconds)
    if host.grace_seconds:
        text += f" + {duration(host.grace_seconds)} grace"
    return text


def schedule_text(host: Host) -> str:
    if host.schedule_type == ScheduleType.CUSTOM:
        return f"cron {host.cron_expression} ({host.timezone})"
    if host.schedule_type == ScheduleType.BUSINESS_HOURS:
        start = settings.BUSINESS_HOURS_START.strftime("%H:%M")
        end = settings.BUSINESS_HOURS_END.strftime("%H:%M")
        return f"business hours {start}–{end} ({host.timezone})"
    return "always"
