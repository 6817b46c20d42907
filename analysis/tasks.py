"""Entry points for the django-q2 cluster: every minute, queue the sources that are due."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from analysis.choices import Trigger
from analysis.models import AnalysisRun, LogSource
from analysis.runner import lease_seconds, run_source
from hosts.choices import HostStatus

BATCH = 200


def queue_due(now=None) -> int:
    """Queue one task per enabled source whose time has come (paused hosts wait).

    Each source is claimed with a conditional update of ``next_run_at``, so that two
    schedulers never queue it twice; its next run is one ``analysis_frequency`` later.
    """
    now = now or timezone.now()
    due = (
        LogSource.objects.filter(enabled=True)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
        .exclude(host__status=HostStatus.PAUSED)
        .select_related("host")
        .order_by("next_run_at")[:BATCH]
    )
    queued = 0
    for source in due:
        claimed = LogSource.objects.filter(pk=source.pk, next_run_at=source.next_run_at)
        if source.next_run_at is None:
            claimed = LogSource.objects.filter(pk=source.pk, next_run_at__isnull=True)
        next_run = now + timedelta(seconds=source.analysis_frequency)
        if claimed.update(next_run_at=next_run):
            async_task(
                "analysis.tasks.run_source_task",
                source.pk,
                task_name=f"log analysis {source.host.host_id}",
                timeout=lease_seconds(),
            )
            queued += 1
    return queued


def run_source_task(source_id: int, trigger: str = Trigger.SCHEDULE) -> dict:
    try:
        outcome = run_source(source_id, trigger)
    except LogSource.DoesNotExist:
        return {"source": source_id, "skipped": "deleted"}
    if outcome is None:
        return {"source": source_id, "skipped": "another run is in progress"}
    run = outcome.run
    return {
        "run": run.pk,
        "status": run.status,
        "error": run.error,
        "findings": run.findings_count,
        "alerts": outcome.alerts,
    }


def cleanup(now=None) -> int:
    """Delete runs older than ANALYSIS_RUN_KEEP_DAYS (findings stay)."""
    now = now or timezone.now()
    limit = now - timedelta(days=settings.ANALYSIS_RUN_KEEP_DAYS)
    _, deleted = AnalysisRun.objects.filter(started_at__lt=limit).delete()
    return deleted.get(AnalysisRun._meta.label, 0)
