"""The "connectivity" entry of the health report (non-critical): link state, open outage."""

from datetime import datetime

from django.conf import settings
from django.utils import timezone

from connectivity.loop import current_link, stale_after


def link_health(now: datetime | None = None) -> tuple[bool, str]:
    """``(ok, detail)``. Not ok while an outage is open or when the checks stopped.

    The details of problems stay the same while the problem lasts, as the hourly
    self-check alerts each distinct problem once a day.
    """
    now = now or timezone.now()
    if not settings.CONNECTIVITY_ENABLED:
        return True, "connectivity monitoring is off (CONNECTIVITY_ENABLED)"
    link = current_link()
    if link is None or link.last_check_at is None:
        return True, "no connectivity check yet"
    if link.outage_started_at is not None:
        return False, f"internet outage since {link.outage_started_at:%Y-%m-%d %H:%M} UTC"
    if not link.fresh(now):
        minutes = int(stale_after().total_seconds() // 60)
        return False, f"no connectivity check in the last {minutes} min (is the task cluster up?)"
    age = (now - link.last_check_at).total_seconds()
    state = "up" if link.link_up else "down in the last check, no outage yet"
    return True, f"link {state}; checked {age:.0f} s ago: {link.summary}"
