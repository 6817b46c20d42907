import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import throttle
from heartbeats.models import Heartbeat
from heartbeats.recording import authenticate, record_heartbeat
from heartbeats.retention import prune_heartbeats
from hosts.models import Host, StatusChange
from hosts.sweep import sweep

pytestmark = pytest.mark.django_db


def beat(client, host_id: str, token: str, body: str = "", **extra):
    return client.post(
        f"/api/v1/heartbeat/{host_id}",
        data=body,
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def test_first_heartbeat_records_and_brings_host_up(client, make_host):
    host, token = make_host("web01", frequency_seconds=300, grace_seconds=60)
    with time_machine.travel("2026-03-02 10:00:00Z", tick=False):
        response = beat(client, "web01", token, "load 0.3", HTTP_USER_AGENT="cron/1")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "host_id": "web01",
        "status": "up",
        "received_at": "2026-03-02T10:00:00+00:00",
        "next_expected_at": "2026-03-02T10:05:00+00:00",
        "next_deadline": "2026-03-02T10:06:00+00:00",
    }
    stored = Heartbeat.objects.get()
    assert (stored.body, stored.user_agent, stored.source_ip) == ("load 0.3", "cron/1", "127.0.0.1")
    host.refresh_from_db()
    assert host.status == "up"
    assert host.last_heartbeat_at.isoformat() == "2026-03-02T10:00:00+00:00"
    change = StatusChange.objects.get()
    assert (change.from_status, change.to_status) == ("new", "up")


def test_a_host_that_goes_down_after_its_lookup_recovers_with_that_heartbeat(client, make_host):
    """The sweep takes the host down between the heartbeat's SELECT and its write: the
    fast write matches nothing and stores nothing, and the slow path stores the heartbeat
    once and records the recovery."""
    _, token = make_host("web01", frequency_seconds=60, grace_seconds=10)
    beat(client, "web01", token)
    looked_up, failures = authenticate("web01", token, throttle.window_of("192.0.2.7"))
    assert failures is None
    assert looked_up.status == "up"
    later = timezone.now() + timedelta(minutes=5)
    assert sweep(later) == ["web01"]

    stored = record_heartbeat(looked_up, later, "192.0.2.7", "cron/1", "")

    assert stored.status == "up" and stored.next_deadline > later
    assert Heartbeat.objects.filter(source_ip="192.0.2.7").count() == 1
    changes = StatusChange.objects.order_by("id").values_list("to_status", flat=True)
    assert list(changes) == ["up", "down", "up"]


def test_heartbeat_from_up_host_is_a_lookup_and_one_write(client, make_host):
    """An up host's heartbeat: the host's SELECT, then its INSERT and the deadline's
    UPDATE; on PostgreSQL those two are one statement (heartbeats/recording.py)."""
    _, token = make_host("web01")
    beat(client, "web01", token)
    with CaptureQueriesContext(connection) as queries:
        assert beat(client, "web01", token).status_code == 200
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    writes = ["WITH"] if connection.vendor == "postgresql" else ["INSERT", "UPDATE"]
    assert [s for s in statements if s != "SAVEPOINT" and s != "RELEASE"] == ["SELECT", *writes]
    assert Heartbeat.objects.count() == 2


