"""Uptime of our own link, computed from the outage records."""

from datetime import datetime, timedelta

from django.db.models import Q

from connectivity.models import LinkState, Outage

SPANS = (("24h", timedelta(hours=24)), ("7d", timedelta(days=7)), ("30d", timedelta(days=30)))


def downtime_seconds(start: datetime, end: datetime) -> float:
    """Seconds of [start, end] inside outages (an ongoing one lasts until ``end``)."""
    overlapping = Outage.objects.filter(started_at__lt=end).filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start)
    )
    total = 0.0
    for started_at, ended_at in overlapping.values_list("started_at", "ended_at"):
        total += max(0.0, (min(end, ended_at or end) - max(start, started_at)).total_seconds())
    return total


def uptime_percent(
    start: datetime, end: datetime, monitored_since: datetime | None
) -> float | None:
    """Share of the monitored part of [start, end] the link was up; None if none of it was."""
    if monitored_since is None:
        return None
    start = max(start, monitored_since)
    span = (end - start).total_seconds()
    if span <= 0:
        return None
    return round(100.0 * (1 - min(span, downtime_seconds(start, end)) / span), 3)


def uptime_summary(now: datetime) -> dict[str, float | None]:
    since = LinkState.objects.filter(pk=1).values_list("first_check_at", flat=True).first()
    return {label: uptime_percent(now - span, now, since) for label, span in SPANS}
