"""The heartbeat path: authenticate a host and record its heartbeat.

Kept lean on purpose, it is the busiest code in the product: one indexed
SELECT, then one short write transaction with an INSERT and a conditional
UPDATE. Only a host that changes state (first heartbeat, recovery, paused)
takes the slower path that locks the row and records the transition.
"""

from datetime import datetime

from django.db import transaction

from heartbeats.models import Heartbeat
from hosts.choices import HostStatus
from hosts.models import Host
from hosts.schedule import next_deadline
from netmon.tokens import hash_token, token_matches

HOST_FIELDS = (
    "id",
    "host_id",
    "token_hash",
    "status",
    "frequency_seconds",
    "grace_seconds",
    "schedule_type",
    "cron_expression",
    "timezone",
)
_NO_HOST_HASH = hash_token("no such host")


def authenticate(host_id: str, token: str) -> Host | None:
    """The host if ``token`` is its token; None for a wrong token or an unknown host alike."""
    host = Host.objects.only(*HOST_FIELDS).filter(host_id=host_id).first()
    if host is None:
        token_matches(token, _NO_HOST_HASH)  # same work as for a known host
        return None
    return host if token_matches(token, host.token_hash) else None


def record_heartbeat(
    host: Host, at: datetime, source_ip: str | None, user_agent: str, body: str
) -> Host:
    """Store the heartbeat and move the host's deadline; returns the host as now stored."""
    due = next_deadline(host.get_schedule(), at)
    with transaction.atomic():
        Heartbeat.objects.create(
            host_id=host.pk, received_at=at, source_ip=source_ip, user_agent=user_agent, body=body
        )
        updated = Host.objects.filter(pk=host.pk, status=HostStatus.UP).update(
            last_heartbeat_at=at,
            next_expected_at=due.expected_at,
            next_deadline=due.deadline,
            updated_at=at,
        )
        if updated:
            host.status = HostStatus.UP
            host.last_heartbeat_at = at
            host.next_expected_at, host.next_deadline = due.expected_at, due.deadline
            return host
        locked = Host.objects.select_for_update().get(pk=host.pk)
        locked.receive_heartbeat(at)
        return locked
