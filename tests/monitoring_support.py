"""The monitor cycle's host steps, for tests that drive the clock themselves.

``run_cycle`` is one whole cycle of a loop that has just started; tests that jump the clock
between calls would look to it like a monitor that was not running (a reception gap).
These run the sweep and the event step of a loop that has been running all along.
"""

from datetime import datetime

from django.utils import timezone

from alerts.choices import AlertKind
from alerts.models import Alert
from hosts.alerting import alert_status_changes
from hosts.choices import HostStatus
from hosts.models import Host
from hosts.sweep import sweep
from maintenance.windows import close_ended, sweep_holds


def sweep_and_alert(now: datetime) -> list[str]:
    """End the maintenance windows that are over, sweep (holding the hosts of open windows),
    then turn the events into alerts, as one cycle does; returns who went down."""
    close_ended(now)
    marked_down = sweep(now, holds=sweep_holds(now))
    alert_status_changes(now)
    return marked_down


def alert_events(now: datetime | None = None) -> int:
    """The event step alone: e.g. after a heartbeat that recovered a host."""
    return alert_status_changes(now or timezone.now())


def host_goes_down(host: Host, last_seen: datetime, down_at: datetime) -> Alert:
    """``host`` last heard from at ``last_seen`` and marked down at ``down_at`` by the sweep;
    returns the alert the event step queued for it, as production writes it."""
    Host.objects.filter(pk=host.pk).update(
        status=HostStatus.UP, last_heartbeat_at=last_seen, next_deadline=down_at
    )
    host.refresh_from_db()
    assert Host.objects.mark_down(host, down_at) is not None
    alert_status_changes(down_at)
    return Alert.objects.get(host=host, kind=AlertKind.HOST_DOWN)
