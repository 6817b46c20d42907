"""Uptime and downtime figures, computed from a host's status history."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from hosts.choices import HostStatus
from hosts.models import Host, StatusChange

MONITORED = (HostStatus.UP, HostStatus.DOWN)


@dataclass(frozen=True)
class Period:
    status: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def periods(host: Host, start: datetime, end: datetime) -> list[Period]:
    """The host's states between ``start`` and ``end``, as consecutive periods."""
    changes = list(
        StatusChange.objects.filter(host=host, at__gt=start, at__lt=end).order_by("at", "id")
    )
    before = StatusChange.objects.filter(host=host, at__lte=start).order_by("-at", "-id").first()
    if before is not None:
        status = before.to_status
    elif changes:
        status = changes[0].from_status
    else:
        status = host.status
    cursor = max(start, host.created_at) if before is None else start
    result = []
    for change in changes:
        if change.at > cursor:
            result.append(Period(status, cursor, change.at))
        status, cursor = change.to_status, max(cursor, change.at)
    if end > cursor:
        result.append(Period(status, cursor, end))
    return result


def uptime_percent(host: Host, start: datetime, end: datetime) -> float | None:
    """Share of monitored time (up or down, not new or paused) spent up; None if none."""
    spans = periods(host, start, end)
    monitored = sum(p.seconds for p in spans if p.status in MONITORED)
    if monitored <= 0:
        return None
    down = sum(p.seconds for p in spans if p.status == HostStatus.DOWN)
    return round(100.0 * (1 - down / monitored), 3)


def uptime_summary(host: Host, now: datetime) -> dict[str, float | None]:
    return {
        label: uptime_percent(host, now - span, now)
        for label, span in (
            ("24h", timedelta(hours=24)),
            ("7d", timedelta(days=7)),
            ("30d", timedelta(days=30)),
        )
    }


def downtimes(host: Host, start: datetime, end: datetime) -> list[Period]:
    """The down periods overlapping [start, end], newest first; an open one ends at ``end``."""
    return [p for p in reversed(periods(host, start, end)) if p.status == HostStatus.DOWN]
