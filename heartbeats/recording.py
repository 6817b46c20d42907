"""The heartbeat path: authenticate a host and record its heartbeat.

Kept lean on purpose, it is the busiest code in the product: one indexed
SELECT, then one short write transaction with an INSERT and the host's
conditional UPDATE (hosts/receiving.py, as hosts own their rows). The SELECT
and the INSERT are plain SQL, written once below: building them with the ORM
cost more CPU than running them, and on SQLite that work happened while
holding the database's single write lock.
"""

from datetime import datetime

from django.db import connection, transaction

from heartbeats.models import Heartbeat
from hosts.models import Host
from hosts.receiving import receive_heartbeat
from netmon.tokens import hash_token, token_matches

_WANTED = {
    "id",
    "host_id",
    "token_hash",
    "status",
    "frequency_seconds",
    "grace_seconds",
    "schedule_type",
    "cron_expression",
    "timezone",
}
# In the model's field order, as Model.from_db expects the values.
HOST_FIELDS = [f.attname for f in Host._meta.concrete_fields if f.attname in _WANTED]
# Stands in for the row of a host that does not exist: an unknown host id is answered
# after the same work as a wrong token (object built, token hashed and compared).
_NO_HOST = Host(id=0, token_hash=hash_token("no such host"))
_NO_HOST_ROW = tuple(getattr(_NO_HOST, name) for name in HOST_FIELDS)
_HOSTS = Host._meta.db_table
_SELECT_HOST = f"SELECT {', '.join(HOST_FIELDS)} FROM {_HOSTS} WHERE host_id = %s"
_INSERT_HEARTBEAT = (
    f"INSERT INTO {Heartbeat._meta.db_table} "
    "(host_id, received_at, source_ip, user_agent, body) VALUES (%s, %s, %s, %s, %s)"
)


def authenticate(host_id: str, token: str) -> Host | None:
    """The host if ``token`` is its token; None for a wrong token or an unknown host alike.

    Both refusals take the same steps, so that timing them does not tell which host ids
    exist: one SELECT, a Host built from a row (the stand-in when there is none), and a
    constant-time comparison of the token's hash; no branch returns early.
    """
    with connection.cursor() as cursor:
        cursor.execute(_SELECT_HOST, [host_id])
        row = cursor.fetchone()
    found = row is not None
    host = Host.from_db(connection.alias, HOST_FIELDS, row if found else _NO_HOST_ROW)
    matches = token_matches(token, host.token_hash)
    return host if found and matches else None


def record_heartbeat(
    host: Host, at: datetime, source_ip: str | None, user_agent: str, body: str
) -> Host:
    """Store the heartbeat and move the host's deadline; returns the host as now stored."""
    stamp = connection.ops.adapt_datetimefield_value(at)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_HEARTBEAT, [host.pk, stamp, source_ip, user_agent, body])
        return receive_heartbeat(host, at, cursor)
