"""Times when netmon itself could not receive heartbeats, seen by the monitor loop.

A host that sent its heartbeats while netmon was stopped, restarting, without its web
server or without its database was not silent: we were deaf. So whatever the cause and
length of such a gap, hosts whose deadline fell inside it (or soon after it: they report
again at their next scheduled time) are watched afresh from its end — a full period to
report, as if a heartbeat had come at that moment (``HostQuerySet.restart_deadlines``).
A host that is really dead is then alerted one period after netmon is back. Each gap is
written down as a ``ReceptionGap`` row, for the admin and the health report.

The monitor loop notices three kinds of gap:

- **netmon not running.** At its first cycle, the time since the last sweep of any
  monitor (``MonitorState.last_sweep_at``); later, a pause between two cycles far longer
  than the loop's interval (the process was stopped, the machine slept). With several
  monitors the last sweep is another's, seconds old: no gap.
- **Web server down.** Under ``serve``, the supervisor's state says when the web server
  died; while it is down, deadlines that fall due wait (the sweep holds them), and when it
  runs again the gap is closed.
- **Database unavailable.** Cycles fail while it is away; the first cycle that works
  again closes the gap from the first failure.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from hosts.choices import GapCause
from hosts.models import Host, MonitorState, ReceptionGap


def pause_threshold() -> timedelta:
    """A pause between two cycles of a running loop longer than this is a gap: long
    enough that a slow cycle (a channel that hangs until its timeout) is not one."""
    return timedelta(seconds=max(30.0, 10 * settings.SWEEP_INTERVAL_SECONDS))


def restart_threshold() -> timedelta:
    """At a loop's first cycle, a last sweep older than this means no monitor ran."""
    return timedelta(seconds=2 * settings.SWEEP_INTERVAL_SECONDS + 1)


def record_gap(started_at: datetime, ended_at: datetime, cause: str) -> int:
    """Write the gap and watch the hosts it hid afresh; returns how many were moved."""
    with transaction.atomic():
        moved = Host.objects.restart_deadlines(started_at, ended_at)
        ReceptionGap.objects.create(
            started_at=started_at, ended_at=ended_at, cause=cause, hosts_rescheduled=moved
        )
    return moved


@dataclass
class ReceptionWatch:
    """What one monitor loop knows of netmon's own hearing, from cycle to cycle."""

    started: bool = False
    deaf_since: datetime | None = None  # an open gap: web server down, database away
    cause: str = ""

    def cycle_failed(self, at: datetime) -> None:
        """A cycle could not reach the database (nor could heartbeats)."""
        if self.deaf_since is None:
            self.deaf_since, self.cause = at, GapCause.DATABASE

    def observe(self, now: datetime, web_down_since: datetime | None) -> int:
        """At the start of each cycle: close the gaps that are over; returns how many
        hosts were given a fresh deadline. ``web_down_since``: when the web server stopped,
        if it is not running now."""
        moved = self._since_last_sweep(now)
        if web_down_since is not None:
            if self.deaf_since is None or self.cause == GapCause.DATABASE:
                self._close(now)
                self.deaf_since, self.cause = min(web_down_since, now), GapCause.WEB_DOWN
            return moved
        return moved + self._close(now)

    def hold_since(self) -> datetime | None:
        """While a gap is open, deadlines after this wait rather than alert."""
        return self.deaf_since

    def _close(self, now: datetime) -> int:
        if self.deaf_since is None:
            return 0
        since, self.deaf_since = self.deaf_since, None
        return record_gap(since, now, self.cause)

    def _since_last_sweep(self, now: datetime) -> int:
        state = MonitorState.load()
        last, state.last_sweep_at = state.last_sweep_at, now
        state.save(update_fields=["last_sweep_at"])
        threshold = pause_threshold() if self.started else restart_threshold()
        self.started = True
        if last is None or now - last < threshold:
            return 0
        return record_gap(last, now, GapCause.NOT_RUNNING)
