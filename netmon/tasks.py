"""Entry points of the periodic tasks run by the django-q2 cluster."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Success

from accounts.throttle import forget_old_failures
from alerts.choices import AlertKind, AlertState, Severity
from alerts.models import Alert
from alerts.outbox import queue_alert
from connectivity.tasks import prune_connectivity
from heartbeats.retention import prune_heartbeats
from hosts.models import StatusChange
from netmon.health import health_report


def cleanup() -> dict[str, int]:
    now = timezone.now()
    old_alerts = Alert.objects.filter(
        created_at__lt=now - timedelta(days=settings.ALERT_KEEP_DAYS)
    ).exclude(state=AlertState.PENDING)
    old_changes = StatusChange.objects.filter(
        at__lt=now - timedelta(days=settings.STATUS_HISTORY_KEEP_DAYS)
    )
    return {
        "heartbeats": prune_heartbeats(),
        "alerts": old_alerts.delete()[0],
        "status_changes": old_changes.delete()[0],
        "task_results": Success.objects.filter(stopped__lt=now - timedelta(days=7)).delete()[0],
        "auth_failure_counts": forget_old_failures(),
        **prune_connectivity(now),
    }


# Outages raise their own alerts; the self-check would only repeat them.
ALERTED_ELSEWHERE = {"connectivity"}


def self_check() -> list[str]:
    """Alert on what the health report finds wrong, at most once a day per problem."""
    _, report = health_report()
    problems = [
        f"{name}: {check['detail']}"
        for name, check in report["checks"].items()
        if not check["ok"] and name not in ALERTED_ELSEWHERE
    ]
    problems += report["warnings"]
    since = timezone.now() - timedelta(hours=24)
    for problem in problems:
        title = f"netmon self-check: {problem}"[:300]
        if Alert.objects.filter(kind=AlertKind.SYSTEM, title=title, created_at__gte=since).exists():
            continue
        with transaction.atomic():
            queue_alert(AlertKind.SYSTEM, Severity.WARNING, title, problem)
    return problems
