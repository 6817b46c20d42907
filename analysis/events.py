"""The monitor loop's step for log analysis: send the alerts the runs decided on, once each.

A run (analysis/runner.py, in the task cluster) queues no alert. In its transaction it
records the events, and this step, every cycle of the monitor loop, turns them into alerts:

* **Findings**: the finding row is the event. A run that finds a sighting worth an alert
  (``Finding.should_alert``: ANALYSIS_ALERT_MIN_SEVERITY, a rise in severity, a return after
  ANALYSIS_REALERT_HOURS unless acknowledged) sets ``alert_due_at`` and ``alert_reason``: the
  rule needs how long the finding was quiet, which only that sighting knows. Several runs
  before the loop comes by still make one alert, of the finding as it is then.
* **Everything else a run alerts** (more findings than ANALYSIS_MAX_ALERTS_PER_RUN, a changed
  SSH host key, the failure streak reaching ANALYSIS_FAILURE_ALERT_AFTER, the recovery) is a
  ``RunEvent`` row. Not markers on the run, the source or the pinned key: one run can raise
  several of them (a changed key and the streak), and each alert must say what the run saw
  (the streak, both fingerprints), which later runs and an administrator accepting the key
  overwrite on the source and the key.

Each event is claimed with a conditional UPDATE (a finding by the ``alert_due_at`` it was
read with, a run event by ``alerted_at`` still empty) in one transaction with the alert it
queues: with several monitor loops one of them wins each row and the others update
nothing, so every alert is queued exactly once, and one that fails rolls its claim back for
the next cycle. Findings go first, so that a run's summary of the findings it held back
comes after the ones it let through; run events in the order they were recorded (a
failure before its recovery).
"""

from datetime import datetime

from django.db import transaction
from django.db.models import F

from analysis import alerts
from analysis.choices import RunEventKind
from analysis.models import Finding, RunEvent


def alert_analysis(now: datetime) -> int:
    """Queue the alerts of due findings, then of run events; returns how many."""
    return _alert_findings(now) + _alert_run_events(now)


def _alert_findings(now: datetime) -> int:
    queued = 0
    due = (
        Finding.objects.filter(alert_due_at__isnull=False)
        .order_by("alert_due_at", "id")
        .values_list("pk", "alert_due_at", "alert_reason")
    )
    for pk, due_at, reason in due:
        with transaction.atomic():
            claimed = Finding.objects.filter(pk=pk, alert_due_at=due_at).update(
                alert_due_at=None, alert_reason="", alerted_at=now, alerted_severity=F("severity")
            )
            if not claimed:  # another monitor loop sent it (and a run may have made it due again)
                continue
            finding = Finding.objects.select_related("host").get(pk=pk)
            finding.alert = alerts.queue_finding_alert(finding, reason)
            finding.save(update_fields=["alert"])
        queued += 1
    return queued


def _alert_run_events(now: datetime) -> int:
    queued = 0
    pending = RunEvent.objects.filter(alerted_at__isnull=True).order_by("id")
    for pk in pending.values_list("pk", flat=True):
        with transaction.atomic():
            if not RunEvent.objects.filter(pk=pk, alerted_at__isnull=True).update(alerted_at=now):
                continue
            _queue(RunEvent.objects.select_related("run__host").get(pk=pk))
        queued += 1
    return queued


def _queue(event: RunEvent) -> None:
    run, details = event.run, event.details
    match event.kind:
        case RunEventKind.FINDINGS_HELD_BACK:
            alerts.queue_summary_alert(run, details["count"])
        case RunEventKind.HOST_KEY_CHANGED:
            alerts.queue_host_key_changed_alert(
                run, details["endpoint"], details["pinned"], details["presented"]
            )
        case RunEventKind.FAILING:
            alerts.queue_failing_alert(run, details["streak"])
        case RunEventKind.RECOVERED:
            alerts.queue_recovered_alert(run)
