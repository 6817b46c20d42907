"""Maintenance windows: planned times in which a scope of hosts may be silent unalerted.

A window is one occurrence at a time: ``starts_at``–``ends_at``. A one-off window has one;
a recurring one (a cron expression on the wall clock of its time zone, and a duration)
moves on to its next occurrence when one ends (maintenance/windows.py ``close_ended``).
"""

from datetime import timedelta
from zoneinfo import available_timezones

from django.core.exceptions import ValidationError
from django.db import models

from hosts import schedule
from hosts.models import Host
from hosts.validators import tags_problem, validate_single_line

LONGEST_WINDOW = timedelta(days=31)


class MaintenanceWindow(models.Model):
    reason = models.CharField(max_length=200, validators=[validate_single_line])
    # Scope: every host, or the hosts with one of ``tags`` and the hosts listed.
    everything = models.BooleanField(default=False, help_text="Every host is in the window")
    tags = models.JSONField(default=list, blank=True, help_text="Hosts with one of these tags")
    hosts = models.ManyToManyField(Host, blank=True, related_name="maintenance_windows")
    starts_at = models.DateTimeField(help_text="Start of the window (its current occurrence)")
    ends_at = models.DateTimeField(help_text="End of the window (its current occurrence)")
    # Recurring windows: the occurrences start when the cron expression fires.
    recurrence = models.CharField(
        max_length=100, blank=True, help_text="Cron expression of the starts; empty: one-off"
    )
    duration_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Length of each occurrence of a recurring window"
    )
    timezone = models.CharField(max_length=64, default="UTC")
    closed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When a one-off window's end was handled"
    )
    created_by = models.CharField(max_length=150, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [models.Index(fields=["closed_at", "starts_at"], name="window_open_idx")]

    def __str__(self) -> str:
        return f"{self.reason} ({self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M} UTC)"

    @property
    def is_recurring(self) -> bool:
        return bool(self.recurrence)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if problem := tags_problem(self.tags):
            errors["tags"] = problem
        if self.timezone not in available_timezones():
            errors["timezone"] = "An IANA time zone such as Europe/Berlin."
        if self.recurrence:
            if error := schedule.validate_cron(self.recurrence):
                errors["recurrence"] = error
            if not self.duration_seconds:
                errors["duration_seconds"] = "A recurring window needs the length of each time."
            elif timedelta(seconds=self.duration_seconds) > LONGEST_WINDOW:
                errors["duration_seconds"] = "At most 31 days."
        elif self.starts_at and self.ends_at:
            if self.ends_at <= self.starts_at:
                errors["ends_at"] = "The window must end after it starts."
            elif self.ends_at - self.starts_at > LONGEST_WINDOW:
                errors["ends_at"] = "A window lasts at most 31 days: make it recurring instead."
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def check_scope(everything: bool, tags: list, hosts: list) -> None:
        """A window must say what it covers: a window over nothing is a mistake."""
        if not everything and not tags and not hosts:
            raise ValidationError(
                {"everything": "Give the window tags or hosts, or make it cover every host."}
            )

    def first_occurrence(self, after) -> tuple:
        """(start, end) of a recurring window's first occurrence that ends after ``after``."""
        length = timedelta(seconds=self.duration_seconds)
        start = schedule.next_fire(self.recurrence, self.timezone, after - length)
        return start, start + length
