"""What a host's state changes alert: down, recovered, flapping, still down.

Each transition writes a ``StatusChange`` event (hosts/querysets.py, hosts/models.py);
every monitor cycle, right after the sweep, ``alert_status_changes`` claims the events not
handled yet and queues the alerts they call for in the outbox (alerts/outbox.py) — in
the claim's transaction, so an event is alerted exactly once however many monitors run,
and in order per host. A flip found by the sweep is alerted in the same cycle; a
recovery (written by the heartbeat) in the next one. Runs that took longer than their
host's maximum (``LongRun`` events, written by the heartbeat or the sweep) are alerted by
the same step, claimed the same way: a warning each, the host's state unchanged.

Host names and ids are written by whoever registers a host: they go into the alerts as
data (alerts/markup.py), never as markdown.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from alerts.choices import AlertKind, Severity
from alerts.markup import Part, Text, code, code_block, timestamp
from alerts.models import Alert, Channel, Delivery
from alerts.outbox import dashboard_url, queue_alert
from hosts.choices import ChangeCause, HostStatus, ScheduleType
from hosts.models import Host, LongRun, StatusChange
from netmon.durations import human_duration


def _stamp(at: datetime | None) -> Part:
    return timestamp(at) if at else "never"


def _schedule_text(host: Host) -> Text:
    if host.schedule_type == ScheduleType.CUSTOM:
        return ["cron ", code(host.cron_expression), f" ({host.timezone})"]
    if host.schedule_type == ScheduleType.BUSINESS_HOURS:
        window = f"{settings.BUSINESS_HOURS_START:%H:%M}–{settings.BUSINESS_HOURS_END:%H:%M}"
        return f"business hours {window} ({host.timezone})"
    return "always"


def host_text(host: Host) -> Text:
    """``Web Server 01 (`web01`)``."""
    return [host.name, " (", code(host.host_id), ")"]


def _host_fields(host: Host) -> list[tuple[str, Text]]:
    return [
        ("Host", host_text(host)),
        ("Last seen", [_stamp(host.last_heartbeat_at)]),
        ("Expected every", human_duration(timedelta(seconds=host.frequency_seconds))),
        ("Grace", human_duration(timedelta(seconds=host.grace_seconds))),
        ("Schedule", _schedule_text(host)),
    ]


def _host_url(host: Host) -> str:
    return dashboard_url(f"/api/v1/dashboard/hosts/{host.host_id}")


BATCH = 500


def alert_status_changes(now: datetime) -> int:
    """Turn the events not alerted yet into their alerts, oldest first; returns how many
    events were handled."""
    handled = 0
    pending = StatusChange.objects.filter(alerted_at__isnull=True).order_by("at", "id")
    for change in pending[:BATCH]:
        with transaction.atomic():
            host = Host.objects.select_for_update().filter(pk=change.host_id).first()
            earlier = StatusChange.objects.filter(
                host_id=change.host_id, alerted_at__isnull=True
            ).filter(Q(at__lt=change.at) | Q(at=change.at, id__lt=change.id))
            if host is None or earlier.exists():
                continue  # deleted meanwhile (cascade); or another monitor is behind it
            if StatusChange.objects.filter(pk=change.pk, alerted_at__isnull=True).update(
                alerted_at=now
            ):
                alert_status_change(host, change)
                handled += 1
    return handled + alert_long_runs(now)


def alert_long_runs(now: datetime) -> int:
    """Queue a warning for each ``LongRun`` event not alerted yet; returns how many were
    handled. A host paused since is not alerted (its event is still marked handled)."""
    handled = 0
    pending = LongRun.objects.filter(alerted_at__isnull=True).order_by("at", "id")
    for event in pending[:BATCH]:
        with transaction.atomic():
            # The host's row first, as the heartbeat and the sweep lock it before they
            # write these events: one lock order, no deadlock.
            host = Host.objects.select_for_update().filter(pk=event.host_id).first()
            if host is None or not LongRun.objects.filter(
                pk=event.pk, alerted_at__isnull=True
            ).update(alerted_at=now):
                continue  # deleted meanwhile (cascade), or another monitor took it
            handled += 1
            if host.status != HostStatus.PAUSED:
                _queue_long_run(host, event)
    return handled


def _queue_long_run(host: Host, event: LongRun) -> None:
    limit = human_duration(timedelta(seconds=event.limit_seconds))
    run = [("Run started", [_stamp(event.run_started_at)])]
    if event.run_id:
        run.append(("Run id", [code(event.run_id)]))
    if event.duration_seconds is None:
        title = f"{host.name} is still running after {limit}"
        running = human_duration(event.at - event.run_started_at)
        description: Text = [
            code(host.host_id),
            f" started a run {running} ago that has not finished: longer than its maximum "
            f"of {limit}.",
        ]
        run.append(("Running for", running))
    else:
        took = human_duration(timedelta(seconds=event.duration_seconds))
        title = f"{host.name} ran too long"
        description = [
            code(host.host_id),
            f" finished a run that took {took}, longer than its maximum of {limit}.",
        ]
        run.append(("Took", took))
    queue_alert(
        AlertKind.RUN_TOO_LONG,
        Severity.WARNING,
        title,
        description,
        [*_host_fields(host), *run, ("Maximum run time", limit)],
        host,
        _host_url(host),
    )


def alert_status_change(host: Host, change: StatusChange) -> None:
    """Queue the alert a transition calls for, muting flips of a flapping host."""
    if change.to_status not in (HostStatus.UP, HostStatus.DOWN):
        return
    failed_at_once = change.cause == ChangeCause.FAILURE and change.from_status == HostStatus.NEW
    if change.from_status not in (HostStatus.UP, HostStatus.DOWN) and not failed_at_once:
        return  # first heartbeat, or back from a pause: nothing went wrong
    if host.flapping_since is None and _is_flapping(host, change.at):
        Host.objects.start_flapping(host, change.at)
        window = human_duration(timedelta(seconds=settings.FLAP_WINDOW_SECONDS))
        queue_alert(
            AlertKind.HOST_FLAPPING,
            Severity.WARNING,
            f"{host.name} is flapping",
            f"{settings.FLAP_THRESHOLD} or more up/down changes within {window}. Further "
            "changes are not alerted until the host has been stable for a while.",
            _host_fields(host),
            host,
            _host_url(host),
        )
        return
    if host.flapping_since is not None:
        return
    if change.to_status == HostStatus.DOWN:
        _queue_down(host, change)
    else:
        _queue_up(host, change, change.previous_since or change.at)


def _is_flapping(host: Host, at: datetime) -> bool:
    window_start = at - timedelta(seconds=settings.FLAP_WINDOW_SECONDS)
    flips = StatusChange.objects.filter(
        host=host, at__gt=window_start, to_status__in=[HostStatus.UP, HostStatus.DOWN]
    ).exclude(from_status__in=[HostStatus.NEW, HostStatus.PAUSED])
    return flips.count() >= settings.FLAP_THRESHOLD


def _down_text(host: Host, change: StatusChange) -> tuple[str, Text, list[tuple[str, Text]]]:
    """Title, description and extra fields of a down alert, by what took the host down."""
    if change.cause == ChangeCause.FAILURE:
        output = (
            [("Output (end)", [code_block(change.detail.splitlines())])] if change.detail else []
        )
        return (
            f"{host.name} failed",
            [code(host.host_id), f" sent a failure signal ({change.reason})."],
            output,
        )
    if change.cause == ChangeCause.UNFINISHED:
        return (
            f"{host.name} started but never finished",
            [code(host.host_id), " sent a start signal and no finish within its grace time."],
            [],
        )
    return (
        f"{host.name} is down",
        ["No heartbeat from ", code(host.host_id), " before its deadline."],
        [],
    )


def _queue_down(host: Host, change: StatusChange) -> None:
    title, description, extra = _down_text(host, change)
    queue_alert(
        AlertKind.HOST_DOWN,
        Severity.ERROR,
        title,
        description,
        [*_host_fields(host), ("Down since", [_stamp(change.at)]), *extra],
        host,
        _host_url(host),
    )
    intervals = reminder_intervals(host)
    if intervals:
        Host.objects.schedule_reminder(host, change.at + min(intervals.values()))


def _queue_up(host: Host, change: StatusChange, down_since: datetime) -> None:
    downtime = human_duration(change.at - down_since)
    queue_alert(
        AlertKind.HOST_UP,
        Severity.INFO,
        f"{host.name} is back up",
        [code(host.host_id), f" sent a heartbeat again after {downtime} down."],
        [*_host_fields(host), ("Down since", [_stamp(down_since)]), ("Downtime", downtime)],
        host,
        _host_url(host),
    )


def queue_reminder(host: Host, at: datetime, channels: list[Channel]) -> None:
    queue_alert(
        AlertKind.HOST_REMINDER,
        Severity.ERROR,
        f"{host.name} is still down",
        [
            code(host.host_id),
            f" has been down for {human_duration(at - host.status_changed_at)}. "
            "Acknowledge the alert to stop these reminders.",
        ],
        [*_host_fields(host), ("Down since", [_stamp(host.status_changed_at)])],
        host,
        _host_url(host),
        channels=channels,
    )


def queue_stable(host: Host) -> None:
    state = "up" if host.status == HostStatus.UP else host.status
    queue_alert(
        AlertKind.HOST_STABLE,
        Severity.ERROR if host.status == HostStatus.DOWN else Severity.INFO,
        f"{host.name} stopped flapping and is {state}",
        [code(host.host_id), f" has stayed {state} since ", _stamp(host.status_changed_at), "."],
        _host_fields(host),
        host,
        _host_url(host),
    )


def acknowledged(host: Host) -> bool:
    """Someone acknowledged this down period's alert: its reminders stop."""
    return Alert.objects.filter(
        host=host,
        kind__in=[AlertKind.HOST_DOWN, AlertKind.HOST_REMINDER],
        created_at__gte=host.status_changed_at,
        acknowledged_at__isnull=False,
    ).exists()


