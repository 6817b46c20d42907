"""``manage.py maintenance start|end|extend|list``: maintenance windows from a shell."""

from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone as django_timezone

from hosts.models import Host
from maintenance.models import MaintenanceWindow
from maintenance.windows import create_window, end_window, extend_window
from netmon.durations import human_duration, parse_duration


def _duration(text: str):
    try:
        return parse_duration(text)
    except ValueError as error:
        raise CommandError(f"--for: expected {error}") from None


def _describe(window: MaintenanceWindow) -> str:
    if window.everything:
        scope = "every host"
    else:
        parts = [f"tag {tag}" for tag in window.tags]
        parts += [host.host_id for host in window.hosts.all()]
        scope = ", ".join(parts)
    length = human_duration(window.ends_at - window.starts_at)
    when = f"{window.starts_at:%Y-%m-%d %H:%M} – {window.ends_at:%Y-%m-%d %H:%M} UTC ({length})"
    again = f", again at '{window.recurrence}' ({window.timezone})" if window.recurrence else ""
    return f"#{window.pk} {window.reason}: {scope}; {when}{again}"


class Command(BaseCommand):
    help = "Start, end, extend or list maintenance windows (no alerts for missed heartbeats)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        start = actions.add_parser("start", help="open a window (now, or at --at)")
        start.add_argument("--for", dest="length", required=True, help="30m, 2h, 1h30m, 1d")
        start.add_argument("--reason", required=True)
        start.add_argument("--tag", action="append", default=[], help="hosts with this tag")
        start.add_argument("--host", action="append", default=[], help="a host_id")
        start.add_argument("--all", dest="everything", action="store_true", help="every host")
        start.add_argument("--at", help="start, ISO 8601 (default: now)")
        start.add_argument("--every", default="", help="cron expression: a recurring window")
        start.add_argument("--timezone", default="UTC", help="of --every (IANA name)")
        end = actions.add_parser("end", help="end a window now (cancel one not started)")
        end.add_argument("id", type=int)
        extend = actions.add_parser("extend", help="make a window longer")
        extend.add_argument("id", type=int)
        extend.add_argument("--for", dest="length", required=True, help="more time: 30m, 1h")
        actions.add_parser("list", help="open and upcoming windows")

    def handle(self, *args, action: str, **options):
        getattr(self, f"handle_{action}")(**options)

    def handle_start(self, *, length, reason, tag, host, everything, at, every, timezone, **_):
        hosts = []
        for host_id in host:
            found = Host.objects.filter(host_id=host_id).first()
            if found is None:
                raise CommandError(f"--host: no host has the host_id {host_id!r}")
            hosts.append(found)
        starts_at = timezone_now() if at is None else _parse_time(at)
        try:
            window = create_window(
                reason=reason,
                starts_at=starts_at,
                length=_duration(length),
                recurrence=every,
                timezone=timezone,
                everything=everything,
                tags=tag,
                hosts=hosts,
                by="manage.py",
            )
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(m)}" for field, m in error.message_dict.items()
            )
            raise CommandError(problems) from None
        self.stdout.write(_describe(window))

    def handle_end(self, *, id: int, **_):
        window = _window(id)
        if end_window(window, timezone_now()) is None:
            self.stdout.write(f"#{id} had not started: cancelled.")
        else:
            self.stdout.write(f"Ended {_describe(window)}")

    def handle_extend(self, *, id: int, length: str, **_):
        window = _window(id)
        try:
            extend_window(window, window.ends_at + _duration(length), timezone_now())
        except ValidationError as error:
            raise CommandError(" ".join(error.message_dict["ends_at"])) from None
        window.refresh_from_db()
        self.stdout.write(_describe(window))

    def handle_list(self, **_):
        now = timezone_now()
        windows = MaintenanceWindow.objects.filter(closed_at__isnull=True, ends_at__gt=now)
        for window in windows.prefetch_related("hosts"):
            self.stdout.write(_describe(window))


def timezone_now() -> datetime:
    return django_timezone.now()


def _window(pk: int) -> MaintenanceWindow:
    window = MaintenanceWindow.objects.filter(pk=pk).first()
    if window is None:
        raise CommandError(f"No maintenance window #{pk}.")
    return window


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError("--at: expected an ISO 8601 date-time, e.g. 2026-12-24T18:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
