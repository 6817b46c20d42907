"""One analysis run of a log source: collect the new lines, redact them, analyse them with
the rules (and the LLM when one is configured), store the findings, alert, move the cursor.

Nothing here raises for a problem of the source, the network or the LLM: every failure is
recorded on the run, counted on the source (the Nth failure in a row raises one alert, the
next success one recovery notice) and the worker goes on. A changed SSH host key is a
security event: it is alerted on the first run that sees it, once per change.

A run queues no alert itself: in its transaction it marks the findings that deserve one
(``Finding.alert_due_at``) and records its other events (``RunEvent``); the monitor loop
alerts them within a cycle (analysis/events.py).

Failures are recorded with a kind and netmon's own message (CollectionError, LLMError);
an unexpected exception only by its class, because its text may carry anything (the
traceback goes to the server log).
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from analysis import host_keys, log_config
from analysis.alerts import host_key_details
from analysis.choices import SEVERITY_RANK, RunEventKind, RunStatus, Trigger
from analysis.collection import Collected, collect
from analysis.findings import FoundIssue, merge, merge_into
from analysis.llm import LLMClient, LLMError, Usage, llm_configured
from analysis.models import AnalysisRun, Finding, LogSource, RunEvent, fingerprint
from analysis.prompt import analyse_with_llm
from analysis.redact import redact_lines
from analysis.rules import RuleAnalyser
from analysis.ssh import CollectionError, HostKeyChanged

logger = logging.getLogger(__name__)


@dataclass
class Failure:
    """Why a run failed: ``stage`` collection, llm or internal; ``kind`` what failed."""

    stage: str
    kind: str
    message: str
    host_key_change: HostKeyChanged | None = None

    @classmethod
    def of_collection(cls, error: CollectionError) -> "Failure":
        change = error if isinstance(error, HostKeyChanged) else None
        return cls("collection", error.kind, str(error), change)


@dataclass
class RunOutcome:
    run: AnalysisRun
    issues: list[FoundIssue] = field(default_factory=list)
    alerts: int = 0  # finding alerts the run made due (the monitor loop sends them)

    @property
    def ok(self) -> bool:
        return self.run.status == RunStatus.OK


def lease_seconds() -> int:
    return settings.ANALYSIS_RUN_TIME_LIMIT_SECONDS + 60


def run_source(
    source: LogSource | int, trigger: str = Trigger.SCHEDULE, dry_run: bool = False
) -> RunOutcome | None:
    """Analyse a source now. ``None`` when another run of it is in progress.

    ``dry_run``: read from the current position and analyse, but store nothing (no run, no
    findings, no cursor) and send nothing.
    """
    if isinstance(source, int):
        source = LogSource.objects.select_related("host").get(pk=source)
    started = timezone.now()
    if not dry_run:
        until = started + timedelta(seconds=lease_seconds())
        free = Q(running_until__isnull=True) | Q(running_until__lt=started)
        if not LogSource.objects.filter(free, pk=source.pk).update(running_until=until):
            return None
    run = AnalysisRun(
        host=source.host,
        trigger=trigger,
        started_at=started,
        target=source.target[:1500],
        model="",
    )
    if not dry_run:
        run.save()
    try:
        return _run(source, run, dry_run)
    except Exception as error:  # a bug must not stop the worker nor leave the run open
        logger.exception("log analysis of %s failed", source.host.host_id)
        outcome = RunOutcome(run)
        message = f"internal error ({error.__class__.__name__}); the server log has the details"
        _finish(source, run, None, [], dry_run, Failure("internal", "internal", message))
        return outcome
    finally:
        if not dry_run:
            LogSource.objects.filter(pk=source.pk).update(running_until=None)


def _run(source: LogSource, run: AnalysisRun, dry_run: bool) -> RunOutcome:
    deadline = time.monotonic() + settings.ANALYSIS_RUN_TIME_LIMIT_SECONDS
    outcome = RunOutcome(run)
    try:
        collected = collect(source)
    except CollectionError as error:
        _finish(source, run, None, [], dry_run, Failure.of_collection(error))
        return outcome
    run.bytes_read = collected.bytes_read
    run.lines_read = len(collected.lines)
    run.notes = list(collected.notes)
    lines, redacted = redact_lines(collected.lines)
    if redacted:
        run.notes.append(f"{redacted} line(s) had secrets redacted")
    rule_issues = RuleAnalyser().feed(lines).findings()
    run.analyzers = "rules"
    issues, failure = rule_issues, None
    if llm_configured() and lines:
        client = LLMClient.from_settings(source.model)
        run.model = client.model
        run.analyzers = "rules+llm"
        try:
            result = analyse_with_llm(
                client,
                f"{source.host.name} ({source.host.host_id})",
                lines,
                source.analysis_prompt,
                deadline=deadline - settings.LLM_TIMEOUT_SECONDS,
            )
        except LLMError as error:
            failure = Failure("llm", error.kind, str(error))
            run.notes.append("the rule analyser's findings are kept")
        else:
            run.lines_analysed = result.lines_analysed
            run.notes += result.notes
            issues, run.cross_check = cross_check(rule_issues, result.issues)
        _account(run, client.usage)
    else:
        run.lines_analysed = len(lines)
    if not run.lines_analysed:
        run.lines_analysed = len(lines)
    outcome.issues = issues
    outcome.alerts = _finish(source, run, collected, issues, dry_run, failure)
    return outcome


def _account(run: AnalysisRun, usage: Usage) -> None:
    run.llm_requests = usage.requests
    run.input_tokens = usage.input_tokens
    run.output_tokens = usage.output_tokens
    run.cost = usage.cost()
    run.notes += usage.notes[:20]


def cross_check(
    rule_issues: list[FoundIssue], llm_issues: list[FoundIssue]
) -> tuple[list[FoundIssue], dict]:
    """Both analysers' findings as one list: an LLM finding of the same category and source
    as a rule finding is folded into it. The report lists what only one of them found."""
    matched_rules: set[int] = set()
    separate: list[FoundIssue] = []
    for issue in llm_issues:
        twin = next(
            (
                index
                for index, rule in enumerate(rule_issues)
                if rule.category == issue.category
                and (rule.key == issue.key or set(rule.source_ips) & set(issue.source_ips))
            ),
            None,
        )
        if twin is None:
            separate.append(issue)
        else:
            merge_into(rule_issues[twin], issue)
            matched_rules.add(twin)
    report = {
        "rules_only": [i.title for n, i in enumerate(rule_issues) if n not in matched_rules],
        "llm_only": [i.title for i in separate],
        "both": [rule_issues[n].title for n in sorted(matched_rules)],
    }
    return merge([*rule_issues, *separate]), report


def _finish(
    source: LogSource,
    run: AnalysisRun,
    collected: Collected | None,
    issues: list[FoundIssue],
    dry_run: bool,
    failure: Failure | None,
) -> int:
    """Record the outcome: findings, their alerts due, the run's events, cursor, the source's
    failure streak. Returns the finding alerts made due."""
    now = timezone.now()
    run.finished_at = now
    run.status = RunStatus.FAILED if failure else RunStatus.OK
    if failure:
        run.error, run.error_stage, run.error_kind = (
            failure.message[:1000],
            failure.stage,
            failure.kind,
        )
    run.findings_count = len(issues)
    if dry_run:
        return 0
    due = 0
    with transaction.atomic():
        current = LogSource.objects.select_for_update().select_related("host").get(pk=source.pk)
        fields = [
            "last_run_at",
            "failure_streak",
            "failure_alerted",
            "last_error",
            "last_error_kind",
        ]
        current.last_run_at = now
        if collected is not None and _same_target(source, current):
            current.cursor = collected.cursor
            fields.append("cursor")
        if issues:
            due = store_findings(current.host, issues, run, now)
        if failure:
            current.failure_streak += 1
            current.last_error, current.last_error_kind = run.error, run.error_kind
            change = failure.host_key_change
            if change and host_keys.record_change(change):
                RunEvent.objects.create(
                    run=run, kind=RunEventKind.HOST_KEY_CHANGED, details=host_key_details(change)
                )
            if (
                current.failure_streak >= settings.ANALYSIS_FAILURE_ALERT_AFTER
                and not current.failure_alerted
            ):
                current.failure_alerted = True
                RunEvent.objects.create(
                    run=run, kind=RunEventKind.FAILING, details={"streak": current.failure_streak}
                )
        else:
            if current.failure_alerted:
                RunEvent.objects.create(run=run, kind=RunEventKind.RECOVERED)
            current.failure_streak = 0
            current.failure_alerted = False
            current.last_error, current.last_error_kind = "", ""
            current.last_success_at = now
            fields.append("last_success_at")
        current.save(update_fields=fields)
        run.save()
    return due


def _same_target(before: LogSource, after: LogSource) -> bool:
    """False when the source was re-pointed while this run read the old target."""
    return all(getattr(before, key) == getattr(after, key) for key in log_config.TARGET_KEYS)


def store_findings(host, issues: list[FoundIssue], run: AnalysisRun, now: datetime) -> int:
    """Create or update one finding per issue (by fingerprint) and mark the alerts they
    deserve due, at most ANALYSIS_MAX_ALERTS_PER_RUN (the rest: one summary event).

    The decision is taken here because only this sighting knows how long the finding was
    quiet; the monitor loop sends it. A finding whose alert is due already (not sent yet)
    stays due as it is: one alert, with the finding as it is then. Returns alerts made due.
    """
    try:
        with transaction.atomic():
            sightings = _upsert_all(host, issues, run, now)
    except IntegrityError:  # a finding created meanwhile by another run: one by one
        sightings = [_upsert(host, issue, run, now) for issue in issues]
    due, held_back = 0, 0
    for finding, quiet in sightings:
        if finding.alert_due_at is not None or not finding.should_alert(quiet):
            continue
        if due >= settings.ANALYSIS_MAX_ALERTS_PER_RUN:
            held_back += 1
            continue
        finding.alert_reason = ""
        if finding.alerted_severity:
            finding.alert_reason = (
                "Severity rose since the last alert."
                if SEVERITY_RANK[finding.severity] > SEVERITY_RANK[finding.alerted_severity]
                else f"Seen again after {_hours(quiet)} without it."
            )
        finding.alert_due_at = now
        finding.save(update_fields=["alert_due_at", "alert_reason"])
        due += 1
    if held_back:
        RunEvent.objects.create(
            run=run, kind=RunEventKind.FINDINGS_HELD_BACK, details={"count": held_back}
        )
    return due


UPDATED_FIELDS = [
    "title",
    "description",
    "evidence",
    "source_ips",
    "recommended_action",
    "analyzers",
    "severity",
    "count",
    "events",
    "last_seen_at",
    "last_run",
]


def _values(issue: FoundIssue) -> dict:
    return {
        "title": issue.title,
        "description": issue.description,
        "evidence": issue.evidence,
        "source_ips": issue.source_ips,
        "recommended_action": issue.recommended_action,
        "analyzers": "+".join(issue.analyzers),
    }


def _upsert_all(
    host, issues: list[FoundIssue], run: AnalysisRun, now: datetime
) -> list[tuple[Finding, timedelta | None]]:
    """All findings of a run in a few queries (a busy log can have thousands)."""
    marks = [fingerprint(host.host_id, issue.category, issue.key) for issue in issues]
    existing: dict[str, Finding] = {}
    for start in range(0, len(marks), 500):
        batch = Finding.objects.select_for_update().filter(
            fingerprint__in=marks[start : start + 500]
        )
        existing.update((finding.fingerprint, finding) for finding in batch)
    sightings: list[tuple[Finding, timedelta | None]] = []
    created, updated = [], []
    for mark, issue in zip(marks, issues, strict=True):
        finding = existing.get(mark)
        if finding is None:
            finding = _new_finding(host, mark, issue, run, now)
            created.append(finding)
            sightings.append((finding, None))
            continue
        quiet = now - finding.last_seen_at
        _update(finding, issue, run, now)
        updated.append(finding)
        sightings.append((finding, quiet))
    Finding.objects.bulk_create(created, batch_size=500)
    Finding.objects.bulk_update(updated, UPDATED_FIELDS, batch_size=500)
    through = Finding.runs.through
    through.objects.bulk_create(
        [through(finding_id=finding.pk, analysisrun_id=run.pk) for finding, _ in sightings],
        batch_size=500,
    )
    return sightings


def _new_finding(host, mark: str, issue: FoundIssue, run: AnalysisRun, now: datetime) -> Finding:
    return Finding(
        host=host,
        fingerprint=mark,
        key=issue.key[:200],
        category=issue.category,
        severity=issue.severity,
        events=issue.events,
        first_seen_at=now,
        last_seen_at=now,
        last_run=run,
        **_values(issue),
    )


def _update(finding: Finding, issue: FoundIssue, run: AnalysisRun, now: datetime) -> None:
    for name, value in _values(issue).items():
        setattr(finding, name, value)
    if SEVERITY_RANK[issue.severity] > SEVERITY_RANK[finding.severity]:
        finding.severity = issue.severity
    finding.count += 1
    finding.events += issue.events
    finding.last_seen_at = now
    finding.last_run = run


def _hours(delta: timedelta | None) -> str:
    hours = (delta or timedelta()).total_seconds() / 3600
    return f"{hours:.0f} h" if hours >= 1 else f"{hours * 60:.0f} min"


def _upsert(
    host, issue: FoundIssue, run: AnalysisRun, now: datetime
) -> tuple[Finding, timedelta | None]:
    """One finding, for when the bulk path met a concurrent insert."""
    mark = fingerprint(host.host_id, issue.category, issue.key)
    finding = Finding.objects.select_for_update().filter(fingerprint=mark).first()
    if finding is None:
        finding = _new_finding(host, mark, issue, run, now)
        finding.save()
        finding.runs.add(run)
        return finding, None
    quiet = now - finding.last_seen_at
    _update(finding, issue, run, now)
    finding.save()
    finding.runs.add(run)
    return finding, quiet
