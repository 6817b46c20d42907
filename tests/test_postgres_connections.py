"""Persistent PostgreSQL connections that the server dropped (netmon/postgresql/base.py).

The server ends the connection the way a restart does (``pg_terminate_backend``), from a
connection of its own; then the next request must still be answered, without a health
query before every request.
"""

import re
import urllib.request

import psycopg
import pytest
from django.db import OperationalError, close_old_connections, connection, transaction

from hosts.models import Host
from tests.processes import (
    MANAGE,
    django_json,
    free_port,
    http_status,
    manage,
    process_database,
    process_env,
    running,
    wait_until,
)
from tests.processes import tests_use_postgres as postgres_pass

pytestmark = pytest.mark.skipif(
    not postgres_pass(), reason="about PostgreSQL connections: runs in the PostgreSQL pass"
)


def drop_connections(database: str) -> int:
    """End every other session on ``database``, as a server restart would; how many."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params["dbname"] = database
    with psycopg.connect(**params, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchone()[0]
    return ended


@pytest.mark.django_db(transaction=True)
def test_a_request_on_a_persistent_connection_sends_no_health_query(make_host, client, tmp_path):
    _, token = make_host("db00")
    beat = {"data": "ok", "content_type": "text/plain", "HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.post("/api/v1/heartbeat/db00", **beat).status_code == 200
    trace = tmp_path / "libpq.trace"
    with trace.open("w") as output:
        connection.connection.pgconn.trace(output.fileno())  # what libpq sends and gets
        close_old_connections()  # what Django does when a request starts
        assert client.post("/api/v1/heartbeat/db00", **beat).status_code == 200
        connection.connection.pgconn.untrace()
    sent = [line for line in trace.read_text().splitlines() if "\tQuery\t" in line]
    assert any("heartbeats_heartbeat" in line for line in sent), sent
    assert not any('"SELECT 1"' in line for line in sent), sent


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("pooled", [False, True])
def test_transaction_pooling_reads_large_querysets_without_a_server_side_cursor(
    make_host, tmp_path, pooled
):
    make_host("db03")
    connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = pooled
    trace = tmp_path / "libpq.trace"
    try:
        with trace.open("w") as output:
            connection.connection.pgconn.trace(output.fileno())
            assert [h.host_id for h in Host.objects.all().iterator()] == ["db03"]
            connection.connection.pgconn.untrace()
    finally:
        connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] = False
    declared = "DECLARE" in trace.read_text()
    assert declared is not pooled


@pytest.mark.django_db(transaction=True)
def test_a_read_after_the_server_dropped_the_connection_is_answered(make_host):
    make_host("db01")
    Host.objects.count()
    backend = connection.connection.info.backend_pid
    assert drop_connections(connection.settings_dict["NAME"]) >= 1
    close_old_connections()  # a new request

    assert Host.objects.filter(host_id="db01").count() == 1
    assert connection.connection.info.backend_pid != backend


@pytest.mark.django_db(transaction=True)
def test_a_transaction_first_after_the_server_dropped_the_connection_works(make_host):
    Host.objects.count()
    backend = connection.connection.info.backend_pid
    drop_connections(connection.settings_dict["NAME"])
    close_old_connections()

    with transaction.atomic():
        make_host("db02")
    assert Host.objects.filter(host_id="db02").exists()
    assert connection.connection.info.backend_pid != backend


@pytest.mark.django_db(transaction=True)
def test_a_failing_first_statement_on_a_live_connection_is_raised_as_it_was():
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 50")
    close_old_connections()
    backend = connection.connection.info.backend_pid
    cancelled = "canceling statement due to statement timeout"
    with pytest.raises(OperationalError, match=cancelled), connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(1)")  # the request's first statement
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")
    assert connection.connection.info.backend_pid == backend  # not taken for a dead one


@pytest.mark.process
def test_heartbeats_and_reads_after_the_server_dropped_every_connection(tmp_path):
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = [*MANAGE, "serve", "--only", "web", "--bind", f"127.0.0.1:{port}"]
        with running([*command, "--web-workers", "1"], env, tmp_path / "serve.log"):
            wait_until(lambda: http_status(f"{base}/api/v1/health") is not None, 60, "web")
            added = manage("add_host", "--host-id", "pg01", "--name", "PG", env=env)
            token = re.search(r"^Token: (\S+)$", added.stdout, re.MULTILINE)[1]

            def heartbeat() -> int:
                request = urllib.request.Request(
                    f"{base}/api/v1/heartbeat/pg01",
                    data=b"ok",
                    headers={"Authorization": f"Bearer {token}"},
                )
                with urllib.request.urlopen(request, timeout=10) as answer:
                    return answer.status

            assert heartbeat() == 200
            assert heartbeat() == 200  # the host is up now: the single-statement path
            assert drop_connections(database_url.rsplit("/", 1)[1]) >= 1

            assert heartbeat() == 200
            assert http_status(f"{base}/api/v1/health") in (200, 503)  # not a 500
            drop_connections(database_url.rsplit("/", 1)[1])
            assert heartbeat() == 200
            stored = django_json(
                "from heartbeats.models import Heartbeat; "
                "print(Heartbeat.objects.filter(host__host_id='pg01').count())",
                env,
            )
            assert stored == 4
