"""The monitor cycle's host steps, for tests that drive the clock themselves.

``run_cycle`` is one whole cycle of a loop that has just started; tests that jump the clock
between calls would look to it like a monitor that was not running (a reception gap).
These run the sweep and the event step of a loop that has been running all along.
"""

from datetime import datetime

from django.utils import timezone

from hosts.alerting import alert_status_changes
from hosts.sweep import sweep


def sweep_and_alert(now: datetime) -> list[str]:
    """Sweep, then turn the events into alerts, as one cycle does; returns who went down."""
    marked_down = sweep(now)
    alert_status_changes(now)
    return marked_down


def alert_events(now: datetime | None = None) -> int:
    """The event step alone: e.g. after a heartbeat that recovered a host."""
    return alert_status_changes(now or timezone.now())
