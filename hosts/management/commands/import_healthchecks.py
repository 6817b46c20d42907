"""``manage.py import_healthchecks FILE.json``: hosts from healthchecks checks.

Reads what healthchecks' management API answers to ``GET /api/v3/checks/`` (``{"checks":
[…]}``, fetched with a read-write API key so that it carries the ping URLs), or one check
as ``GET /api/v3/checks/<uuid>`` answers it. Each check becomes a host that keeps the
check's UUID as its compatibility token, so ``https://netmon.example/ping/<uuid>`` works
for the scripts that pinged ``https://hc-ping.com/<uuid>``:

    slug (or the name, slugified)  → host_id      name → name      desc → notes
    timeout, grace                 → frequency_seconds, grace_seconds
    schedule (cron) + tz           → a custom schedule in that time zone
    tags ("prod www")              → tags         status "paused" → paused

An entry that cannot be imported (no UUID — a read-only key's export —, an OnCalendar
schedule, a host id that exists already, values netmon refuses) is reported and skipped;
the others are created in one transaction. ``--dry-run`` prints the plan and changes
nothing. The shared machinery (``ForeignImport``) serves import_uptime_kuma as well.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils.text import slugify

from hosts.choices import ScheduleType
from hosts.models import Host
from netmon.tokens import hash_token


class Skip(Exception):
    """Why an entry is not imported."""


@dataclass
class Planned:
    """One host to create, and the secret its clients already use."""

    host: Host
    compat_token: str
    paused: bool = False
    summary: list[str] = field(default_factory=list)


def host_id_from(*candidates: str) -> str:
    """The first candidate that makes a valid host id (lowercased, slugified, cut to 64)."""
    for candidate in candidates:
        value = slugify(candidate or "").replace("_", "-")[:64].strip("-")
        if value:
            return value
    raise Skip("no slug or name to make a host id from")


class ForeignImport(BaseCommand):
    """Plan every entry, report the invalid ones, create the rest at once (or print them)."""

    source = ""  # what the file comes from, for messages

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the JSON file")
        parser.add_argument(
            "--dry-run", action="store_true", help="print the plan without changing anything"
        )

    def entries(self, data: Any) -> list[tuple[str, dict]]:
        """(label, entry) for each entry of the file; raises CommandError for a file of the
        wrong shape."""
        raise NotImplementedError

    def plan(self, entry: dict) -> Planned:
        raise NotImplementedError

    def handle(self, *args, file: str, dry_run: bool, **options) -> None:
        try:
            data = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{file}: cannot read it as JSON: {error}") from None
        planned, skipped = [], []
        host_ids, tokens = set(Host.objects.values_list("host_id", flat=True)), set()
        existing_tokens = set(
            Host.objects.exclude(compat_token_hash=None).values_list("compat_token_hash", flat=True)
        )
        for label, entry in self.entries(data):
            try:
                item = self._checked(entry, host_ids, tokens | existing_tokens)
            except Skip as why:
                skipped.append(f"  skipped {label}: {why}")
                continue
            host_ids.add(item.host.host_id)
            tokens.add(hash_token(item.compat_token))
            planned.append(item)
        for item in planned:
            self.stdout.write(f"  {item.host.host_id}: {', '.join(item.summary)}")
        for line in skipped:
            self.stderr.write(line)
        if dry_run:
            self.stdout.write(
                f"Dry run: {len(planned)} host(s) to create, {len(skipped)} skipped. "
                "Nothing was changed."
            )
            return
        with transaction.atomic():
            for item in planned:
                item.host.save()
                if item.paused:
                    item.host.pause(f"imported paused from {self.source}")
        self.stdout.write(
            self.style.SUCCESS(f"Imported {len(planned)} host(s) from {self.source}; ")
            + f"{len(skipped)} skipped."
        )

    def _checked(self, entry: Any, host_ids: set[str], tokens: set[str]) -> Planned:
        if not isinstance(entry, dict):
            raise Skip("not a JSON object")
        item = self.plan(entry)
        host = item.host
        if host.host_id in host_ids:
            raise Skip(f"host_id {host.host_id!r} exists already")
        if hash_token(item.compat_token) in tokens:
            raise Skip("its token is already another host's")
        host.set_new_token()
        host.set_compat_token(item.compat_token)
        try:
            host.full_clean(exclude=["token_hash", "token_prefix"])
        except ValidationError as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise Skip(problems) from None
        item.summary = [
            repr(host.name),
            _schedule_summary(host),
            *([f"tags {' '.join(host.tags)}"] if host.tags else []),
            *(["paused"] if item.paused else []),
        ]
        return item


def _schedule_summary(host: Host) -> str:
    every = f"every {host.frequency_seconds} s, grace {host.grace_seconds} s"
    if host.schedule_type == ScheduleType.CUSTOM:
        return f"cron {host.cron_expression!r} ({host.timezone}), grace {host.grace_seconds} s"
    return every


def _seconds(entry: dict, name: str, default: int) -> int:
    value = entry.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Skip(f"{name}: expected a number of seconds")
    return int(value)


PING_UUID = re.compile(r"/([0-9a-fA-F-]{36})/?$")


def check_uuid(entry: dict) -> str:
    """The check's UUID: its ``uuid`` field (API v3), else the end of its ``ping_url``."""
    candidates = [entry.get("uuid")]
    if isinstance(entry.get("ping_url"), str) and (match := PING_UUID.search(entry["ping_url"])):
        candidates.append(match.group(1))
    for candidate in candidates:
        if isinstance(candidate, str):
            try:
                return str(uuid.UUID(candidate))
            except ValueError:
                continue
    raise Skip("no UUID (exported with a read-only API key? use a read-write key)")


class Command(ForeignImport):
    help = "Create hosts from healthchecks checks (GET /api/v3/checks/ JSON, or one check)."
    source = "healthchecks"

    def entries(self, data: Any) -> list[tuple[str, dict]]:
        if isinstance(data, dict) and isinstance(data.get("checks"), list):
            checks = data["checks"]
        elif isinstance(data, dict) and ("ping_url" in data or "uuid" in data):
            checks = [data]
        else:
            raise CommandError(
                'Expected healthchecks\' {"checks": [...]} (GET /api/v3/checks/) or one check.'
            )
        return [(_label(check, n), check) for n, check in enumerate(checks, 1)]

    def plan(self, entry: dict) -> Planned:
        code = check_uuid(entry)
        name = entry.get("name") or entry.get("slug") or code
        if not isinstance(name, str):
            raise Skip("name: expected text")
        tags = entry.get("tags") or ""
        if not isinstance(tags, str):
            raise Skip("tags: expected space-separated text")
        host = Host(
            host_id=host_id_from(str(entry.get("slug") or ""), name),
            name=name[:200],
            notes=str(entry.get("desc") or ""),
            tags=tags.split(),
            grace_seconds=_seconds(entry, "grace", 3600),
        )
        schedule = entry.get("schedule")
        if schedule:
            if not isinstance(schedule, str) or len(schedule.split()) != 5 or "\n" in schedule:
                raise Skip("schedule: only 5-field cron expressions are supported (not OnCalendar)")
            host.schedule_type = ScheduleType.CUSTOM
            host.cron_expression = schedule
            host.timezone = str(entry.get("tz") or "UTC")
        else:
            host.frequency_seconds = _seconds(entry, "timeout", 86400)
        return Planned(host, code, paused=entry.get("status") == "paused")


def _label(check: Any, number: int) -> str:
    if isinstance(check, dict) and check.get("name"):
        return f"check {number} ({check['name']!r})"
    return f"check {number}"
