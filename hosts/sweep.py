"""The sweep: find hosts past their deadline and mark them down, and runs still open past
their host's maximum run time.

Safe to run in several processes at once: every flip is a conditional UPDATE
(``HostQuerySet.mark_down``), so each transition is recorded once — and its
event alerted once (hosts/alerting.py); so is every claim of a long run
(``HostQuerySet.claim_long_runs``).
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import Q

from hosts.models import Host

BATCH = 500


def sweep(
    now: datetime,
    hold_after: datetime | None = None,
    holds: Iterable[tuple[Q, datetime]] = (),
) -> list[str]:
    """Mark overdue hosts down; returns their host_ids. Deadlines after ``hold_after``
    wait: netmon cannot hear heartbeats since then (hosts/reception.py). ``holds`` are
    (scope, since) pairs: the hosts of the scope wait when their deadline came after
    ``since`` (maintenance windows: maintenance/windows.py)."""
    due = Host.objects.overdue(now)
    if hold_after is not None:
        due = due.filter(next_deadline__lte=hold_after)
    for scope, since in holds:
        due = due.exclude(scope & Q(next_deadline__gt=since))
    marked_down = [
        host.host_id
        for host in due.order_by("next_deadline")[:BATCH]
        if Host.objects.mark_down(host, now)
    ]
    # Then runs still open past their host's maximum: warnings, the hosts stay up.
    Host.objects.claim_long_runs(now, hold_after, holds, BATCH)
    return marked_down
