"""The sweep: find hosts past their deadline and mark them down.

Safe to run in several processes at once: every flip is a conditional UPDATE,
so a transition is recorded and alerted exactly once.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from hosts.choices import HostStatus
from hosts.models import Host, MonitorState

BATCH = 500


def gap_threshold() -> timedelta:
    return timedelta(seconds=max(30.0, 10 * settings.SWEEP_INTERVAL_SECONDS))


def sweep(now: datetime) -> list[str]:
    """Mark overdue hosts down; returns their host_ids."""
    marked_down = []
    due = Host.objects.filter(status=HostStatus.UP, next_deadline__lte=now).order_by(
        "next_deadline"
    )[:BATCH]
    for host in due:
        with transaction.atomic():
            if host.mark_down_if_overdue(now):
                marked_down.append(host.host_id)
    return marked_down


def forgive_gap(now: datetime) -> int:
    """After the monitor was not running, push deadlines that fell in the gap back.

    Hosts whose deadline passed while nobody watched get one grace period from
    now, instead of a storm of alerts that would say more about us than them.
    """
    state = MonitorState.load()
    last, state.last_sweep_at = state.last_sweep_at, now
    state.save(update_fields=["last_sweep_at"])
    if last is None or now - last < gap_threshold():
        return 0
    return postpone_deadlines(last, now)


def postpone_deadlines(gap_start: datetime, now: datetime) -> int:
    """Give hosts whose deadline fell in [gap_start, now] one grace period from now."""
    postponed = 0
    hosts = Host.objects.filter(
        status=HostStatus.UP, next_deadline__gt=gap_start, next_deadline__lte=now
    )
    for host in hosts:
        new_deadline = now + timedelta(seconds=max(host.grace_seconds, 60))
        postponed += Host.objects.filter(pk=host.pk, next_deadline=host.next_deadline).update(
            next_deadline=new_deadline
        )
    return postponed
