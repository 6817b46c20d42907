"""``manage.py import_uptime_kuma BACKUP.json``: hosts from Uptime Kuma's push monitors.

Reads the JSON backup Uptime Kuma exports (Settings → Backup: ``{"version": …,
"notificationList": […], "monitorList": […]}``). Each monitor of type ``push`` becomes a
host that keeps its push token as its compatibility token, so the clients' push URLs
work with only the server's name changed (``/api/push/<pushToken>?status=up&msg=OK``):

    name → name, host_id (slugified)   description → notes
    interval → frequency_seconds       maxretries × retryInterval → grace_seconds
    tags → tags (``name`` or ``name:value``)      active false → paused

Other monitor types (HTTP, ping, …) are netmon's pull checks' business, not heartbeats:
they are reported and skipped, like invalid entries. See import_healthchecks for the rest.
"""

from typing import Any

from django.core.management.base import CommandError

from hosts.management.commands.import_healthchecks import (
    ForeignImport,
    Planned,
    Skip,
    host_id_from,
)
from hosts.models import Host


def _whole(entry: dict, name: str, default: int) -> int:
    value = entry.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Skip(f"{name}: expected a number")
    return int(value)


def _tags(entry: dict) -> list[str]:
    tags = []
    for tag in entry.get("tags") or []:
        if not isinstance(tag, dict) or not isinstance(tag.get("name"), str):
            raise Skip("tags: expected objects with a name")
        value = tag.get("value") or ""
        tags.append(f"{tag['name']}:{value}" if value else tag["name"])
    return tags


class Command(ForeignImport):
    help = "Create hosts from the push monitors of an Uptime Kuma backup (JSON)."
    source = "Uptime Kuma"

    def entries(self, data: Any) -> list[tuple[str, dict]]:
        if not isinstance(data, dict) or not isinstance(data.get("monitorList"), list):
            raise CommandError('Expected an Uptime Kuma backup: {"monitorList": [...], ...}.')
        return [
            (f"monitor {m.get('id', n)} ({m.get('name')!r})" if isinstance(m, dict) else f"#{n}", m)
            for n, m in enumerate(data["monitorList"], 1)
        ]

    def plan(self, entry: dict) -> Planned:
        if entry.get("type") != "push":
            raise Skip(f"type {entry.get('type')!r}: only push monitors are heartbeats")
        token = entry.get("pushToken")
        if not isinstance(token, str) or not token:
            raise Skip("push monitor without a pushToken")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise Skip("name: expected text")
        retries = _whole(entry, "maxretries", 0)
        retry_interval = _whole(entry, "retryInterval", 60)
        host = Host(
            host_id=host_id_from(name),
            name=name[:200],
            notes=str(entry.get("description") or ""),
            tags=_tags(entry),
            frequency_seconds=_whole(entry, "interval", 60),
            grace_seconds=max(retries, 0) * retry_interval,
        )
        return Planned(host, token, paused=entry.get("active") in (False, 0))
