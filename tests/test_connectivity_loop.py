"""The monitor loop and our own link: deadlines wait while it is down; healthchecks.io pings."""

import itertools
import signal
import time
import uuid
from datetime import datetime, timedelta

import pytest
import requests
import time_machine
from django.utils import timezone
from fakes import FakeHealthchecks, Reply

from alerts.models import Alert
from connectivity.checks import run_check
from connectivity.healthchecks import Ping, Pinger, ping_url, stop_pinger
from connectivity.loop import current_link
from hosts.models import Host, MonitorState
from netmon.management.commands.monitor import run_cycle
from tests.connectivity_support import (
    all_up,
    link_settings_fixture,  # noqa: F401
    majority_down,
    minutes,
    no_public_dns_fixture,  # noqa: F401
    servers_fixture,  # noqa: F401
    target,
)
from tests.processes import (
    MANAGE,
    process_database,
    process_env,
    running,
    tagged_processes,
    wait_for_exit,
    wait_until,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def three_targets(link_settings, servers):
    link_settings.CONNECTIVITY_TARGETS = [target(server) for server in servers]
    return servers


def kinds() -> list[str]:
    return list(Alert.objects.order_by("id").values_list("kind", flat=True))


def cycle_at(moment: datetime) -> dict:
    """One cycle of a loop that has been running all along (no gap to forgive)."""
    MonitorState.objects.update_or_create(
        pk=1, defaults={"last_sweep_at": moment - timedelta(seconds=1)}
    )
    with time_machine.travel(moment, tick=False):
        return run_cycle()


@pytest.fixture
def remote_host(make_host):
    """Up, heard from at T0, due at T0 + 3 min; returns (host, token)."""
    host, token = make_host("remote", frequency_seconds=120, grace_seconds=60)
    Host.objects.filter(pk=host.pk).update(
        status="up", last_heartbeat_at=minutes(0), next_deadline=minutes(3)
    )
    return host, token


# --- Deadlines while our own link is down ------------------------------------------------


def test_without_an_outage_the_deadline_is_alerted(three_targets, remote_host):
    all_up(three_targets)
    run_check(minutes(0))
    assert cycle_at(minutes(3.1))["marked_down"] == ["remote"]
    assert kinds() == ["host_down"]


def test_deadlines_falling_due_during_our_own_outage_are_not_alerted(three_targets, remote_host):
    all_up(three_targets)
    run_check(minutes(-5))
    majority_down(three_targets)
    run_check(minutes(0))  # the first failed check: deadlines wait from now on
    outcome = cycle_at(minutes(3.1))
    assert outcome["marked_down"] == [] and outcome["postponed"] == 1
    for minute in range(5, 35):
        if minute % 5 == 0:
            run_check(minutes(minute))  # the second one opens the outage
        assert cycle_at(minutes(minute + 0.5))["marked_down"] == []
    assert kinds() == ["outage_started"]
    host = Host.objects.get(host_id="remote")
    assert host.status == "up"

    all_up(three_targets)
    run_check(minutes(35))  # back: the outage closes
    assert cycle_at(minutes(35.5))["marked_down"] == []
    host.refresh_from_db()
    # a full period to report again, as if it had sent a heartbeat when the link came back
    assert host.next_deadline == minutes(35 + 2 + 1)
    assert cycle_at(minutes(37.9))["marked_down"] == []
    # still silent then: now that is the host's problem
    assert cycle_at(minutes(38))["marked_down"] == ["remote"]
    assert kinds() == ["outage_started", "outage_ended", "host_down"]


def test_a_host_that_reports_after_the_outage_is_never_alerted(three_targets, remote_host, client):
    _, token = remote_host
    majority_down(three_targets)
    run_check(minutes(0))
    run_check(minutes(5))
    for minute in range(3, 10):
        assert cycle_at(minutes(minute))["marked_down"] == []
    all_up(three_targets)
    run_check(minutes(10))
    with time_machine.travel(minutes(10.5), tick=False):
        response = client.post("/api/v1/heartbeat/remote", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    for minute in (11, 12, 13):  # its next deadline: 10.5 + 2 + 1 min
        assert cycle_at(minutes(minute))["marked_down"] == []
    assert kinds() == ["outage_started", "outage_ended"]


def test_an_old_failed_check_does_not_silence_the_loop(three_targets, remote_host):
    """If the checks stop (no task cluster), the loop sweeps as usual."""
    majority_down(three_targets)
    run_check(minutes(-30))
    run_check(minutes(-25))
    assert current_link().outage_id is not None
    assert cycle_at(minutes(3.1))["marked_down"] == ["remote"]


def test_switched_off_means_no_query_and_no_hold(three_targets, remote_host, settings):
    majority_down(three_targets)
    run_check(minutes(0))
    settings.CONNECTIVITY_ENABLED = False
    assert current_link() is None
    assert cycle_at(minutes(3.1))["marked_down"] == ["remote"]


# --- healthchecks.io ---------------------------------------------------------------------


@pytest.fixture
def hc(link_settings):
    with FakeHealthchecks() as server:
        link_settings.HEALTHCHECKS_URL = server.ping_url
        link_settings.HEALTHCHECKS_PING_INTERVAL_SECONDS = 60
        yield server
        stop_pinger()


def test_link_up_sends_one_success_ping_per_interval(three_targets, hc):
    all_up(three_targets)
    run_check()
    for _ in range(5):
        run_cycle()
    hc.wait_for(1)
    [(kind, body)] = hc.pings
    assert kind == "success"
    assert "monitor loop alive" in body and "link up: 3 of 3 targets reachable" in body
    time.sleep(0.3)  # nothing else is on its way
    assert len(hc.requests) == 1


def test_pings_are_spaced_by_the_interval():
    pinger = Pinger("http://127.0.0.1:9/unused", interval=60)
    now = timezone.now()
    due = [pinger.plan(None, now + timedelta(seconds=s)) for s in (0, 1, 30, 59.9, 60, 61, 120)]
    assert [p.kind if p else None for p in due] == [
        "success",
        None,
        None,
        None,
        "success",
        None,
        "success",
    ]
    assert "no connectivity check yet" in due[0].body


def test_a_failed_check_pings_fail_and_pauses_success_pings(three_targets, hc):
    majority_down(three_targets)
    run_check()
    run_cycle()
    run_cycle()
    hc.wait_for(1)
    run_check()  # a second failed check: pinged too
    run_cycle()
    hc.wait_for(2)
    all_up(three_targets)
    run_check()
    run_cycle()  # back: a success ping at once, not after the interval
    hc.wait_for(3)
    time.sleep(0.3)
    assert [kind for kind, _ in hc.pings] == ["fail", "fail", "success"]
    body = hc.pings[0][1]
    assert body.startswith("netmon: internet link down") and "2 of 3 targets failed" in body
    assert target(three_targets[1]) in body and "HTTP 503" in body


def test_a_hanging_healthchecks_never_blocks_the_loop(three_targets, hc):
    hc.set_default(Reply(hang=True))
    all_up(three_targets)
    run_check()
    started = time.monotonic()
    for _ in range(3):
        run_cycle()
    assert time.monotonic() - started < 1.0
    hc.wait_for(1)  # the ping is out there, waiting for its timeout in the background


def test_failed_pings_are_retried_and_a_full_queue_drops_the_oldest(hc):
    hc.queue(Reply(500), Reply(503))
    pinger = Pinger(hc.ping_url, interval=60, backoff=0.05)
    pinger.submit(Ping("success", "first"))
    hc.wait_for(3)
    assert [r.reply.status for r in hc.requests] == [500, 503, 200]
    assert hc.pings == [("success", "first")]
    wait_until(lambda: pinger.sent == 1, 5, "the pinger to count its ping", 0.01)
    pinger.stop()

    hc.reset()
    hc.set_default(Reply(hang=True))
    stuck = Pinger(hc.ping_url, interval=60, timeout=(1.0, 1.0), queue_size=3)
    started = time.monotonic()
    for i in range(20):
        stuck.submit(Ping("log", f"message {i}"))
    assert time.monotonic() - started < 0.5
    assert stuck._queue.qsize() <= 3
    stuck.stop(0)


def test_ping_url_forms_are_what_healthchecks_io_accepts(hc):
    rid = str(uuid.uuid4())
    base = hc.ping_url
    assert ping_url(base) == base
    assert ping_url(base + "/", "fail") == f"{base}/fail"
    assert ping_url(base, 3, rid) == f"{base}/3?rid={rid}"
    slug = "https://hc-ping.com/ping-key/netmon?create=1"
    assert (
        ping_url(slug, "start", rid)
        == f"https://hc-ping.com/ping-key/netmon/start?create=1&rid={rid}"
    )
    for kind in ("success", "start", "fail", "log", 0, 1, 255):
        response = requests.post(ping_url(base, kind, rid), data=b"summary", timeout=5)
        assert response.status_code == 200, kind
    assert [kind for kind, _ in hc.pings] == ["success", "start", "fail", "log", "0", "1", "255"]
    for bad in (256, -1, "bogus", True):
        with pytest.raises(ValueError):
            ping_url(base, bad)
    with pytest.raises(ValueError):
        ping_url(base, "fail", rid="not-a-uuid")

    pinger = Pinger(base, interval=60)
    pinger.submit(Ping("start", "", rid=rid))
    request = hc.wait_for(8)[-1]
    assert request.path.endswith("/start") and request.query["rid"] == [rid]
    pinger.stop()


# --- The real loop -----------------------------------------------------------------------


@pytest.mark.process
def test_the_monitor_loop_pings_while_it_runs_and_stops_with_it(tmp_path):
    with FakeHealthchecks() as hc, process_database(tmp_path) as database_url:
        env = process_env(
            tmp_path,
            database_url,
            HEALTHCHECKS_URL=hc.ping_url,
            HEALTHCHECKS_PING_INTERVAL_SECONDS="1",
            SWEEP_INTERVAL_SECONDS="0.2",
        )
        log = tmp_path / "monitor.log"
        with running([*MANAGE, "monitor"], env, log) as loop:
            hc.wait_for(3, timeout=30)
            loop.send_signal(signal.SIGTERM)
            assert wait_for_exit(loop, timeout=15) == 0, log.read_text()
            sent = len(hc.requests)
            assert tagged_processes(env) == []
            time.sleep(2.5)  # more than two intervals: nothing pings any more
            assert len(hc.requests) == sent
        arrivals = [r.received_at for r in hc.requests]
        assert all(b - a > 0.8 for a, b in itertools.pairwise(arrivals))
        assert {kind for kind, _ in hc.pings} == {"success"}
        assert "monitor loop alive" in hc.pings[0][1]
