from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from hosts.config_io import export_hosts
from hosts.models import Host


class Command(BaseCommand):
    help = "Write every host as YAML in the import_hosts format (without tokens)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", help="write to this file instead of standard output")

    def handle(self, *args, output: str | None, **options) -> None:
        hosts = list(Host.objects.all())
        text = export_hosts(hosts)
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as error:
            raise CommandError(f"Cannot write {output}: {error.strerror}") from None
        self.stdout.write(f"Exported {len(hosts)} host(s) to {output}.")
