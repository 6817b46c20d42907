"""Ping URLs through Django's test client: the URL forms, their answers, and what start,
fail, exit status, log and run ids do to a host (runs, durations, alerts).

Against live servers with curl, wget and busybox wget: tests/test_ping_clients.py."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert
from heartbeats.models import Heartbeat, PingKey, Run
from hosts.alerting import alert_status_changes
from hosts.choices import ChangeCause, HostStatus
from hosts.models import Host, StatusChange
from hosts.sweep import sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def pinged(make_host):
    """An up host with a ping token; returns (host, ping token)."""
    host, _ = make_host("backup", frequency_seconds=3600, grace_seconds=300)
    token = host.rotate_ping_token()
    Host.objects.get(pk=host.pk).receive_heartbeat(timezone.now() - timedelta(minutes=1))
    return Host.objects.get(pk=host.pk), token


def fresh(host: Host) -> Host:
    return Host.objects.get(pk=host.pk)


@pytest.mark.parametrize("method", ["get", "head", "post"])
def test_the_ping_url_records_a_heartbeat_by_any_method(client, pinged, method):
    host, token = pinged
    before = fresh(host).last_heartbeat_at

    response = getattr(client, method)(f"/ping/{token}")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == (b"" if method == "head" else b"OK")
    assert fresh(host).last_heartbeat_at > before
    assert Heartbeat.objects.filter(host=host).latest("id").kind == "success"


def test_json_when_asked_and_the_body_stored(client, pinged):
    host, token = pinged
    response = client.post(
        f"/ping/{token}", "12 GB copied", content_type="text/plain", HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 200
    data = response.json()
    assert (data["ok"], data["message"], data["host_id"], data["signal"]) == (
        True,
        "OK",
        "backup",
        "success",
    )
    assert Heartbeat.objects.filter(host=host).latest("id").body == "12 GB copied"


def test_a_long_body_is_cut_not_refused(client, pinged, settings):
    host, token = pinged
    settings.HEARTBEAT_MAX_BODY_BYTES = 10
    response = client.post(f"/ping/{token}", "x" * 50, content_type="text/plain")
    assert response.status_code == 200
    assert Heartbeat.objects.filter(host=host).latest("id").body == "x" * 10


def test_unknown_secrets_are_not_found_and_throttled(client, pinged, settings):
    settings.AUTH_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.get("/ping/not-a-token-at-all")
        assert (response.status_code, response.content) == (404, b"not found")
    response = client.get(f"/ping/{pinged[1]}")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert (
        not Heartbeat.objects.filter(host=pinged[0], kind="success")
        .exclude(received_at__lt=timezone.now() - timedelta(seconds=30))
        .exists()
    )


def test_the_bearer_token_is_not_a_ping_token_and_rotation_is_separate(client, make_host, api):
    host, bearer = make_host("web01")
    assert client.get(f"/ping/{bearer}").status_code == 404

    issued = api.post("/api/v1/hosts/web01/ping-token").json()
    assert issued["ping_url"].endswith("/ping/" + issued["ping_token"])
    assert len(issued["ping_token"]) >= 22  # >= 128 bits
    assert client.get(f"/ping/{issued['ping_token']}").status_code == 200

    again = api.post("/api/v1/hosts/web01/ping-token").json()
    assert client.get(f"/ping/{issued['ping_token']}").status_code == 404
    assert client.get(f"/ping/{again['ping_token']}").status_code == 200
    response = client.post(
        "/api/v1/heartbeat/web01",
        "still",
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {bearer}",
    )
    assert response.status_code == 200  # the bearer token was not changed
    assert fresh(host).ping_token_hash not in (None, "", issued["ping_token"])


def test_ping_key_and_host_id(client, make_host):
    host, _ = make_host("nas")
    ping_key = PingKey(name="home")
    key = ping_key.issue()
    ping_key.save()

    assert client.get(f"/ping/{key}/nas").content == b"OK"
    assert client.get(f"/ping/{key}/nas/start").content == b"OK"
    assert client.get(f"/ping/{key}/nas/0").content == b"OK"
    assert client.get(f"/ping/{key}/nobody").status_code == 404
    assert client.get("/ping/wrong-key/nas").status_code == 404
    kinds = Heartbeat.objects.filter(host=host).order_by("id").values_list("kind", flat=True)
    assert list(kinds) == ["success", "start", "success"]
    assert Run.objects.get(host=host).duration_seconds is not None


def test_a_host_called_like_a_signal_is_reached_through_a_ping_key(client, make_host):
    host, _ = make_host("start")
    ping_key = PingKey(name="p")
    key = ping_key.issue()
    ping_key.save()
    assert client.get(f"/ping/{key}/start").content == b"OK"
    assert Heartbeat.objects.get(host=host).kind == "success"


@pytest.mark.parametrize("path", ["256", "fail2", "-1", "start/extra/more"])
def test_bad_signals(client, pinged, path):
    response = client.get(f"/ping/{pinged[1]}/{path}")
    assert response.status_code in (400, 404)
    assert not Heartbeat.objects.filter(host=pinged[0], kind__in=["fail", "start"]).exists()


def test_a_bad_run_id_names_itself(client, pinged):
    response = client.get(f"/ping/{pinged[1]}/start", {"rid": "no spaces"})
    assert (response.status_code, response.content) == (400, b"invalid rid")
    assert not Run.objects.exists()


def test_start_then_success_records_the_run_duration(client, pinged, api):
    host, token = pinged
    assert client.get(f"/ping/{token}/start").status_code == 200
    started = fresh(host)
    assert started.run_started_at is not None
    assert started.next_deadline == started.run_started_at + timedelta(seconds=300)

    assert client.post(f"/ping/{token}", "done", content_type="text/plain").status_code == 200

    finished = fresh(host)
    assert finished.run_started_at is None and finished.status == HostStatus.UP
    assert finished.next_deadline == finished.last_heartbeat_at + timedelta(seconds=3900)
    run = Run.objects.get(host=host)
    assert run.finished_at == finished.last_heartbeat_at and not run.failed
    assert run.duration_seconds == (run.finished_at - run.started_at).total_seconds()
    runs = api.get("/api/v1/heartbeat/backup/runs").json()["results"]
    assert runs[0]["duration_seconds"] == run.duration_seconds
    assert runs[0]["state"] == "succeeded"
    kinds = [h["kind"] for h in api.get("/api/v1/heartbeat/backup/history").json()["results"]]
    assert kinds[:2] == ["success", "start"]


def test_a_bearer_heartbeat_finishes_a_run_too(client, make_host):
    host, bearer = make_host("db01")
    token = host.rotate_ping_token()
    client.get(f"/ping/{token}/start")
    response = client.post(
        "/api/v1/heartbeat/db01",
        "",
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {bearer}",
    )
    assert response.status_code == 200
    assert fresh(host).run_started_at is None
    assert Run.objects.get(host=host).finished_at is not None


def test_run_ids_pair_concurrent_runs(client, pinged):
    host, token = pinged
    client.get(f"/ping/{token}/start", {"rid": "a"})
    client.get(f"/ping/{token}/start", {"rid": "b"})
    client.get(f"/ping/{token}/0", {"rid": "a"})

    assert fresh(host).run_id == "b"  # the run still open, not the one that finished
    client.get(f"/ping/{token}/3", {"rid": "b"})

    runs = {run.run_id: run for run in Run.objects.filter(host=host)}
    assert (runs["a"].exit_status, runs["a"].failed) == (0, False)
    assert (runs["b"].exit_status, runs["b"].failed) == (3, True)
    assert fresh(host).run_started_at is None and fresh(host).status == HostStatus.DOWN


def test_log_changes_nothing_but_is_stored(client, pinged):
    host, token = pinged
    before = fresh(host)
    assert client.post(f"/ping/{token}/log", "halfway", content_type="text/plain").content == b"OK"
    after = fresh(host)
    assert (after.status, after.last_heartbeat_at, after.next_deadline) == (
        before.status,
        before.last_heartbeat_at,
        before.next_deadline,
    )
    assert Heartbeat.objects.filter(host=host).latest("id").body == "halfway"


@pytest.mark.parametrize(("path", "reason"), [("fail", "failure signal"), ("2", "exit status 2")])
def test_a_failure_alerts_at_once_with_the_tail_of_the_output(client, pinged, path, reason):
    host, token = pinged
    output = (
        "\n".join(f"line {n}" for n in range(1, 41)) + "\n[click](https://evil.example/) @everyone"
    )
    assert (
        client.post(f"/ping/{token}/{path}", output, content_type="text/plain").status_code == 200
    )

    host = fresh(host)
    assert host.status == HostStatus.DOWN
    change = StatusChange.objects.filter(host=host).latest("id")
    assert (change.cause, change.reason) == (ChangeCause.FAILURE, reason)
    assert change.detail.splitlines()[0] == "line 22" and "line 21" not in change.detail

    alert_status_changes(timezone.now())
    alert = Alert.objects.get(kind="host_down")
    assert alert.title == "BACKUP failed"
    assert reason in alert.description
    output_field = dict(alert.fields)["Output (end)"]
    assert "line 40" in output_field and "line 1\n" not in output_field
    block = alert.markup["fields"][-1][1]
    assert block == [{"block": change.detail.splitlines()}]  # data in a code block, not markup


def test_a_failure_before_any_success_alerts_too(client, make_host):
    host, _ = make_host("cron01")
    token = host.rotate_ping_token()
    client.get(f"/ping/{token}/1")
    assert fresh(host).status == HostStatus.DOWN
    alert_status_changes(timezone.now())
    assert Alert.objects.get().title == "CRON01 failed"


def test_a_failure_of_a_host_already_down_alerts_nothing_more(client, pinged):
    host, token = pinged
    client.get(f"/ping/{token}/fail")
    client.get(f"/ping/{token}/fail")
    alert_status_changes(timezone.now())
    assert Alert.objects.count() == 1
    assert client.get(f"/ping/{token}").status_code == 200
    assert fresh(host).status == HostStatus.UP
    alert_status_changes(timezone.now())
    assert list(Alert.objects.order_by("id").values_list("kind", flat=True)) == [
        "host_down",
        "host_up",
    ]


def test_a_start_without_a_finish_within_grace_alerts_started_but_never_finished(
    client, pinged, api
):
    host, token = pinged
    client.get(f"/ping/{token}/start")
    started = fresh(host).run_started_at
    states = api.get("/api/v1/heartbeat/backup/runs").json()["results"]
    assert [run["state"] for run in states] == ["running"]

    assert sweep(started + timedelta(seconds=299)) == []
    assert sweep(started + timedelta(seconds=301)) == ["backup"]

    host = fresh(host)
    assert (host.status, host.run_started_at) == (HostStatus.DOWN, None)
    change = StatusChange.objects.filter(host=host).latest("id")
    assert (change.cause, change.reason) == (ChangeCause.UNFINISHED, "started but never finished")
    alert_status_changes(timezone.now())
    alert = Alert.objects.get()
    assert alert.title == "BACKUP started but never finished"
    assert Run.objects.get(host=host).finished_at is None
    states = api.get("/api/v1/heartbeat/backup/runs").json()["results"]
    assert [run["state"] for run in states] == ["unfinished"]
    client.get(f"/ping/{token}/start")
    client.get(f"/ping/{token}/1")
    states = api.get("/api/v1/heartbeat/backup/runs").json()["results"]
    assert [run["state"] for run in states] == ["failed", "unfinished"]


def test_a_start_on_a_new_host_watches_it(client, make_host):
    host, _ = make_host("new01", grace_seconds=120)
    token = host.rotate_ping_token()
    client.get(f"/ping/{token}/start")
    host = fresh(host)
    assert host.status == HostStatus.UP
    assert host.next_deadline == host.run_started_at + timedelta(seconds=120)
    alert_status_changes(timezone.now())
    assert not Alert.objects.exists()  # new → up is not news


def test_an_edit_during_a_run_keeps_its_deadline(client, pinged):
    host, token = pinged
    client.get(f"/ping/{token}/start")
    host = fresh(host)
    host.notes = "edited"
    host.save()
    assert fresh(host).next_deadline == host.run_started_at + timedelta(seconds=300)


def test_a_paused_host_records_signals_and_changes_nothing(client, pinged):
    host, token = pinged
    host.pause()
    client.get(f"/ping/{token}/fail")
    assert fresh(host).status == HostStatus.PAUSED
    assert Heartbeat.objects.filter(host=host, kind="fail").exists()


# Uptime Kuma push -------------------------------------------------------------------------


def test_kuma_push_up_and_down(client, make_host):
    host, _ = make_host("router")
    host.set_compat_token("Xq3pLm9Rt2")
    host.save()

    response = client.get("/api/push/Xq3pLm9Rt2", {"status": "up", "msg": "OK", "ping": "12"})
    assert (response.status_code, response.json()) == (200, {"ok": True})
    assert fresh(host).status == HostStatus.UP
    assert Heartbeat.objects.get(host=host).body == "OK\nping: 12 ms"

    response = client.get("/api/push/Xq3pLm9Rt2", {"status": "down", "msg": "disk full"})
    assert response.json() == {"ok": True}
    assert fresh(host).status == HostStatus.DOWN
    assert StatusChange.objects.filter(host=host).latest("id").detail == "disk full"


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"status": "sideways"}, 400, "status: expected up or down."),
        ({"ping": "fast"}, 400, "ping: expected a number of milliseconds."),
    ],
)
def test_kuma_push_bad_input_names_the_field(client, make_host, query, status, message):
    host, _ = make_host("router")
    host.set_compat_token("Xq3pLm9Rt2")
    host.save()
    response = client.get("/api/push/Xq3pLm9Rt2", query)
    assert (response.status_code, response.json()) == (status, {"ok": False, "msg": message})
    assert not Heartbeat.objects.exists()


def test_kuma_push_unknown_token(client, db):
    response = client.get("/api/push/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "msg": "Monitor not found or not active."}


def test_create_ping_key_prints_it_once_and_keeps_a_healthchecks_key(client, make_host):
    from io import StringIO

    from django.core.management import CommandError, call_command

    make_host("database-backup")
    out = StringIO()
    call_command("create_ping_key", "hc project", "--key", "fJ4kq8ZlQ2xW9vTn3pYs0A", stdout=out)
    assert out.getvalue().strip() == "fJ4kq8ZlQ2xW9vTn3pYs0A"
    assert PingKey.objects.get().key_hash != "fJ4kq8ZlQ2xW9vTn3pYs0A"
    assert client.get("/ping/fJ4kq8ZlQ2xW9vTn3pYs0A/database-backup").content == b"OK"
    with pytest.raises(CommandError, match="--key"):
        call_command("create_ping_key", "again", "--key", "fJ4kq8ZlQ2xW9vTn3pYs0A")
    with pytest.raises(CommandError, match="--key"):
        call_command("create_ping_key", "short", "--key", "abc")
