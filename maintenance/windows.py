"""What maintenance windows do to host monitoring, each monitor cycle.

* While a window is open, the sweep leaves the hosts in its scope alone when their
  deadline came after the window started (``sweep_holds``): misses are not alerted. A
  host whose deadline passed before the start is swept as usual: alerts that were due
  when the window opened are not withheld.
* When a window ends, the hosts in its scope are watched afresh from its end, as if a
  heartbeat came then (``close_ended``, through ``HostQuerySet.restart_deadlines``):
  a host still silent is alerted one period later. The end is claimed with a
  conditional UPDATE, so several monitors handle it once; a recurring window moves on
  to its next occurrence in the same UPDATE.

Windows are read by the sweep every cycle; scopes by tag are resolved here, in Python,
because tags are a JSON list that SQLite cannot search.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from hosts.models import Host
from maintenance.models import MaintenanceWindow


def scope_q(window: MaintenanceWindow) -> Q:
    """The hosts a window covers, as a condition on ``Host``."""
    if window.everything:
        return Q()
    ids = {host.pk for host in window.hosts.all()}
    if window.tags:
        wanted = set(window.tags)
        ids.update(pk for pk, tags in Host.objects.values_list("pk", "tags") if wanted & set(tags))
    return Q(pk__in=ids)


def open_windows(now: datetime) -> list[MaintenanceWindow]:
    """Windows whose current occurrence has started and whose end is not handled yet."""
    return list(
        MaintenanceWindow.objects.filter(closed_at__isnull=True, starts_at__lte=now)
        .prefetch_related("hosts")
        .order_by("starts_at", "pk")
    )


def sweep_holds(now: datetime) -> list[tuple[Q, datetime]]:
    """(scope, start) of each open window: the sweep leaves hosts in the scope alone when
    their deadline came after the start."""
    return [(scope_q(window), window.starts_at) for window in open_windows(now)]


def hosts_in_maintenance(now: datetime) -> Q | None:
    """The hosts in an open window now, as one condition; None when no window is open."""
    windows = [w for w in open_windows(now) if w.ends_at > now]
    if not windows:
        return None
    condition = Q(pk__in=[])
    for window in windows:
        condition |= scope_q(window)
    return condition


def close_ended(now: datetime) -> int:
    """Handle the ends of windows up to ``now``; returns how many ended."""
    ended = 0
    for window in MaintenanceWindow.objects.filter(closed_at__isnull=True, ends_at__lte=now):
        with transaction.atomic():
            claimed = MaintenanceWindow.objects.filter(
                pk=window.pk, closed_at__isnull=True, ends_at=window.ends_at
            )
            if window.is_recurring:
                starts_at, ends_at = window.first_occurrence(now)
                moved = claimed.update(starts_at=starts_at, ends_at=ends_at)
            else:
                moved = claimed.update(closed_at=now)
            if moved:
                Host.objects.filter(scope_q(window)).restart_deadlines(
                    window.starts_at, window.ends_at
                )
                ended += 1
    return ended


def create_window(
    *,
    reason: str,
    starts_at: datetime,
    length: timedelta | None = None,
    ends_at: datetime | None = None,
    recurrence: str = "",
    timezone: str = "UTC",
    everything: bool = False,
    tags: list[str] | None = None,
    hosts: list[Host] | None = None,
    by: str = "",
) -> MaintenanceWindow:
    """Validate and save a window (ValidationError names the field); for a recurring
    one, ``starts_at`` is when it takes effect: its first occurrence ends after it."""
    tags, hosts = list(tags or []), list(hosts or [])
    window = MaintenanceWindow(
        reason=reason,
        everything=everything,
        tags=tags,
        recurrence=recurrence,
        timezone=timezone,
        created_by=by[:150],
    )
    if recurrence:
        window.duration_seconds = int(length.total_seconds()) if length else None
        window.starts_at = window.ends_at = starts_at  # replaced below once valid
    else:
        window.starts_at = starts_at
        window.ends_at = ends_at if ends_at is not None else starts_at + (length or timedelta())
    window.full_clean()
    MaintenanceWindow.check_scope(everything, tags, hosts)
    if recurrence:
        window.starts_at, window.ends_at = window.first_occurrence(starts_at)
    with transaction.atomic():
        window.save()
        window.hosts.set(hosts)
    return window


def end_window(window: MaintenanceWindow, now: datetime) -> MaintenanceWindow | None:
    """End the window now (a recurring one: its current occurrence). A window that has
    not started is cancelled: deleted, returning None."""
    if window.starts_at > now:
        window.delete()
        return None
    MaintenanceWindow.objects.filter(pk=window.pk, closed_at__isnull=True, ends_at__gt=now).update(
        ends_at=now
    )
    window.refresh_from_db()
    return window


def extend_window(window: MaintenanceWindow, ends_at: datetime, now: datetime) -> None:
    """Move the end of an open (or future) window; ValidationError names ``ends_at``."""
    if window.closed_at is not None or window.ends_at <= now:
        raise ValidationError({"ends_at": "This window has ended: open a new one."})
    if ends_at <= max(now, window.starts_at):
        raise ValidationError({"ends_at": "The new end must be in the future and after the start."})
    window.ends_at = ends_at  # of a recurring window: this occurrence; the next keep theirs
    window.full_clean()
    MaintenanceWindow.objects.filter(pk=window.pk, closed_at__isnull=True).update(ends_at=ends_at)