def test_json_metrics_body_is_stored_as_sent(client, make_host):
    _, token = make_host("web01")
    body = '{"cpu": 0.42, "disk_free_gb": 120}'
    response = client.post(
        "/api/v1/heartbeat/web01",
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert Heartbeat.objects.get().body == body


def test_wrong_token_and_unknown_host_look_the_same(client, make_host):
    make_host("web01")
    wrong = beat(client, "web01", "not-the-token")
    unknown = beat(client, "nosuchhost", "not-the-token")
    missing = client.post("/api/v1/heartbeat/web01")
    basic = client.post("/api/v1/heartbeat/web01", HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")
    for response in (wrong, unknown, missing, basic):
        assert response.status_code == 401
        assert response.json() == {"error": "Unknown host or wrong token."}
    assert not Heartbeat.objects.exists()
    assert Host.objects.get().status == "new"


def statements(client, host_id: str, token: str) -> list[str]:
    """The SQL of one heartbeat, with the host id, the names of savepoints and the failure
    count (one more each time) taken out."""
    with CaptureQueriesContext(connection) as queries:
        beat(client, host_id, token)
    sql = [query["sql"].replace(host_id, "<host_id>") for query in queries.captured_queries]
    sql = [re.sub(r'"s\d+_x\d+"', "<savepoint>", statement) for statement in sql]
    return [re.sub(r"\"value\" = '[^']*'", '"value" = <count>', statement) for statement in sql]


def test_unknown_host_and_wrong_token_run_the_same_statements(client, make_host):
    """The same SELECT, and the same write of the failure count, whether or not the host
    exists: nothing for a timing attack to tell apart (bench/heartbeat_auth_timing.py
    measures the rest)."""
    make_host("web01")
    with time_machine.travel("2026-03-02 10:00:00Z", tick=False):
        beat(client, "warmup", "x" * 43)  # the failure counter exists from here on
        wrong = statements(client, "web01", "x" * 43)
        unknown = statements(client, "nosuch", "x" * 43)
    assert wrong == unknown
    assert any("hosts_host" in sql for sql in wrong)
    assert any("hosts_host" in sql and "accounts_authfailurecount" in sql for sql in wrong)
    assert any(sql.startswith("INSERT INTO accounts_authfailurecount") for sql in wrong)


def test_a_good_heartbeat_reads_its_failure_count_in_its_host_lookup(client, make_host):
    _, token = make_host("web01")
    beat(client, "web01", token)
    with CaptureQueriesContext(connection) as queries:
        assert beat(client, "web01", token).status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    counts = [statement for statement in sql if "accounts_authfailurecount" in statement]
    assert len(counts) == 1 and counts[0].startswith("SELECT"), sql
    assert "FROM hosts_host" not in counts[0] and "JOIN hosts_host h ON h.host_id" in counts[0]
    assert not any("cache" in statement for statement in sql)


def test_repeated_failures_from_one_address_get_429_until_the_window_ends(
    client, make_host, settings
):
    settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS = 3, 300
    _, token = make_host("web01")
    with time_machine.travel("2026-03-02 10:01:00Z", tick=False) as clock:
        guesses = [beat(client, host_id, "x" * 43) for host_id in ("web01", "db01", "web01")]
        assert [response.status_code for response in guesses] == [401, 401, 401]

        refused = beat(client, "web01", token)  # even the right token, from this address
        other = beat(client, "web01", token, REMOTE_ADDR="192.0.2.7")

        assert refused.status_code == 429
        assert refused["Retry-After"] == "240"  # the 5-minute window ends at 10:05
        assert "retry in 240 s" in refused.json()["error"]
        assert other.status_code == 200
        assert Heartbeat.objects.count() == 1
        clock.move_to("2026-03-02 10:05:00Z")
        assert beat(client, "web01", token).status_code == 200


def test_behind_a_proxy_failures_count_per_forwarded_address(client, make_host, settings):
    settings.AUTH_FAILURE_LIMIT = 2
    _, token = make_host("web01")
    settings.NETMON_TRUST_X_FORWARDED_FOR = True
    attacker = {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.66"}
    for _ in range(2):
        assert beat(client, "web01", "x" * 43, **attacker).status_code == 401
    assert beat(client, "web01", token, **attacker).status_code == 429
    good = beat(client, "web01", token, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert good.status_code == 200  # same proxy (REMOTE_ADDR), another client

    settings.NETMON_TRUST_X_FORWARDED_FOR = False  # then the header means nothing
    for _ in range(2):
        beat(client, "web01", "x" * 43, HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert beat(client, "web01", token, HTTP_X_FORWARDED_FOR="203.0.113.99").status_code == 429


def test_body_limit(client, make_host, settings):
    _, token = make_host("web01")
    settings.HEARTBEAT_MAX_BODY_BYTES = 10240
    assert beat(client, "web01", token, "x" * 10240).status_code == 200
    response = beat(client, "web01", token, "x" * 10241)
    assert response.status_code == 413
    assert "10240" in response.json()["error"]
    assert Heartbeat.objects.count() == 1


def test_binary_and_nul_bytes_do_not_break_storage(client, make_host):
    _, token = make_host("web01")
    response = client.post(
        "/api/v1/heartbeat/web01",
        data=b"\x00\xff\xfeok",
        content_type="application/octet-stream",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200
    assert Heartbeat.objects.get().body.endswith("ok")


def test_only_post_is_accepted(client, make_host):
    _, token = make_host("web01")
    response = client.get("/api/v1/heartbeat/web01", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 405


def test_paused_host_is_recorded_but_stays_paused(client, make_host):
    host, token = make_host("web01")
    host.pause()
    response = beat(client, "web01", token)
    assert response.status_code == 200
    assert response.json()["status"] == "paused"
    assert response.json()["next_deadline"] is None
    host.refresh_from_db()
    assert host.status == "paused" and host.last_heartbeat_at is not None
    assert Heartbeat.objects.count() == 1


def test_forwarded_for_is_ignored_unless_behind_a_proxy(client, make_host, settings):
    _, token = make_host("web01")
    beat(client, "web01", token, HTTP_X_FORWARDED_FOR="203.0.113.9")
    settings.NETMON_TRUST_X_FORWARDED_FOR = True
    beat(client, "web01", token, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")
    ips = list(Heartbeat.objects.order_by("id").values_list("source_ip", flat=True))
    assert ips == ["127.0.0.1", "203.0.113.7"]


def test_history_newest_first_paginated_and_filtered(api, client, make_host):
    _, token = make_host("web01")
    start = timezone.now() - timedelta(hours=5)
    for hour in range(5):
        with time_machine.travel(start + timedelta(hours=hour), tick=False):
            beat(client, "web01", token, f"beat {hour}")
    page = api.get("/api/v1/heartbeat/web01/history?limit=2").json()
    assert page["count"] == 5
    assert [h["body"] for h in page["results"]] == ["beat 4", "beat 3"]
    assert page["next"]
    since = (start + timedelta(hours=1)).isoformat()
    until = (start + timedelta(hours=3)).isoformat()
    filtered = api.get("/api/v1/heartbeat/web01/history", {"since": since, "until": until})
    assert [h["body"] for h in filtered.json()["results"]] == ["beat 2", "beat 1"]


def test_history_bad_input(api, make_host):
    make_host("web01")
    assert api.get("/api/v1/heartbeat/web01/history?since=yesterday").status_code == 400
    assert api.get("/api/v1/heartbeat/nope/history").status_code == 404


def test_retention_keeps_the_newest_per_host(client, make_host):
    _, token = make_host("web01")
    _, other = make_host("db01")
    for i in range(12):
        beat(client, "web01", token, f"{i}")
    for i in range(3):
        beat(client, "db01", other, f"{i}")
    assert prune_heartbeats(keep=10) == 2
    kept = Heartbeat.objects.filter(host__host_id="web01").order_by("id")
    assert [h.body for h in kept] == [str(i) for i in range(2, 12)]
    assert Heartbeat.objects.filter(host__host_id="db01").count() == 3


def test_client_script_is_served(client):
    response = client.get("/scripts/client-heartbeat.sh")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"#!/bin/sh")
