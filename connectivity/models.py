"""Connectivity checks, outages of our own internet link, and the link's current state."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils.timezone import now as timezone_now

from connectivity.probes import TargetResult

SUMMARY_LENGTH = 500


def link_is_up(failed: int, total: int, down_percent: int) -> bool:
    """Down only when more than ``down_percent`` % of the targets failed (50: a majority)."""
    return failed * 100 <= down_percent * total


class Outage(models.Model):
    """A stretch of time our own link was down.

    It starts at the first of the failed checks that opened it and ends at the first of
    the successful checks that closed it: the link was seen down, and up again, then.

    The row is also the event the monitor loop alerts (connectivity/events.py): the two
    markers say when its start and its end were alerted, each exactly once.
    """

    started_at = models.DateTimeField(db_index=True, help_text="first failed check")
    opened_at = models.DateTimeField(
        help_text="when enough checks had failed in a row to call it an outage"
    )
    ended_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="first successful check again"
    )
    failed_checks = models.PositiveIntegerField(default=0)
    failing_targets = models.JSONField(
        default=list, blank=True, help_text='[{"target", "failures", "error"}, …]'
    )
    start_alerted_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="when its start was alerted"
    )
    end_alerted_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="when its end was alerted"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            # What the monitor loop reads every cycle: outages not alerted to their end yet
            # (the ongoing one, and any it has still to alert), a handful of rows at most.
            models.Index(
                fields=["started_at"],
                name="outage_unalerted_idx",
                condition=Q(end_alerted_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        end = f"{self.ended_at:%Y-%m-%d %H:%M}" if self.ended_at else "now"
        return f"outage {self.started_at:%Y-%m-%d %H:%M}–{end} UTC"

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None

    def duration(self, now: datetime | None = None) -> timedelta:
        return (self.ended_at or now or timezone_now()) - self.started_at

    def note_failure(self, check: "ConnectivityCheck") -> None:
        """Count a failed check in and remember which targets failed, with their last error."""
        known = {entry["target"]: entry for entry in self.failing_targets}
        for result in check.failed_results():
            entry = known.setdefault(
                result["target"], {"target": result["target"], "failures": 0, "error": ""}
            )
            entry["failures"] += 1
            entry["error"] = _describe(result)
        self.failing_targets = list(known.values())
        self.failed_checks += 1


def _describe(result: dict) -> str:
    step = {"dns": "DNS", "tcp": "TCP", "http": "HTTP"}.get(result.get("failed_step"), "")
    return f"{step}: {result.get('error', '')}" if step else result.get("error", "")


class ConnectivityCheck(models.Model):
    """One check of all targets, with each target's result."""

    checked_at = models.DateTimeField(default=timezone_now, db_index=True)
    link_up = models.BooleanField(help_text="the verdict of this check")
    targets_total = models.PositiveSmallIntegerField()
    targets_failed = models.PositiveSmallIntegerField()
    duration_ms = models.PositiveIntegerField(default=0)
    summary = models.CharField(max_length=SUMMARY_LENGTH, blank=True)
    results = models.JSONField(default=list, help_text="one entry per target")
    outage = models.ForeignKey(
        Outage, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks"
    )

    class Meta:
        ordering = ["-checked_at", "-id"]
        verbose_name = "connectivity check"

    def __str__(self) -> str:
        return f"check {self.checked_at:%Y-%m-%d %H:%M:%S} UTC: {'up' if self.link_up else 'down'}"

    @classmethod
    def from_results(
        cls, at: datetime, results: list[TargetResult], duration: float, down_percent: int
    ) -> "ConnectivityCheck":
        failed = [r for r in results if not r.ok]
        check = cls(
            checked_at=at,
            link_up=link_is_up(len(failed), len(results), down_percent),
            targets_total=len(results),
            targets_failed=len(failed),
            duration_ms=max(0, round(duration * 1000)),
            results=[r.as_dict() for r in results],
        )
        check.summary = check.describe()[:SUMMARY_LENGTH]
        return check

    def failed_results(self) -> list[dict]:
        return [r for r in self.results if not r.get("ok")]

    def describe(self) -> str:
        """``5 of 5 targets reachable`` or ``3 of 5 targets failed: A (TCP: timed out); …``."""
        if not self.targets_failed:
            return f"{self.targets_total} of {self.targets_total} targets reachable"
        failures = "; ".join(f"{r['target']} ({_describe(r)})" for r in self.failed_results())
        return f"{self.targets_failed} of {self.targets_total} targets failed: {failures}"


