from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.timezone import now as timezone_now

from hosts import schedule
from hosts.choices import LATE, HostStatus, ScheduleType
from hosts.signals import status_changed
from hosts.validators import (
    MAX_FREQUENCY,
    MAX_GRACE,
    MAX_TAG_LENGTH,
    MAX_TAGS,
    MIN_FREQUENCY,
    validate_host_id,
    validate_timezone,
)
from netmon.tokens import generate_token, hash_token, token_prefix


def default_timezone() -> str:
    return settings.BUSINESS_HOURS_TIMEZONE


def business_window() -> schedule.Window:
    return schedule.Window(
        settings.BUSINESS_HOURS_START, settings.BUSINESS_HOURS_END, settings.BUSINESS_HOURS_DAYS
    )


class Host(models.Model):
    host_id = models.CharField(max_length=64, unique=True, validators=[validate_host_id])
    name = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, editable=False)
    token_prefix = models.CharField(max_length=8, editable=False)
    frequency_seconds = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(MIN_FREQUENCY), MaxValueValidator(MAX_FREQUENCY)]
    )
    grace_seconds = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(MAX_GRACE)]
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
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["host_id"]
        indexes = [
            models.Index(fields=["status", "next_deadline"], name="host_due_idx"),
            models.Index(fields=["status", "next_reminder_at"], name="host_reminder_idx"),
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
        if not isinstance(self.tags, list) or not all(isinstance(t, str) for t in self.tags):
            errors["tags"] = "Tags must be a list of strings."
        elif len(self.tags) > MAX_TAGS or any(not 0 < len(t) <= MAX_TAG_LENGTH for t in self.tags):
            errors["tags"] = f"At most {MAX_TAGS} tags of 1–{MAX_TAG_LENGTH} characters each."
        if errors:
            raise ValidationError(errors)

    @property
    def paused(self) -> bool:
        return self.status == HostStatus.PAUSED

    def display_status(self, now: datetime | None = None) -> str:
        now = now or timezone_now()
        if self.status == HostStatus.UP and self.next_expected_at and now > self.next_expected_at:
            return LATE
        return self.status

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

    def refresh_deadline(self) -> None:
        """Recompute the next deadline from the last heartbeat and the schedule.

        Only ``up`` hosts have a deadline: new hosts are not alerted before their
        first heartbeat, down hosts are already alerted, paused hosts never are.
        """
        if self.status == HostStatus.UP and self.last_heartbeat_at:
            due = schedule.next_deadline(self.get_schedule(), self.last_heartbeat_at)
            self.next_expected_at, self.next_deadline = due.expected_at, due.deadline
        else:
            self.next_expected_at = self.next_deadline = None

    def pause(self, reason: str = "paused") -> None:
        if self.status != HostStatus.PAUSED:
            self.flip(HostStatus.PAUSED, timezone_now(), reason)

    def resume(self, reason: str = "resumed") -> None:
        """A resumed host waits for its next heartbeat, like a new one."""
        if self.status == HostStatus.PAUSED:
            self.flip(HostStatus.NEW, timezone_now(), reason)

    def set_paused(self, paused: bool | None, via: str) -> None:
        """Pause (True) or resume (False) the host, or leave it (None); ``via`` says how."""
        if paused is True:
            self.pause(f"paused {via}")
        elif paused is False:
            self.resume(f"resumed {via}")

    def receive_heartbeat(self, at: datetime) -> None:
        """The state change a heartbeat causes; call with the row locked."""
        self.last_heartbeat_at = at
        if self.status == HostStatus.NEW:
            self.flip(HostStatus.UP, at, "first heartbeat")
        elif self.status == HostStatus.DOWN:
            self.flip(HostStatus.UP, at, "heartbeat received")
        else:  # paused hosts are recorded but not monitored; up: a concurrent heartbeat
            self.save()

    def flip(self, to: str, at: datetime, reason: str) -> "StatusChange":
        """Change state, record the transition and queue what it should alert."""
        since = self.status_changed_at
        change = StatusChange.objects.create(
            host=self, from_status=self.status, to_status=to, at=at, reason=reason
        )
        self.status = to
        self.status_changed_at = at
        if to != HostStatus.DOWN:
            self.next_reminder_at = None
        self.save()
        status_changed.send(sender=Host, host=self, change=change, since=since)
        return change

    def mark_down_if_overdue(self, at: datetime) -> "StatusChange | None":
        """Flip an overdue ``up`` host to down, unless someone else did or it just reported.

        A conditional UPDATE, so that concurrent sweepers alert each transition once.
        """
        since = self.status_changed_at
        flipped = Host.objects.filter(
            pk=self.pk, status=HostStatus.UP, next_deadline__lte=at
        ).update(
            status=HostStatus.DOWN,
            status_changed_at=at,
            next_expected_at=None,
            next_deadline=None,
            updated_at=at,
        )
        if not flipped:
            return None
        change = StatusChange.objects.create(
            host=self,
            from_status=HostStatus.UP,
            to_status=HostStatus.DOWN,
            at=at,
            reason="no heartbeat before the deadline",
        )
        self.status, self.status_changed_at = HostStatus.DOWN, at
        self.next_expected_at = self.next_deadline = None
        status_changed.send(sender=Host, host=self, change=change, since=since)
        return change


class StatusChange(models.Model):
    """One transition of a host's state: the source of uptime and downtime figures."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=10, choices=HostStatus.choices)
    to_status = models.CharField(max_length=10, choices=HostStatus.choices)
    at = models.DateTimeField(default=timezone_now)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["host", "at"], name="statuschange_host_at_idx")]

    def __str__(self) -> str:
        return f"{self.host_id}: {self.from_status} → {self.to_status}"


class MonitorState(models.Model):
    """One row: when the monitor loop last swept, to notice when it was not running."""

    last_sweep_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"last sweep at {self.last_sweep_at}"

    @classmethod
    def load(cls) -> "MonitorState":
        state, _ = cls.objects.get_or_create(pk=1)
        return state
