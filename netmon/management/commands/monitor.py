"""The monitor loop: every second or so, sweep for overdue hosts and dispatch alerts.

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
from connectivity.healthchecks import ping_healthchecks
from connectivity.loop import current_link, hold_deadlines
from hosts.alerting import end_flapping, send_due_reminders
from hosts.sweep import forgive_gap, sweep
from netmon.monitor_stats import record_cycle

log = logging.getLogger("netmon.monitor")


def run_cycle() -> dict:
    now = timezone.now()
    link = current_link()  # our own internet link: while it is down, deadlines wait
    postponed = forgive_gap(now) + hold_deadlines(link, now)
    outcome = {
        "marked_down": sweep(now),
        "postponed": postponed,
        "reminders": send_due_reminders(now),
        "stabilised": end_flapping(now),
        "dispatched": dispatch_due(),
    }
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
        while not stop.is_set():
            started = time.monotonic()
            try:
                outcome = run_cycle()
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
                log.warning("cycle failed (%s): %s", failures, error)
                close_old_connections()
                record_cycle(time.monotonic() - started, None)
            if once:
                break
            pause = interval * min(2**failures, 30) if failures else interval
            stop.wait(max(0.0, pause - (time.monotonic() - started)))
        log.info("monitor loop stopped")
