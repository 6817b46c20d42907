"""One connectivity check: probe every target, store the result, move the link state on."""

import time
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from connectivity.config import parse_targets
from connectivity.models import ConnectivityCheck, LinkState
from connectivity.probes import probe_all


def probe(at: datetime | None = None) -> ConnectivityCheck:
    """Probe the configured targets now; the check is returned unsaved."""
    at = at or timezone.now()
    targets = parse_targets(settings.CONNECTIVITY_TARGETS)
    started = time.monotonic()
    results = probe_all(targets, settings.CONNECTIVITY_TIMEOUT_SECONDS)
    return ConnectivityCheck.from_results(
        at, results, time.monotonic() - started, settings.CONNECTIVITY_DOWN_PERCENT
    )


def run_check(now: datetime | None = None) -> tuple[ConnectivityCheck, str]:
    """Probe, save, and open or close an outage: returns the check and "opened",
    "closed" or "". ``now`` stands in for the clock (tests)."""
    check = probe(now)
    return check, LinkState.record_check(check, now or timezone.now())
