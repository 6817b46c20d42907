"""Uptime and downtime figures, computed from a host's status history."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Q, Subquery

from hosts.choices import HostStatus
from hosts.models import Host, StatusChange

MONITORED = (HostStatus.UP, HostStatus.DOWN)
UPTIME_WINDOWS = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
)


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
    return build_periods(host, before, changes, start, end)


def build_periods(host: Host, before, changes, start: datetime, end: datetime) -> list[Period]:
    """The periods from already fetched history: ``before`` is the last change at or before
    ``start`` (or None), ``changes`` those inside (start, end) in order; anything with
    ``from_status``, ``to_status`` and ``at`` will do."""
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
    return percent_up(periods(host, start, end))


def percent_up(spans: list[Period]) -> float | None:
    """Share of the monitored time of ``spans`` spent up, in percent; None if none."""
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


# Batched versions, for pages that show many hosts: one query for all of them.


def history_for_hosts(hosts: Iterable[Host], start: datetime, end: datetime) -> dict[int, list]:
    """Per host pk: its last status change at or before ``start`` (if any), then its changes
    inside (start, end), oldest first; rows with ``from_status``, ``to_status`` and ``at``."""
    ids = [host.pk for host in hosts]
    if not ids:
        return {}
    last_before = (
        StatusChange.objects.filter(host=OuterRef("pk"), at__lte=start)
        .order_by("-at", "-id")
        .values("pk")[:1]
    )
    # The last change before the range is an index lookup per host (a subquery), however
    # long the history is.
    rows = (
        StatusChange.objects.filter(
            Q(host_id__in=ids, at__gt=start, at__lt=end)
            | Q(
                pk__in=Host.objects.filter(pk__in=ids)
                .annotate(last=Subquery(last_before))
                .values("last")
            )
        )
        .order_by("host_id", "at", "id")
        .values_list("host_id", "from_status", "to_status", "at", named=True)
    )
    history: dict[int, list] = {pk: [] for pk in ids}
    for row in rows:
        history[row.host_id].append(row)
    return history


def periods_from_history(host: Host, history: list, start: datetime, end: datetime) -> list[Period]:
    """``periods(host, start, end)`` from rows of :func:`history_for_hosts` fetched for a
    range that contains [start, end]."""
    before = [row for row in history if row.at <= start]
    changes = [row for row in history if start < row.at < end]
    return build_periods(host, before[-1] if before else None, changes, start, end)


def periods_for_hosts(hosts: Iterable[Host], start: datetime, end: datetime) -> dict:
    """``periods(host, start, end)`` of every host, by host pk, from one query."""
    hosts = list(hosts)
    history = history_for_hosts(hosts, start, end)
    return {host.pk: periods_from_history(host, history[host.pk], start, end) for host in hosts}


def uptime_summaries(hosts: Iterable[Host], now: datetime) -> dict[int, dict[str, float | None]]:
    """``uptime_summary(host, now)`` of every host, by host pk, from one query."""
    hosts = list(hosts)
    longest = max(span for _, span in UPTIME_WINDOWS)
    history = history_for_hosts(hosts, now - longest, now)
    return {
        host.pk: {
            label: percent_up(periods_from_history(host, history[host.pk], now - span, now))
            for label, span in UPTIME_WINDOWS
        }
        for host in hosts
    }
