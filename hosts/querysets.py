"""Host state: what is derived from it, and every change made to it.

**Derived.** ``late`` — an ``up`` host past its expected time, still inside its grace
period — is not stored. It and what follows from it (the displayed status, its rank for
sorting, counts per state) are defined here once, as Python for one host and as SQL for
querysets side by side, and used by the API, the dashboard, the metrics and the sweep.

**Changes.** ``hosts`` is the only app that writes ``Host`` rows, and this manager holds
the writes that other code may ask for. Each is a conditional UPDATE: when two monitors,
a heartbeat and an edit race, exactly one of them wins and the others see zero rows
changed. A change of status also writes its ``StatusChange`` — the event that the monitor
loop turns into alerts (hosts/alerting.py) — in the same transaction.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import IntegrityError, models, transaction
from django.db.models import Case, Count, IntegerField, Q, Value, When

from hosts import schedule
from hosts.choices import DISPLAY_STATUSES, LATE, STATUS_RANK, ChangeCause, HostStatus

if TYPE_CHECKING:
    from hosts.models import Host, StatusChange


# Derived state ------------------------------------------------------------------------------


def is_late(status: str, next_expected_at: datetime | None, now: datetime) -> bool:
    return status == HostStatus.UP and next_expected_at is not None and now > next_expected_at


def display_status(status: str, next_expected_at: datetime | None, now: datetime) -> str:
    return LATE if is_late(status, next_expected_at, now) else status


def late_q(now: datetime) -> Q:
    """``is_late`` as a condition."""
    return Q(status=HostStatus.UP, next_expected_at__lt=now)


def display_status_q(now: datetime) -> dict[str, Q]:
    """One condition per displayed state; together they cover every host exactly once."""
    return {
        "new": Q(status=HostStatus.NEW),
        "up": Q(status=HostStatus.UP) & ~late_q(now),
        LATE: late_q(now),
        "down": Q(status=HostStatus.DOWN),
        "paused": Q(status=HostStatus.PAUSED),
    }


def status_rank_sql(now: datetime) -> Case:
    """``STATUS_RANK`` of the displayed state as an expression (down first)."""
    conditions = display_status_q(now)
    return Case(
        *(When(conditions[name], then=Value(STATUS_RANK[name])) for name in DISPLAY_STATUSES),
        output_field=IntegerField(),
    )


class HostQuerySet(models.QuerySet):
    # Reading -----------------------------------------------------------------------------

    def in_display_status(self, name: str, now: datetime) -> "HostQuerySet":
        return self.filter(display_status_q(now)[name])

    def display_counts(self, now: datetime) -> dict[str, int]:
        """Hosts per displayed state, and ``total``: one query."""
        conditions = display_status_q(now)
        return self.aggregate(
            total=Count("pk"),
            **{name: Count("pk", filter=conditions[name]) for name in DISPLAY_STATUSES},
        )

    def overdue(self, now: datetime) -> "HostQuerySet":
        """``up`` hosts whose deadline has passed: what the sweep marks down."""
        return self.filter(status=HostStatus.UP, next_deadline__lte=now)

    # Transitions -------------------------------------------------------------------------

    def mark_down(self, host: "Host", at: datetime) -> "StatusChange | None":
        """Flip an overdue ``up`` host to down, unless someone else did or it just reported.

        A host whose run started and never finished (its deadline was the start plus the
        grace time: ``Host.refresh_deadline``) goes down saying so, and the run is closed."""
        from hosts.models import StatusChange

        unfinished = host.run_started_at is not None
        with transaction.atomic():
            flipped = self.filter(pk=host.pk, status=HostStatus.UP, next_deadline__lte=at).update(
                status=HostStatus.DOWN,
                status_changed_at=at,
                next_expected_at=None,
                next_deadline=None,
                run_started_at=None,
                run_id="",
                run_limit_at=None,
                updated_at=at,
            )
            if not flipped:
                return None
            change = StatusChange.objects.create(
                host=host,
                from_status=HostStatus.UP,
                to_status=HostStatus.DOWN,
                at=at,
                previous_since=host.status_changed_at,
                reason="started but never finished"
                if unfinished
                else "no heartbeat before the deadline",
                cause=ChangeCause.UNFINISHED if unfinished else ChangeCause.SCHEDULE,
            )
        host.status, host.status_changed_at = HostStatus.DOWN, at
        host.next_expected_at = host.next_deadline = None
        host.run_started_at, host.run_id, host.run_limit_at = None, "", None
        return change

    def start_run(self, host: "Host", at: datetime, run_id: str) -> "Host":
        """A start signal on ``host``: ``Host.receive_start`` with its row locked. Returns
        the host as now stored."""
        with transaction.atomic():
            locked = self.select_for_update().get(pk=host.pk)
            locked.receive_start(at, run_id)
        return locked

    def fail_run(self, host: "Host", at: datetime, run_id: str, reason: str, detail: str) -> "Host":
        """A failure signal on ``host``: ``Host.receive_failure`` with its row locked (down at
        once, with its event). Returns the host as now stored."""
        with transaction.atomic():
            locked = self.select_for_update().get(pk=host.pk)
            locked.receive_failure(at, run_id, reason, detail)
        return locked

    def note_long_run(
        self, host: "Host", started_at: datetime, run_id: str, duration: float, at: datetime
    ) -> bool:
        """A run of ``host`` that finished at ``at`` after ``duration`` seconds: its event if
        that is over the host's maximum and the sweep did not write one while it ran.
        Returns whether an event was written."""
        limit = host.max_run_seconds
        if not limit or duration <= limit or host.status == HostStatus.PAUSED:
            return False
        return _write_long_run(host, started_at, run_id, limit, duration, at)

    def claim_long_runs(
        self,
        now: datetime,
        hold_after: datetime | None = None,
        holds: Iterable[tuple[Q, datetime]] = (),
        batch: int = 500,
    ) -> list[str]:
        """Open runs past their host's maximum (``run_limit_at``): each claimed once among
        several monitors (a conditional UPDATE of ``run_limit_at``) and recorded as a
        ``LongRun`` event, unless the run's finish wrote one first. Returns the host_ids
        with a new event.

        The limit is the one in force when the run started; one removed since is not
        alerted. Limits passed after ``hold_after``, or after the ``since`` of a hold whose
        scope takes the host, wait as deadlines do (hosts/sweep.py): netmon could not have
        heard the run's finish since then, or was told not to alert."""
        claimed = []
        due_by = now if hold_after is None else min(now, hold_after)
        due = self.filter(run_limit_at__lte=due_by).exclude(status=HostStatus.PAUSED)
        for scope, since in holds:
            due = due.exclude(scope & Q(run_limit_at__gt=since))
        for host in due.order_by("run_limit_at")[:batch]:
            with transaction.atomic():
                taken = self.filter(
                    pk=host.pk, run_limit_at=host.run_limit_at, run_started_at=host.run_started_at
                ).update(run_limit_at=None)
                if taken and host.max_run_seconds:
                    limit = host.max_run_seconds
                    if _write_long_run(host, host.run_started_at, host.run_id, limit, None, now):
                        claimed.append(host.host_id)
            if taken:
                host.run_limit_at = None
        return claimed

    def postpone_deadlines(self, since: datetime, now: datetime) -> int:
        """Give ``up`` hosts whose deadline fell in (since, now] one grace period from now
        (at least a minute); returns how many. For while heartbeats cannot reach us."""
        postponed = 0
        due = self.filter(status=HostStatus.UP, next_deadline__gt=since, next_deadline__lte=now)
        for host in due:
            deadline = now + timedelta(seconds=max(host.grace_seconds, 60))
            postponed += self.filter(
                pk=host.pk, status=HostStatus.UP, next_deadline=host.next_deadline
            ).update(next_deadline=deadline)
        return postponed

    def restart_deadlines(self, since: datetime, back_at: datetime) -> int:
        """``up`` hosts whose deadline lies after ``since`` are watched afresh from
        ``back_at``: at least the deadline a heartbeat then would give; returns how many.

        For the end of a time when heartbeats could not reach us (our link down, netmon
        not running): a healthy host reports at its next scheduled time, up to a whole
        period after we are back. Only ever moves deadlines later; a heartbeat arriving
        meanwhile wins (conditional update).
        """
        moved = 0
        hosts = self.filter(status=HostStatus.UP, next_deadline__gt=since)
        for host in hosts.iterator():
            due = schedule.next_deadline(host.get_schedule(), back_at)
            if due.deadline > host.next_deadline:
                moved += self.filter(
                    pk=host.pk, status=HostStatus.UP, next_deadline=host.next_deadline
                ).update(
                    monitored_since=back_at,
                    next_expected_at=due.expected_at,
                    next_deadline=due.deadline,
                )
        return moved

    def start_flapping(self, host: "Host", at: datetime) -> bool:
        """Mute a host's flips (and its reminders) until it has been stable for a while."""
        started = self.filter(pk=host.pk, flapping_since__isnull=True).update(
            flapping_since=at, next_reminder_at=None
        )
        if started:
            host.flapping_since, host.next_reminder_at = at, None
        return bool(started)

    def end_flapping(self, host: "Host") -> bool:
        ended = self.filter(pk=host.pk, flapping_since=host.flapping_since).update(
            flapping_since=None
        )
        if ended:
            host.flapping_since = None
        return bool(ended)

    def schedule_reminder(self, host: "Host", at: datetime) -> None:
        """The first "still down" reminder of a host that just went down."""
        if self.filter(pk=host.pk, status=HostStatus.DOWN).update(next_reminder_at=at):
            host.next_reminder_at = at

    def claim_reminder(self, host: "Host", next_at: datetime | None) -> bool:
        """Take the reminder that is due (once among several monitors); ``next_at``: the one
        after, or None to stop reminding."""
        return bool(
            self.filter(
                pk=host.pk, status=HostStatus.DOWN, next_reminder_at=host.next_reminder_at
            ).update(next_reminder_at=next_at)
        )


def _write_long_run(
    host: "Host",
    started_at: datetime,
    run_id: str,
    limit: int,
    duration: float | None,
    at: datetime,
) -> bool:
    """The ``LongRun`` event of one run, unless it has one (the unique constraint decides,
    in a savepoint, so that a race between a finish and a sweep writes exactly one)."""
    from hosts.models import LongRun

    try:
        with transaction.atomic():
            LongRun.objects.create(
                host_id=host.pk,
                run_started_at=started_at,
                run_id=run_id,
                limit_seconds=limit,
                duration_seconds=duration,
                at=at,
            )
    except IntegrityError:
        return False
    return True
