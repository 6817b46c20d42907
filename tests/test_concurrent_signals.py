"""Many requests for one host at the same moment, against a live threaded server: each is
answered 200 and stored, none deadlocks with another.

The risk this guards: a heartbeat's INSERT checks its foreign key with a share lock on
the host's row, and the slow path then locks that row FOR UPDATE. Were the check taken
at the INSERT, two requests holding share locks would each wait for the other's and
PostgreSQL would kill one (a 500). Django makes PostgreSQL foreign keys DEFERRABLE
INITIALLY DEFERRED, so the check runs at COMMIT, after the row lock: this test keeps it
that way. On PostgreSQL it makes the interleaving certain: it holds the host's row the
way the sweep's UPDATE does until every request waits for it, then lets them all go at
once. PostgreSQL only: SQLite has no row locks (one lock for the whole database), and the
live test server shares a single SQLite connection between its threads."""

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
from django.db import connection
from pytest_django.live_server_helper import LiveServer

from heartbeats.models import Heartbeat, Run
from hosts.choices import HostStatus
from hosts.models import Host
from tests.processes import tests_use_postgres as suite_on_postgres

pytestmark = [
    pytest.mark.process,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not suite_on_postgres(), reason="row locks and deadlocks are PostgreSQL's (see above)"
    ),
]
THREADS = 8


@pytest.fixture(scope="module")
def live_server(django_db_setup) -> Iterator[LiveServer]:
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()


@contextmanager
def row_held(host: Host, waiting: int) -> Iterator[None]:
    """Hold ``host``'s row (FOR NO KEY UPDATE, as an UPDATE does) while the block starts
    its requests, and let go once ``waiting`` of them wait for it."""
    import psycopg

    params = connection.get_connection_params()
    with psycopg.connect(**params) as holder:
        holder.execute(
            f"SELECT 1 FROM {Host._meta.db_table} WHERE id = %s FOR NO KEY UPDATE", [host.pk]
        )
        yield
        watch = psycopg.connect(**params, autocommit=True)
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            (blocked,) = watch.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if blocked >= waiting:
                break
            time.sleep(0.02)  # polling another server's state: no clock to inject
        watch.close()
        assert blocked >= waiting, f"only {blocked} requests wait for the row"
        holder.rollback()


def send_together(host: Host, requests_to_send: list[tuple[str, dict]]) -> list[int]:
    """POST every (url, headers) at once, a connection each; their status codes."""

    def post(item: tuple[str, dict]) -> int:
        url, headers = item
        with requests.Session() as session:
            return session.post(url, headers=headers, timeout=60).status_code

    with ThreadPoolExecutor(len(requests_to_send)) as pool:
        with row_held(host, waiting=len(requests_to_send)):
            answers = pool.map(post, requests_to_send)
        return list(answers)


def test_simultaneous_first_heartbeats_of_a_new_host(live_server, make_host):
    """A new host takes the slow path: its first heartbeat records a transition."""
    host, token = make_host("new")
    url = f"{live_server.url}/api/v1/heartbeat/{host.host_id}"

    answers = send_together(host, [(url, {"Authorization": f"Bearer {token}"})] * THREADS)

    assert answers == [200] * THREADS
    assert Host.objects.get(pk=host.pk).status == HostStatus.UP
    assert Heartbeat.objects.filter(host=host).count() == THREADS


def test_simultaneous_start_and_finish_signals(live_server, make_host):
    host, _ = make_host("backup", frequency_seconds=3600, grace_seconds=600)
    ping = f"{live_server.url}/ping/{host.rotate_ping_token()}"
    host.save()

    starts = send_together(host, [(f"{ping}/start?rid=run{n}", {}) for n in range(THREADS)])
    finishes = send_together(host, [(f"{ping}/{n % 2}?rid=run{n}", {}) for n in range(THREADS)])

    assert starts + finishes == [200] * (2 * THREADS)
    assert Heartbeat.objects.filter(host=host).count() == 2 * THREADS
    runs = Run.objects.filter(host=host)
    assert runs.count() == THREADS
    assert not runs.filter(finished_at__isnull=True).exists()
    assert runs.filter(failed=True).count() == THREADS // 2
