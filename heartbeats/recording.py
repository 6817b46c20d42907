"""The heartbeat path: authenticate a host and record its heartbeat.

Kept lean on purpose, it is the busiest code in the product: one indexed
SELECT (which also reads the client's failed-authentication count for the throttle,
accounts/throttle.py), then one short write transaction with an INSERT and the host's
conditional UPDATE (hosts/receiving.py, as hosts own their rows). The SELECT
and the INSERT are plain SQL, written once below: building them with the ORM
cost more CPU than running them, and on SQLite that work happened while
holding the database's single write lock.

On PostgreSQL an ``up`` host's heartbeat is one statement instead: the hosts app's
UPDATE in a data-modifying WITH, and the INSERT fed by the row it returns, so the
heartbeat is stored only if the UPDATE moved the deadline. A single statement commits
by itself: no BEGIN, no COMMIT, four round trips fewer than the transaction (each cost
the worker about as much CPU as the statement). When the UPDATE matches nothing (the host
is not up, or is in a run) nothing is stored and the transaction path runs.
"""

from datetime import datetime

from django.db import connection, transaction

from accounts.throttle import Window
from heartbeats.models import Heartbeat, PingKey, Run, Signal
from hosts.choices import HostStatus
from hosts.models import Host
from hosts.receiving import moved, receive_heartbeat, up_host_update
from netmon.tokens import hash_token, token_matches

# What an alert shows of a failing job's output: its end, where the error usually is.
TAIL_LINES, TAIL_CHARS = 20, 2000

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
    "run_started_at",
    "run_id",
    "max_run_seconds",
}
# In the model's field order, as Model.from_db expects the values.
HOST_FIELDS = [f.attname for f in Host._meta.concrete_fields if f.attname in _WANTED]
# Stands in for the row of a host that does not exist: an unknown host id is answered
# after the same work as a wrong token (object built, token hashed and compared).
_NO_HOST = Host(id=0, token_hash=hash_token("no such host"))
_NO_HOST_ROW = tuple(getattr(_NO_HOST, name) for name in HOST_FIELDS)
_HOSTS = Host._meta.db_table
# One row whether or not the host exists: its fields (NULL for none) and the failure count.
_HOST_AND_FAILURES = (
    f"SELECT {', '.join(f'h.{name}' for name in HOST_FIELDS)}, {{failures}} "
    f"FROM (SELECT 1 AS one) AS one LEFT JOIN {_HOSTS} h ON {{condition}}"
)
_SELECT_HOST_AND_FAILURES = _HOST_AND_FAILURES.replace("{condition}", "h.host_id = %s")
# Ping URLs name the host by a secret alone: its ping token or its compatibility token
# (both unique, indexed hashes of 256-bit or foreign random values).
_BY_SECRET = "ping_token_hash = %s OR compat_token_hash = %s"
_SELECT_HOST_BY_SECRET = f"SELECT {', '.join(HOST_FIELDS)} FROM {_HOSTS} WHERE {_BY_SECRET}"
_SELECT_HOST_AND_FAILURES_BY_SECRET = _HOST_AND_FAILURES.replace(
    "{condition}", _BY_SECRET.replace("ping_", "h.ping_").replace("compat_", "h.compat_")
)
_SELECT_HOST_BY_KEY = (
    f"SELECT {', '.join(f'h.{name}' for name in HOST_FIELDS)} FROM {_HOSTS} h "
    f"WHERE h.host_id = %s AND EXISTS "
    f"(SELECT 1 FROM {PingKey._meta.db_table} k WHERE k.key_hash = %s)"
)
_INSERT_HEARTBEAT = (
    f"INSERT INTO {Heartbeat._meta.db_table} "
    "(host_id, received_at, source_ip, user_agent, body) VALUES (%s, %s, %s, %s, %s)"
)
_HEARTBEAT_OF_UP_HOST = (
    "WITH up AS ({update} RETURNING id) "
    f"INSERT INTO {Heartbeat._meta.db_table} "
    "(host_id, received_at, source_ip, user_agent, body) SELECT id, %s, %s, %s, %s FROM up"
)
_INSERT_SIGNAL = (
    f"INSERT INTO {Heartbeat._meta.db_table} "
    "(host_id, received_at, source_ip, user_agent, body, kind, exit_status, run_id) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def authenticate(host_id: str, token: str, window: Window) -> tuple[Host | None, int | None]:
    """The host if ``token`` is its token (None for a wrong token or an unknown host
    alike), and the client's failures in ``window``: one statement.

    Both refusals take the same steps, so that timing them does not tell which host ids
    exist: one SELECT, a Host built from a row (the stand-in when there is none), and a
    constant-time comparison of the token's hash; no branch returns early.
    """
    failures_sql, failures_params = window.count_sql()
    with connection.cursor() as cursor:
        sql = _SELECT_HOST_AND_FAILURES.format(failures=failures_sql)
        cursor.execute(sql, [*failures_params, host_id])
        *row, failures = cursor.fetchone()
    found = row[0] is not None
    host = Host.from_db(connection.alias, HOST_FIELDS, row if found else _NO_HOST_ROW)
    matches = token_matches(token, host.token_hash)
    return (host if found and matches else None), failures


def record_heartbeat(
    host: Host, at: datetime, source_ip: str | None, user_agent: str, body: str
) -> Host:
    """Store the heartbeat and move the host's deadline; returns the host as now stored.

    A host in the middle of a run (after a start signal) has it closed: a success."""
    if host.run_started_at is not None:
        return record_signal(host, Signal.SUCCESS, at, source_ip, user_agent, body)
    stamp = connection.ops.adapt_datetimefield_value(at)
    if host.status == HostStatus.UP and connection.vendor == "postgresql":
        update, params, due = up_host_update(host, at)
        with connection.cursor() as cursor:
            cursor.execute(
                _HEARTBEAT_OF_UP_HOST.format(update=update),
                [*params, stamp, source_ip, user_agent, body],
            )
            if cursor.rowcount:
                return moved(host, at, due)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_HEARTBEAT, [host.pk, stamp, source_ip, user_agent, body])
        return receive_heartbeat(host, at, cursor)


