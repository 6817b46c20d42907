"""``manage.py create_ping_key NAME [--key KEY]``: a ping key for /ping/<key>/<host_id>.

The key is printed once and stored hashed. ``--key`` keeps the ping key a healthchecks
project had, so its ``/ping/<ping-key>/<slug>`` URLs keep working after
import_healthchecks (a slug becomes the host_id)."""

import re

from django.core.management.base import BaseCommand, CommandError, CommandParser

from heartbeats.models import PingKey
from netmon.tokens import hash_token

KEY = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class Command(BaseCommand):
    help = "Create a ping key for /ping/<ping-key>/<host_id> URLs; prints it once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="what the key is for, e.g. 'backup scripts'")
        parser.add_argument("--key", help="use this key (16–128 URL-safe characters)")

    def handle(self, *args, name: str, key: str | None, **options) -> None:
        if key is not None and not KEY.match(key):
            raise CommandError("--key: use 16–128 letters, digits, '-' or '_'.")
        if key is not None and PingKey.objects.filter(key_hash=hash_token(key)).exists():
            raise CommandError("--key: this key exists already.")
        ping_key = PingKey(name=name[:100])
        plain = ping_key.issue(key)
        ping_key.save()
        self.stdout.write(plain)
