from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from hosts.choices import ScheduleType
from hosts.models import Host
from hosts.setup_instructions import client_setup_text

# Host field → the option that sets it, to name both in error messages.
OPTIONS = {
    "host_id": "--host-id",
    "name": "--name",
    "frequency_seconds": "--frequency",
    "grace_seconds": "--grace",
    "schedule_type": "--schedule",
    "cron_expression": "--cron",
    "timezone": "--timezone",
    "notes": "--notes",
    "tags": "--tag",
}


class Command(BaseCommand):
    help = "Register a host, then print its token (once) and the setup of its client."

    def add_arguments(self, parser: CommandParser) -> None:
        field = Host._meta.get_field
        parser.add_argument("--host-id", dest="host_id", required=True, help="e.g. web01")
        parser.add_argument("--name", required=True, help="e.g. 'Web Server 01'")
        parser.add_argument(
            "--frequency",
            dest="frequency_seconds",
            type=int,
            default=field("frequency_seconds").default,
            help="seconds between heartbeats (default: %(default)s)",
        )
        parser.add_argument(
            "--grace",
            dest="grace_seconds",
            type=int,
            default=field("grace_seconds").default,
            help="seconds a heartbeat may be late before the host is down (default: %(default)s)",
        )
        parser.add_argument(
            "--schedule",
            dest="schedule_type",
            default=field("schedule_type").default,
            help=f"{' | '.join(ScheduleType.values)} (default: %(default)s)",
        )
        parser.add_argument(
            "--cron", dest="cron_expression", help="cron expression of a custom schedule"
        )
        parser.add_argument(
            "--timezone", help="IANA time zone of the schedule (default: BUSINESS_HOURS_TIMEZONE)"
        )
        parser.add_argument("--notes")
        parser.add_argument("--tag", dest="tags", action="append", help="repeat for more tags")
        parser.add_argument("--paused", action="store_true", help="create the host paused")

    def handle(self, *args, paused: bool, **options) -> None:
        host = Host(**{name: options[name] for name in OPTIONS if options[name] is not None})
        token = host.set_new_token()
        try:
            host.full_clean()
        except ValidationError as error:
            raise CommandError(_describe(error)) from None
        with transaction.atomic():
            host.save()
            if paused:
                host.pause("created paused")
        state = "paused" if paused else "waiting for its first heartbeat"
        self.stdout.write(self.style.SUCCESS(f"Created host {host.host_id} ({state})."))
        self.stdout.write(f"\nToken: {token}")
        self.stdout.write(self.style.WARNING("Store it now: it is shown only once."))
        self.stdout.write("")
        self.stdout.write(client_setup_text(host, token, settings.NETMON_BASE_URL), ending="")


def _describe(error: ValidationError) -> str:
    lines = ["Invalid host, nothing was created:"]
    for name, messages in error.message_dict.items():
        label = "" if name == NON_FIELD_ERRORS else f"{name} ({OPTIONS.get(name, name)}): "
        lines += [f"  {label}{message}" for message in messages]
    return "\n".join(lines)
