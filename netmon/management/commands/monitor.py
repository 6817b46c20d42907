"""The monitor loop: every second or so, sweep for overdue hosts and dispatch alerts.

One cycle, in order (each step's file in parentheses):

1. close the gaps when netmon could not hear heartbeats (hosts/reception.py),
   postpone deadlines while our own link is down (connectivity/loop.py), and end the
   maintenance windows that are over (maintenance/windows.py);
2. sweep: overdue hosts are marked down, each writing its event (hosts/sweep.py), except
   those whose deadline came while a gap is still open or inside a maintenance window;
3. events become alerts in the outbox: status changes, reminders and flapping
   (hosts/alerting.py), outages (connectivity/events.py), log analysis (analysis/events.py);
4. deliver what the outbox holds (alerts/delivery.py, alerts/transports.py);
5. ping healthchecks.io (connectivity/healthchecks.py).

django-q2's scheduler fires at most every 30 s, far too coarse to report a
silent host within seconds, so this small loop runs beside the task cluster.
Several loops may run at once (e.g. on two machines): the sweep is safe.
"""

import logging
import signal
import threading
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from alerts.delivery import dispatch_due
from analysis.events import alert_analysis
from connectivity.events import alert_outages
from connectivity.healthchecks import ping_healthchecks
from connectivity.loop import current_link, hold_deadlines
from hosts.alerting import alert_status_changes, end_flapping, send_due_reminders
from hosts.reception import ReceptionWatch
from hosts.sweep import sweep
from maintenance.windows import close_ended, sweep_holds
from netmon.health import web_server_down_since
from netmon.monitor_stats import record_cycle

log = logging.getLogger("netmon.monitor")


def run_cycle(watch: ReceptionWatch | None = None) -> dict:
    """One cycle; ``watch`` carries what the loop knows of netmon's own gaps from one cycle
    to the next (a new one each call: every call is a loop's first cycle)."""
    watch = watch or ReceptionWatch()
    now = timezone.now()
    rescheduled = watch.observe(now, web_server_down_since(now))
    link = current_link()  # our own internet link: while it is down, deadlines wait
    postponed = hold_deadlines(link, now)
    windows_ended = close_ended(now)
    marked_down = sweep(now, hold_after=watch.hold_since(), holds=sweep_holds(now))
    events_started = time.monotonic()
    outcome = {
        "marked_down": marked_down,
        "postponed": postponed + rescheduled,
        "maintenance_ended": windows_ended,
        "events": alert_status_changes(now),
        "reminders": send_due_reminders(now),
        "stabilised": end_flapping(now),
        "outage_events": alert_outages(now),
        "analysis_events": alert_analysis(now),
    }
    outcome["events_seconds"] = round(time.monotonic() - events_started, 4)
    outcome["dispatched"] = dispatch_due()
    ping_healthchecks(link, now)  # proof of life for healthchecks.io, sent from a thread
    return outcome


class Command(BaseCommand):
    help = "Run the monitor loop (overdue hosts, reminders, alert dispatch) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=settings.SWEEP_INTERVAL_SECONDS)
        parser.add_argument("--once", action="store_true", help="run one cycle and exit")

    def handle(self, *args, interval: float, once: bool, **options):
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        log.info("monitor loop started, every %.1f s", interval)
        failures = 0
        watch = ReceptionWatch()
        while not stop.is_set():
            started = time.monotonic()
            try:
                outcome = run_cycle(watch)
                failures = 0
                level = (
                    logging.INFO
                    if outcome["marked_down"] or outcome["postponed"]
                    else logging.DEBUG
                )
                log.log(level, "cycle in %.3f s: %s", time.monotonic() - started, outcome)
                record_cycle(time.monotonic() - started, outcome)
            except DatabaseError as error:  # e.g. the database restarting: try again
                failures += 1
                watch.cycle_failed(timezone.now())
                log.warning("cycle failed (%s): %s", failures, error)
                close_old_connections()
                record_cycle(time.monotonic() - started, None)
            if once:
                break
            pause = interval * min(2**failures, 30) if failures else interval
            stop.wait(max(0.0, pause - (time.monotonic() - started)))
        log.info("monitor loop stopped")
