"""Entry points for the django-q2 cluster (see netmon/schedules.py and netmon/tasks.py)."""

from datetime import datetime, timedelta

from django.conf import settings

from connectivity.checks import run_check
from connectivity.config import check_cron
from connectivity.models import ConnectivityCheck, Outage


def check_connectivity() -> dict:
    """The periodic check (every CONNECTIVITY_CHECK_INTERVAL_MINUTES)."""
    if not settings.CONNECTIVITY_ENABLED:
        return {"skipped": "CONNECTIVITY_ENABLED is off"}
    check, event = run_check()
    return {"link_up": check.link_up, "summary": check.summary, "outage": event or None}


def prune_connectivity(now: datetime) -> dict[str, int]:
    """Checks after CONNECTIVITY_CHECK_KEEP_DAYS; ended outages after STATUS_HISTORY_KEEP_DAYS
    (they are the link's status history: uptime figures come from them)."""
    checks = ConnectivityCheck.objects.filter(
        checked_at__lt=now - timedelta(days=settings.CONNECTIVITY_CHECK_KEEP_DAYS)
    )
    outages = Outage.objects.filter(
        ended_at__lt=now - timedelta(days=settings.STATUS_HISTORY_KEEP_DAYS)
    )
    return {
        "connectivity_checks": checks.delete()[0],
        "outages": outages.delete()[0],
    }


def check_schedule() -> str:
    """The cron expression of the periodic check (netmon/schedules.py)."""
    return check_cron(settings.CONNECTIVITY_CHECK_INTERVAL_MINUTES)
