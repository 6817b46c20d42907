from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.utils.timezone import now as timezone_now

from hosts import schedule
from hosts.choices import ChangeCause, GapCause, HostStatus, ScheduleType
from hosts.querysets import HostQuerySet, display_status
from hosts.validators import (
    MAX_FREQUENCY,
    MAX_GRACE,
    MIN_FREQUENCY,
    tags_problem,
    validate_host_id,
    validate_single_line,
    validate_timezone,
)
from netmon.tokens import generate_token, hash_token, token_prefix

# The longest limit a run can be given: as long as the longest expected interval.
MAX_RUN = MAX_FREQUENCY


def default_timezone() -> str:
    return settings.BUSINESS_HOURS_TIMEZONE


def business_window() -> schedule.Window:
    return schedule.Window(
        settings.BUSINESS_HOURS_START, settings.BUSINESS_HOURS_END, settings.BUSINESS_HOURS_DAYS
    )


class Host(models.Model):
    host_id = models.CharField(max_length=64, unique=True, validators=[validate_host_id])
    name = models.CharField(max_length=200, validators=[validate_single_line])
    token_hash = models.CharField(max_length=64, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False)
    # The secret of the host's ping URL (/ping/<token>): independent of the bearer token, so
    # a URL that leaks into a log or a shell history can be rotated on its own. Null until
    # one is issued (unique, and several hosts may have none: see Meta.constraints).
    ping_token_hash = models.CharField(  # noqa: DJ001 (null: unique, yet many have none)
        max_length=64, null=True, editable=False
    )
    ping_token_prefix = models.CharField(max_length=8, blank=True, editable=False)
    # A secret the host had elsewhere (its healthchecks UUID, its Uptime Kuma push token),
    # kept so that clients written for those keep working unchanged.
    compat_token_hash = models.CharField(  # noqa: DJ001 (as ping_token_hash)
        max_length=64, null=True, editable=False
    )
    frequency_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(MIN_FREQUENCY), MaxValueValidator(MAX_FREQUENCY)]
    )
    grace_seconds = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(MAX_GRACE)]
    )
    # The longest a run (start signal to finish) may take before it is alerted as a warning;
    # null: no limit. The host stays up: a slow backup is news, not an outage.
    max_run_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_RUN)],
        help_text="Alert (a warning) when a run takes longer than this; empty: no limit.",
    )
    schedule_type = models.CharField(
        max_length=20, choices=ScheduleType.choices, default=ScheduleType.ALWAYS
    )
    cron_expression = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(
        max_length=64, default=default_timezone, validators=[validate_timezone]
    )
    status = models.CharField(
        max_length=10, choices=HostStatus.choices, default=HostStatus.NEW, editable=False
    )
    status_changed_at = models.DateTimeField(default=timezone_now, editable=False)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_expected_at = models.DateTimeField(null=True, blank=True, editable=False)
    next_deadline = models.DateTimeField(null=True, blank=True, editable=False)
    next_reminder_at = models.DateTimeField(null=True, blank=True, editable=False)
    flapping_since = models.DateTimeField(null=True, blank=True, editable=False)
    # When netmon last started watching the host afresh without a heartbeat (a resume, the
    # end of a reception gap): deadlines count from this or the last heartbeat.
    monitored_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The run a start signal opened (the latest, whatever its run id): it must finish within
    # the grace time, or the host goes down as "started but never finished".
    run_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    run_id = models.CharField(max_length=64, blank=True, editable=False)
    # When that run passes max_run_seconds, until the sweep claims it (hosts/querysets.py
    # ``claim_long_runs``): null when there is no open run, no limit, or it was claimed.
    run_limit_at = models.DateTimeField(null=True, blank=True, editable=False)
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = HostQuerySet.as_manager()

    class Meta:
        ordering = ["host_id"]
        # The secrets are unique where set, in partial indexes: a heartbeat's UPDATE moves
        # the indexed deadline, so PostgreSQL writes an entry into every index of the row
        # that covers it. Plain unique fields added a pattern-ops twin each and indexed the
        # NULLs of hosts without such a secret: four index writes per heartbeat, ~20 % of
        # its database time.
        constraints = [
            models.UniqueConstraint(
                fields=["ping_token_hash"],
                condition=models.Q(ping_token_hash__isnull=False),
                name="host_ping_token_unique",
            ),
            models.UniqueConstraint(
                fields=["compat_token_hash"],
                condition=models.Q(compat_token_hash__isnull=False),
                name="host_compat_token_unique",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_deadline"], name="host_due_idx"),
            models.Index(fields=["status", "next_reminder_at"], name="host_reminder_idx"),
            models.Index(
                fields=["run_limit_at"],
                condition=models.Q(run_limit_at__isnull=False),
                name="host_run_limit_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.host_id

    def save(self, *args, **kwargs) -> None:
        if not self.token_hash:
            self.set_new_token()
        self.refresh_deadline()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        # An emptied form field arrives as None: it means "none".
        self.tags = [] if self.tags is None else self.tags
        errors: dict[str, str] = {}
        if self.schedule_type == ScheduleType.CUSTOM:
            if not self.cron_expression:
                errors["cron_expression"] = "A cron expression is required for a custom schedule."
            elif problem := schedule.validate_cron(self.cron_expression):
                errors["cron_expression"] = problem
        elif self.cron_expression and (problem := schedule.validate_cron(self.cron_expression)):
            errors["cron_expression"] = problem
        if problem := tags_problem(self.tags):
            errors["tags"] = problem
        if errors:
            raise ValidationError(errors)

    @property
    def paused(self) -> bool:
        return self.status == HostStatus.PAUSED

    def display_status(self, now: datetime | None = None) -> str:
        return display_status(self.status, self.next_expected_at, now or timezone_now())

    def get_schedule(self) -> schedule.Schedule:
        return schedule.Schedule(
            kind=self.schedule_type,
            frequency=timedelta(seconds=self.frequency_seconds),
            grace=timedelta(seconds=self.grace_seconds),
            timezone=self.timezone,
            cron=self.cron_expression,
            window=business_window(),
        )

    def set_new_token(self, token: str | None = None) -> str:
        """Replace the token; the plain value is returned and never stored."""
        token = token or generate_token()
        self.token_hash = hash_token(token)
        self.token_prefix = token_prefix(token)
        return token

    def set_new_ping_token(self) -> str:
        """Replace the ping URL's token; the plain value is returned and never stored."""
        token = generate_token()
        self.ping_token_hash = hash_token(token)
        self.ping_token_prefix = token_prefix(token)
        return token

    def rotate_ping_token(self) -> str:
        """Give the host a new ping URL at once (the old one stops working); returns its
        token. Only the ping token's columns are written."""
        token = self.set_new_ping_token()
        self.save(update_fields=["ping_token_hash", "ping_token_prefix", "updated_at"])
        return token

    def set_compat_token(self, token: str | None) -> None:
        """Keep the secret the host had in healthchecks or Uptime Kuma (hashed), or drop it."""
        self.compat_token_hash = hash_token(token) if token else None

    def rotate_token(self) -> str:
        """Give the host a new token at once (the old one stops working); returns it.

        Only the token's columns are written: a heartbeat or a sweep racing this keeps
        what it wrote."""
        token = self.set_new_token()
        self.save(update_fields=["token_hash", "token_prefix", "updated_at"])
        return token

    @property
    def deadline_anchor(self) -> datetime | None:
        """What the next deadline counts from: the last heartbeat, or the moment netmon
        started watching the host afresh (a resume, the end of a reception gap), whichever
        is later."""
        moments = [t for t in (self.last_heartbeat_at, self.monitored_since) if t is not None]
        return max(moments, default=None)

    def refresh_deadline(self) -> None:
        """Recompute the next deadline from its anchor and the schedule.

        Only ``up`` hosts have a deadline: new hosts are not alerted before their
        first heartbeat, down hosts are already alerted, paused hosts never are.
        """
        anchor = self.deadline_anchor
        if self.status == HostStatus.UP and self.run_started_at is not None:
            finish_by = self.run_started_at + timedelta(seconds=self.grace_seconds)
            self.next_expected_at = self.next_deadline = finish_by
        elif self.status == HostStatus.UP and anchor is not None:
            due = schedule.next_deadline(self.get_schedule(), anchor)
            self.next_expected_at, self.next_deadline = due.expected_at, due.deadline
        else:
            self.next_expected_at = self.next_deadline = None

    def pause(self, reason: str = "paused") -> None:
        with transaction.atomic():
            host = Host.objects.select_for_update().get(pk=self.pk)
            if host.status != HostStatus.PAUSED:
                host.change_status(HostStatus.PAUSED, timezone_now(), reason)
        self.refresh_from_db()

    def resume(self, reason: str = "resumed") -> None:
        """Watch the host again from now on: alerted if it stays silent past the deadline
        that counts from now. A host never heard from waits for its first heartbeat, as
        a new one does."""
        with transaction.atomic():
            host = Host.objects.select_for_update().get(pk=self.pk)
            if host.status == HostStatus.PAUSED:
                at = timezone_now()
                if host.last_heartbeat_at is None:
                    host.change_status(HostStatus.NEW, at, reason)
                else:
                    host.monitored_since = at
                    host.change_status(HostStatus.UP, at, reason)
        self.refresh_from_db()

    def set_paused(self, paused: bool | None, via: str) -> None:
        """Pause (True) or resume (False) the host, or leave it (None); ``via`` says how."""
        if paused is True:
            self.pause(f"paused {via}")
        elif paused is False:
            self.resume(f"resumed {via}")

    def receive_heartbeat(self, at: datetime, run_id: str = "") -> None:
        """The state change a heartbeat causes; call with the row locked (the slow path of
        hosts/receiving.py). A heartbeat is a success signal: it ends the open run if it
        carries that run's id (none for none)."""
        self.last_heartbeat_at = at
        self._end_run(run_id)
        if self.status == HostStatus.NEW:
            self.change_status(HostStatus.UP, at, "first heartbeat")
        elif self.status == HostStatus.DOWN:
            self.change_status(HostStatus.UP, at, "heartbeat received")
        else:  # paused hosts are recorded but not monitored; up: a concurrent heartbeat
            self.save()

    def _end_run(self, run_id: str) -> None:
        if self.run_started_at is not None and run_id == self.run_id:
            self.run_started_at, self.run_id, self.run_limit_at = None, "", None

    def receive_start(self, at: datetime, run_id: str) -> None:
        """A start signal; call with the row locked. The run must finish within the grace
        time. A new host is watched from its first start, as from a first heartbeat; a down
        host stays down until a success. With a maximum run time, the sweep looks at the run
        again when it passes it (``run_limit_at``); a paused host is never alerted."""
        self.run_started_at, self.run_id = at, run_id
        self.run_limit_at = (
            at + timedelta(seconds=self.max_run_seconds)
            if self.max_run_seconds and self.status != HostStatus.PAUSED
            else None
        )
        if self.status == HostStatus.NEW:
            self.change_status(HostStatus.UP, at, "run started")
        else:
            self.save()

    def receive_failure(self, at: datetime, run_id: str, reason: str, detail: str) -> None:
        """A failure signal (fail, or a non-zero exit status); call with the row locked.

        A new or up host goes down at once, with an event that says why (``detail``: the
        tail of what the job sent); a down or paused host only records it."""
        self._end_run(run_id)
        if self.status in (HostStatus.NEW, HostStatus.UP):
            self.change_status(
                HostStatus.DOWN, at, reason, cause=ChangeCause.FAILURE, detail=detail
            )
        else:
            self.save()

    def change_status(
        self, to: str, at: datetime, reason: str, cause: str = "", detail: str = ""
    ) -> "StatusChange":
        """Change state and write the event that records it; call with the row locked.

        The event is what the monitor loop turns into alerts (hosts/alerting.py), in its
        next cycle: nothing is sent from inside this transaction.
        """
        change = StatusChange.objects.create(
            host=self,
            from_status=self.status,
            to_status=to,
            at=at,
            previous_since=self.status_changed_at,
            reason=reason[:200],
            cause=cause,
            detail=detail,
        )
        self.status = to
        self.status_changed_at = at
        if to != HostStatus.DOWN:
            self.next_reminder_at = None
        self.save()
        return change


class StatusChange(models.Model):
    """One transition of a host's state: the event the monitor alerts, and the source of
    uptime and downtime figures.

    Written in the transaction of the transition; ``alerted_at`` is set when the monitor
    loop has turned it into its alerts (or decided it calls for none), claimed with a
    conditional UPDATE so that several monitors handle each event once.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=HostStatus.choices)
    to_status = models.CharField(max_length=10, choices=HostStatus.choices)
    at = models.DateTimeField(default=timezone_now)
    previous_since = models.DateTimeField(
        null=True, blank=True, help_text="When the state left here had begun."
    )
    reason = models.CharField(max_length=200, blank=True)
    cause = models.CharField(max_length=12, choices=ChangeCause.choices, blank=True)
    # What the host sent with a failure signal (the tail of its output): shown in the alert
    # as data, never as markup.
    detail = models.TextField(blank=True)
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["host", "at"], name="statuschange_host_at_idx"),
            models.Index(
                fields=["at", "id"],
                condition=models.Q(alerted_at__isnull=True),
                name="statuschange_unalerted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host_id}: {self.from_status} → {self.to_status}"


class LongRun(models.Model):
    """A run that took longer than its host's ``max_run_seconds``: the event that the
    monitor loop alerts, once per run (hosts/alerting.py).

    Written when the run finishes over the limit (``HostQuerySet.note_long_run``, from the
    heartbeat path) or when the sweep finds it still open past the limit
    (``HostQuerySet.claim_long_runs``), whichever comes first: the run is named by its
    host, start and run id, and the unique constraint keeps the second from writing a
    second event, however many monitors and heartbeats race. ``alerted_at`` is claimed with
    a conditional UPDATE, as ``StatusChange.alerted_at`` is.
    """

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="long_runs")
    run_started_at = models.DateTimeField()
    run_id = models.CharField(max_length=64, blank=True)
    limit_seconds = models.PositiveIntegerField()
    # Null: still running when the sweep found it past the limit.
    duration_seconds = models.FloatField(null=True, blank=True)
    at = models.DateTimeField()
    alerted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "run_started_at", "run_id"], name="longrun_once_per_run"
            )
        ]
        indexes = [
            models.Index(
                fields=["at", "id"],
                condition=models.Q(alerted_at__isnull=True),
                name="longrun_unalerted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.host_id}: run at {self.run_started_at:%Y-%m-%d %H:%M:%S} too long"


class ReceptionGap(models.Model):
    """A time when netmon could not receive heartbeats, and what was done about it.

    Hosts whose deadline fell inside, or soon after, were watched afresh from its end
    (``HostQuerySet.restart_deadlines``): their silence said more about us than about
    them. Written by the monitor loop (hosts/reception.py) once the gap is over.
    """

    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    cause = models.CharField(max_length=20, choices=GapCause.choices)
    hosts_rescheduled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-ended_at"]

    def __str__(self) -> str:
        return f"{self.get_cause_display()}: {self.started_at:%Y-%m-%d %H:%M:%S} – {self.ended_at}"


class MonitorState(models.Model):
    """One row: when the monitor loop last swept, to notice when it was not running."""

    last_sweep_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"last sweep at {self.last_sweep_at}"

    @classmethod
    def load(cls) -> "MonitorState":
        state, _ = cls.objects.get_or_create(pk=1)
        return state