def reminder_intervals(host: Host) -> dict[Channel, timedelta]:
    """The channels that take the host's "still down" reminders, each with its interval.

    Each channel has its own (``Channel.reminder_interval``: its own setting, or
    REMINDER_INTERVAL_SECONDS): a team's chat may be reminded every hour while the
    on-call phone is reminded every ten minutes.
    """
    return {
        channel: timedelta(seconds=channel.reminder_interval)
        for channel in Channel.routes_for(AlertKind.HOST_REMINDER, Severity.ERROR, host)
        if channel.reminder_interval
    }


def send_due_reminders(now: datetime) -> int:
    """Remind every channel whose interval is up of each host still down.

    The host's ``next_reminder_at`` is the earliest of its channels' next reminders, so
    the monitor looks only at hosts with one due; the channels due are those whose last
    reminder of this down period (or the start of it) is an interval ago. An
    acknowledgement stops the reminders on every channel.
    """
    sent = 0
    for host in Host.objects.filter(status=HostStatus.DOWN, next_reminder_at__lte=now)[:500]:
        with transaction.atomic():
            intervals = {} if acknowledged(host) else reminder_intervals(host)
            last = _last_reminders(host)
            due = [
                channel
                for channel, interval in intervals.items()
                if now >= last.get(channel.pk, host.status_changed_at) + interval
            ]
            next_at = min(
                (
                    (now if channel in due else last.get(channel.pk, host.status_changed_at))
                    + interval
                    for channel, interval in intervals.items()
                ),
                default=None,
            )
            if Host.objects.claim_reminder(host, next_at) and due:
                queue_reminder(host, now, due)
                sent += 1
    return sent


def _last_reminders(host: Host) -> dict[int, datetime]:
    """When each channel was last reminded of this down period of the host."""
    rows = (
        Delivery.objects.filter(
            alert__host=host,
            alert__kind=AlertKind.HOST_REMINDER,
            alert__created_at__gte=host.status_changed_at,
        )
        .values("channel_id")
        .annotate(last=Max("alert__created_at"))
    )
    return {row["channel_id"]: row["last"] for row in rows}


def end_flapping(now: datetime) -> int:
    quiet_since = now - timedelta(seconds=settings.FLAP_QUIET_SECONDS)
    ended = 0
    calm = Host.objects.filter(flapping_since__isnull=False, status_changed_at__lte=quiet_since)
    for host in calm[:500]:
        with transaction.atomic():
            if Host.objects.end_flapping(host):
                queue_stable(host)
                ended += 1
    return ended
