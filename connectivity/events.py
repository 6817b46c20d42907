"""The monitor loop's step for our own link: alert each outage's start and end, once.

The outage row is the event. Recording a check (connectivity/models.py, in the task
cluster) only opens and closes outages; every cycle the monitor loop reads the outages whose
end is not alerted yet (the open one, and any still to alert: a partial index keeps that a
handful of rows) and claims each start, then each end, with a conditional UPDATE of its
marker, in one transaction with the alert it queues. With several monitor loops one of them
updates the row and the others update nothing, so each is alerted exactly once; an alert
that cannot be queued rolls its claim back for the next cycle. An end is claimed only once
its start is, so the start alert always comes first (a start another loop is still
alerting can hold the end back for one more cycle). Otherwise an alert is queued at most
one cycle after the check that opened or closed the outage.
"""

from collections.abc import Callable
from datetime import datetime

from django.db import transaction

from connectivity.alerts import queue_outage_ended, queue_outage_started
from connectivity.models import Outage


def alert_outages(now: datetime) -> int:
    """Queue the alerts of outages that opened or ended since; returns how many."""
    queued = 0
    pending = (
        Outage.objects.filter(end_alerted_at__isnull=True)
        .order_by("started_at", "id")
        .values_list("pk", "start_alerted_at", "ended_at")
    )
    for pk, start_alerted_at, ended_at in pending:
        started = start_alerted_at is not None
        if not started:
            started = _claim(pk, "start_alerted_at", now, queue_outage_started)
            queued += started
        if started and ended_at is not None:
            queued += _claim(pk, "end_alerted_at", now, queue_outage_ended)
    return queued


def _claim(pk: int, marker: str, now: datetime, queue: Callable[[Outage], None]) -> bool:
    with transaction.atomic():
        if not Outage.objects.filter(pk=pk, **{f"{marker}__isnull": True}).update(**{marker: now}):
            return False  # another monitor loop alerted it, or the outage was deleted
        queue(Outage.objects.get(pk=pk))
    return True
