"""Log sources (one per host), analysis runs and the findings they produce."""

import hashlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.timezone import now

from alerts.models import Alert
from analysis import log_config
from analysis.choices import (
    SEVERITY_RANK,
    Analyzer,
    FindingSeverity,
    Method,
    RunEventKind,
    RunStatus,
    Trigger,
    TrustOrigin,
)
from hosts.models import Host

# Shown instead of the error of a run, or of a source, recorded before errors were classified:
# the messages of those versions could quote files, command output and provider answers.
UNCLASSIFIED_ERROR = (
    "(not shown: recorded by an older version of netmon, whose messages could quote files)"
)


def shown_error(error: str, kind: str) -> str:
    """An error as it may be shown: only what this version wrote (it always sets a kind)."""
    if not error or kind:
        return error
    return UNCLASSIFIED_ERROR


class LogSource(models.Model):
    """Where and how a host's log is read, how often it is analysed, and where reading
    stopped last time. The host API's ``log_analysis_config`` block is a view of this."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="log_source")
    enabled = models.BooleanField(default=True)
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.SSH)
    ssh_host = models.CharField(max_length=255, blank=True, help_text="name or address")
    ssh_port = models.PositiveIntegerField(
        default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    ssh_user = models.CharField(max_length=100, blank=True)
    ssh_key = models.CharField(
        "SSH key",
        max_length=100,
        blank=True,
        validators=[RegexValidator(log_config.KEY_NAME, "The name of a file, not a path.")],
        help_text="name of a private key file in ANALYSIS_SSH_KEY_DIRS (default data/ssh); "
        "empty: the default keys of the user netmon runs as",
    )
    ssh_key_passphrase_env = models.CharField(
        max_length=100,
        blank=True,
        validators=[RegexValidator(log_config.ENV_NAME, "Name of an environment variable.")],
        help_text="name of the environment variable holding the key's passphrase",
    )
    ssh_trust_on_first_use = models.BooleanField(
        default=False,
        help_text="accept and pin the host key when netmon has none pinned for this host and "
        "port (a changed key is still refused)",
    )
    log_path = models.CharField(
        max_length=500,
        blank=True,
        help_text="read this file incrementally (local, or over SSH) instead of the command",
    )
    log_command = models.CharField(max_length=1000, default=log_config.DEFAULT_COMMAND)
    analysis_frequency = models.PositiveIntegerField(
        default=log_config.DEFAULT_FREQUENCY,
        validators=[
            MinValueValidator(log_config.MIN_FREQUENCY),
            MaxValueValidator(log_config.MAX_FREQUENCY),
        ],
        help_text="seconds between analyses",
    )
    analysis_prompt = models.TextField(
        blank=True, max_length=4000, help_text="extra instructions for the LLM"
    )
    model = models.CharField(max_length=100, blank=True, help_text="default: LLM_DEFAULT_MODEL")

    # Collection state
    cursor = models.JSONField(default=dict, blank=True, editable=False)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    running_until = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=1000, blank=True, editable=False)
    last_error_kind = models.CharField(max_length=30, blank=True, editable=False)
    failure_streak = models.PositiveIntegerField(default=0, editable=False)
    failure_alerted = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host__host_id"]
        indexes = [models.Index(fields=["enabled", "next_run_at"], name="logsource_due_idx")]

    def __str__(self) -> str:
        return f"log source of {self.host.host_id}"

    def clean(self) -> None:
        values = {key: getattr(self, key) for key in log_config.DEFAULTS}
        if problems := log_config.source_problems(values):
            raise ValidationError("; ".join(problems))

    @property
    def reads_file(self) -> bool:
        return bool(self.log_path)

    @property
    def target(self) -> str:
        """What is read, for messages."""
        what = self.log_path or self.log_command
        if self.method == Method.SSH:
            user = f"{self.ssh_user}@" if self.ssh_user else ""
            port = f":{self.ssh_port}" if self.ssh_port != 22 else ""
            return f"{user}{self.ssh_host}{port}: {what}"
        return what

    @property
    def shown_last_error(self) -> str:
        return shown_error(self.last_error, self.last_error_kind)

    def reset_cursor(self) -> None:
        self.cursor = {}


class AnalysisRun(models.Model):
    """One collection and analysis of a source's new log lines."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="analysis_runs")
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.SCHEDULE)
    started_at = models.DateTimeField(default=now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=1000, blank=True, help_text="why the run failed")
    error_stage = models.CharField(
        max_length=20, blank=True, help_text="collection, llm or internal"
    )
    error_kind = models.CharField(
        max_length=30, blank=True, help_text="what failed, e.g. host_key_changed, auth_failed"
    )
    target = models.CharField(max_length=1500, blank=True)
    bytes_read = models.PositiveBigIntegerField(default=0)
    lines_read = models.PositiveIntegerField(default=0)
    lines_analysed = models.PositiveIntegerField(default=0)
    notes = models.JSONField(default=list, blank=True, help_text="rotation, skipped data, …")
    analyzers = models.CharField(max_length=20, blank=True, help_text="rules, rules+llm")
    model = models.CharField(max_length=100, blank=True)
    llm_requests = models.PositiveIntegerField(default=0)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True, help_text="USD, when priced"
    )
    findings_count = models.PositiveIntegerField(default=0)
    cross_check = models.JSONField(
        default=dict, blank=True, help_text="findings only one analyser reported"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["host", "started_at"], name="run_host_started_idx")]

    def __str__(self) -> str:
        return f"{self.host.host_id} at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def shown_error(self) -> str:
        return shown_error(self.error, self.error_kind)

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 3)


