"""Derived state of heartbeat rows, computed in the database."""

from django.db import models
from django.db.models import Case, F, Q, Value, When


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # Started and never closed: its host went down as "started but never finished", or
    # a later start replaced it. Not stored: the host's open run says which one is current.
    UNFINISHED = "unfinished", "Never finished"


class RunQuerySet(models.QuerySet):
    def with_state(self) -> "RunQuerySet":
        """Each run with ``state`` (``RunState``): an open run is ``running`` only while it
        is its host's current run (same start and run id), otherwise ``unfinished``."""
        current = Q(host__run_started_at=F("started_at"), host__run_id=F("run_id"))
        return self.annotate(
            state=Case(
                When(finished_at__isnull=False, failed=True, then=Value(RunState.FAILED)),
                When(finished_at__isnull=False, then=Value(RunState.SUCCEEDED)),
                When(current, then=Value(RunState.RUNNING)),
                default=Value(RunState.UNFINISHED),
                output_field=models.CharField(),
            )
        )