class LinkState(models.Model):
    """One row: the link as the checks see it, and the streaks that open and close outages.

    The monitor loop reads it every cycle (by primary key), the check writes it with the
    row locked, so that two checks finishing together still count one after the other.
    """

    first_check_at = models.DateTimeField(null=True, blank=True)
    last_check = models.ForeignKey(
        ConnectivityCheck, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_check_at = models.DateTimeField(null=True, blank=True)
    link_up = models.BooleanField(null=True, blank=True, help_text="verdict of the last check")
    summary = models.CharField(max_length=SUMMARY_LENGTH, blank=True)
    failure_streak = models.PositiveIntegerField(default=0)
    success_streak = models.PositiveIntegerField(default=0)
    down_since = models.DateTimeField(null=True, blank=True)
    up_since = models.DateTimeField(null=True, blank=True)
    open_outage = models.ForeignKey(
        Outage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"link {'unknown' if self.link_up is None else 'up' if self.link_up else 'down'}"

    @classmethod
    def load(cls) -> "LinkState":
        state, _ = cls.objects.get_or_create(pk=1)
        return state

    @classmethod
    def record_check(cls, check: "ConnectivityCheck", now: datetime) -> str:
        """Save ``check`` and move the state on: "opened", "closed" or "" (no change).

        Closing gives the hosts we could not hear meanwhile time to report: the deadline
        of a heartbeat at the moment the link came back, and at least one grace period from
        now. Neither queues an alert: the outage row is the event, which the monitor loop
        alerts within one cycle (connectivity/events.py).
        """
        with transaction.atomic():
            cls.objects.get_or_create(pk=1)
            state = (
                cls.objects.select_for_update(of=("self",)).select_related("open_outage").get(pk=1)
            )
            check.save()
            return state._advance(check, now)

    def _advance(self, check: ConnectivityCheck, now: datetime) -> str:
        from hosts.models import Host

        at = check.checked_at
        event = ""
        outage = self.open_outage
        if check.link_up:
            if self.success_streak == 0:
                self.up_since = at
            self.success_streak += 1
            self.failure_streak, self.down_since = 0, None
            if outage and self.success_streak >= settings.CONNECTIVITY_SUCCESSES_TO_CLOSE:
                outage.ended_at = self.up_since
                outage.save(update_fields=["ended_at"])
                self.open_outage = None
                Host.objects.restart_deadlines(outage.started_at, outage.ended_at)
                Host.objects.postpone_deadlines(outage.started_at, now)
                event = "closed"
        else:
            if self.failure_streak == 0:
                self.down_since = at
            self.failure_streak += 1
            self.success_streak, self.up_since = 0, None
            if outage:
                outage.note_failure(check)
                outage.save(update_fields=["failed_checks", "failing_targets"])
            elif self.failure_streak >= settings.CONNECTIVITY_FAILURES_TO_OPEN:
                outage = self._open_outage(check)
                event = "opened"
        if outage and outage.ongoing:
            check.outage = outage
            check.save(update_fields=["outage"])
        self.first_check_at = self.first_check_at or at
        self.last_check, self.last_check_at = check, at
        self.link_up, self.summary = check.link_up, check.summary
        self.save()
        return event

    def _open_outage(self, check: ConnectivityCheck) -> Outage:
        start = self.down_since or check.checked_at
        outage = Outage(started_at=start, opened_at=check.checked_at)
        streak = ConnectivityCheck.objects.filter(
            link_up=False, checked_at__gte=start, checked_at__lte=check.checked_at
        ).order_by("checked_at", "id")
        for failed in streak:
            outage.note_failure(failed)
        outage.save()
        streak.update(outage=outage)
        self.open_outage = outage
        return outage