def fingerprint(host_id: str, category: str, key: str) -> str:
    return hashlib.sha256(f"{host_id}\0{category}\0{key}".encode()).hexdigest()


class Finding(models.Model):
    """One issue on one host. Found again in a later run, it is the same row, counted.

    It is also the event of its alerts: a run that finds it worth an alert (``should_alert``)
    sets ``alert_due_at`` and the reason, and the monitor loop sends it (analysis/events.py),
    clearing the one and setting ``alerted_at``, ``alerted_severity`` and ``alert``.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="findings")
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    key = models.CharField(max_length=200, blank=True, help_text="e.g. the source address")
    category = models.CharField(max_length=40)
    severity = models.CharField(max_length=10, choices=FindingSeverity.choices)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    evidence = models.JSONField(default=list, blank=True)
    source_ips = models.JSONField(default=list, blank=True)
    recommended_action = models.TextField(blank=True)
    analyzers = models.CharField(max_length=20, help_text="rules, llm or rules+llm")
    count = models.PositiveIntegerField(default=1, help_text="runs that found it")
    events = models.PositiveIntegerField(default=0, help_text="matching log events, all runs")
    first_seen_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now, db_index=True)
    runs = models.ManyToManyField(AnalysisRun, related_name="findings", blank=True)
    last_run = models.ForeignKey(
        AnalysisRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    alert = models.ForeignKey(
        Alert, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    alerted_at = models.DateTimeField(null=True, blank=True)
    alerted_severity = models.CharField(max_length=10, blank=True)
    alert_due_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="a run found it worth an alert, not sent yet",
    )
    alert_reason = models.CharField(
        max_length=200, blank=True, editable=False, help_text="why it alerts again, if it does"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        indexes = [
            models.Index(fields=["host", "last_seen_at"], name="finding_host_seen_idx"),
            # What the monitor loop reads every cycle: usually nothing.
            models.Index(
                fields=["alert_due_at"],
                name="finding_alert_due_idx",
                condition=Q(alert_due_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host.host_id}: {self.title}"

    @property
    def analyzer_list(self) -> list[str]:
        return [name for name in Analyzer.values if name in self.analyzers.split("+")]

    def acknowledge(self, by: str) -> None:
        if self.acknowledged_at is None:
            self.acknowledged_at = now()
            self.acknowledged_by = by[:150]
            self.save(update_fields=["acknowledged_at", "acknowledged_by"])

    def should_alert(self, quiet_since: timedelta | None) -> bool:
        """Whether this sighting deserves an alert: its first at or above the alert level, a
        rise in severity, or a return after ``quiet_since`` of silence (not when acknowledged).
        """
        if SEVERITY_RANK[self.severity] < SEVERITY_RANK[settings.ANALYSIS_ALERT_MIN_SEVERITY]:
            return False
        if not self.alerted_severity:
            return True
        if SEVERITY_RANK[self.severity] > SEVERITY_RANK[self.alerted_severity]:
            return True
        if self.acknowledged_at is not None or quiet_since is None:
            return False
        hours = settings.ANALYSIS_REALERT_HOURS
        return bool(hours) and quiet_since >= timedelta(hours=hours)


class RunEvent(models.Model):
    """Something a run saw that alerts, besides its findings: more findings than it may
    alert, a changed SSH host key, the failure streak reaching ANALYSIS_FAILURE_ALERT_AFTER,
    the first good run after it. Written in the run's transaction, alerted by the monitor
    loop (analysis/events.py); ``details`` keeps what the alert says as the run saw it."""

    run = models.ForeignKey(AnalysisRun, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=10, choices=RunEventKind.choices)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=now)
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"], name="runevent_unalerted_idx", condition=Q(alerted_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (run {self.run_id})"


class SSHHostKey(models.Model):
    """An SSH server's host key as netmon trusts it: the only trust store of log collection.

    Pinned on first use (when a source allows it) or added by an administrator; a key
    trusted on first use waits for an administrator to confirm its fingerprint. When the
    server presents another key, the run is refused before authentication and the new key
    is kept in ``changed_*`` (for one alert per change, and for the admin to accept it).
    """

    ssh_host = models.CharField("SSH host", max_length=255, help_text="as in the log source")
    port = models.PositiveIntegerField(
        default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    algorithm = models.CharField(max_length=50, editable=False)
    public_key = models.TextField(help_text="OpenSSH format: key type and base64 data")
    fingerprint = models.CharField(max_length=100, editable=False, help_text="SHA256")
    origin = models.CharField(
        max_length=10, choices=TrustOrigin.choices, editable=False, help_text="how it was trusted"
    )
    trusted_at = models.DateTimeField(default=now, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    confirmed_by = models.CharField(max_length=150, blank=True, editable=False)
    changed_public_key = models.TextField(
        blank=True, editable=False, help_text="the other key the server presented last"
    )
    changed_fingerprint = models.CharField(max_length=100, blank=True, editable=False)
    changed_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "SSH host key"
        ordering = ["ssh_host", "port", "algorithm"]
        constraints = [
            models.UniqueConstraint(
                fields=["ssh_host", "port", "algorithm"], name="sshhostkey_one_per_type"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ssh_host}:{self.port} {self.algorithm} {self.fingerprint}"