def _host_from(sql: str, params: list) -> Host | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else Host.from_db(connection.alias, HOST_FIELDS, row)


def host_by_secret(secret: str) -> Host | None:
    """The host whose ping token, or compatibility token, is ``secret``.

    Looked up by the secret's hash, which the database compares: a guess's timing tells
    at most how a hash of it sorts in an index, nothing about the secret."""
    digest = hash_token(secret)
    return _host_from(_SELECT_HOST_BY_SECRET, [digest, digest])


def host_and_failures_by_secret(secret: str, window: Window) -> tuple[Host | None, int | None]:
    """``host_by_secret`` and the client's failures in ``window``, in one statement: the
    plain ping URL's lookup."""
    digest = hash_token(secret)
    failures_sql, failures_params = window.count_sql()
    with connection.cursor() as cursor:
        cursor.execute(
            _SELECT_HOST_AND_FAILURES_BY_SECRET.format(failures=failures_sql),
            [*failures_params, digest, digest],
        )
        *row, failures = cursor.fetchone()
    host = None if row[0] is None else Host.from_db(connection.alias, HOST_FIELDS, row)
    return host, failures


def host_by_ping_key(key: str, host_id: str) -> Host | None:
    """The host ``host_id`` if ``key`` is a ping key (``PingKey``); None otherwise."""
    return _host_from(_SELECT_HOST_BY_KEY, [host_id, hash_token(key)])


def tail(body: str) -> str:
    """The end of a job's output, as a failure alert shows it."""
    return "\n".join(body[-TAIL_CHARS:].splitlines()[-TAIL_LINES:])


def record_signal(
    host: Host,
    signal: str,
    at: datetime,
    source_ip: str | None,
    user_agent: str,
    body: str,
    exit_status: int | None = None,
    run_id: str = "",
) -> Host:
    """Store a ping's signal and do what it says to the host; returns the host as now stored.

    A success without a run id on a host that is not in a run is the plain heartbeat
    (``record_heartbeat``: two statements). A start opens a run; a success or failure
    closes the run with its run id, recording its duration; a failure takes the host down
    at once (hosts/models.py ``Host.receive_failure``); a log changes nothing."""
    plain = signal == Signal.SUCCESS and exit_status is None and not run_id
    if plain and host.run_started_at is None:
        return record_heartbeat(host, at, source_ip, user_agent, body)
    stamp = connection.ops.adapt_datetimefield_value(at)
    values = [host.pk, stamp, source_ip, user_agent, body, signal, exit_status, run_id]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INSERT_SIGNAL, values)
        if signal == Signal.LOG:
            return host
        if signal == Signal.START:
            Run.objects.create(host_id=host.pk, run_id=run_id, started_at=at)
            return Host.objects.start_run(host, at, run_id)
        failed = signal == Signal.FAIL
        run = None
        if run_id or host.run_started_at is not None:
            run = _close_run(host, at, run_id, exit_status, failed)
        if failed:
            reason = "failure signal" if exit_status is None else f"exit status {exit_status}"
            stored = Host.objects.fail_run(host, at, run_id, reason, tail(body))
        else:
            stored = receive_heartbeat(host, at, cursor, run_id)
        if run is not None and host.max_run_seconds:
            # Only now that the host's row is locked (above): the sweep locks it before it
            # writes the same event, and two orders would deadlock.
            duration = (at - run.started_at).total_seconds()
            Host.objects.note_long_run(stored, run.started_at, run_id, duration, at)
        return stored


def _close_run(
    host: Host, at: datetime, run_id: str, exit_status: int | None, failed: bool
) -> Run | None:
    """Close the newest open run with this run id, if any (a finish without a start has
    no duration); returns it."""
    run = (
        Run.objects.filter(host_id=host.pk, run_id=run_id, finished_at__isnull=True)
        .filter(started_at__lte=at)
        .order_by("-started_at", "-id")
        .first()
    )
    if run is None or not Run.objects.filter(pk=run.pk, finished_at__isnull=True).update(
        finished_at=at,
        duration_seconds=(at - run.started_at).total_seconds(),
        exit_status=exit_status,
        failed=failed,
    ):
        return None  # none open, or a concurrent finish closed it
    return run
