"""Internet connectivity: targets, probes against real local servers, outages, alerts, API."""

import time
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from fakes import Reply
from rest_framework.test import APIClient

from alerts.models import Alert
from connectivity.checks import run_check
from connectivity.config import (
    TargetError,
    check_cron,
    env_interval_minutes,
    env_targets,
    parse_target,
    parse_targets,
)
from connectivity.events import alert_outages
from connectivity.health import link_health
from connectivity.models import ConnectivityCheck, LinkState, Outage, link_is_up
from connectivity.probes import probe_all
from connectivity.tasks import check_connectivity, prune_connectivity
from connectivity.uptime import uptime_summary
from hosts.models import Host
from netmon.health import health_report
from tests.connectivity_support import (
    T0,
    all_up,
    closed_port,
    fake_dns_fixture,  # noqa: F401
    link_settings_fixture,  # noqa: F401
    majority_down,
    minutes,
    no_public_dns_fixture,  # noqa: F401
    servers_fixture,  # noqa: F401
    target,
)

# --- Target syntax and settings ---------------------------------------------------------


def test_target_forms():
    https = parse_target("https://1.1.1.1/")
    assert (https.kind, https.host, https.port, https.needs_dns) == ("http", "1.1.1.1", 443, False)
    named = parse_target("http://example.net:8080/health")
    assert (named.kind, named.port, named.needs_dns) == ("http", 8080, True)
    tcp = parse_target("tcp:9.9.9.9:53")
    assert (tcp.kind, tcp.host, tcp.port) == ("tcp", "9.9.9.9", 53)
    assert parse_target("tcp:[2620:fe::fe]:53").host == "2620:fe::fe"
    dns = parse_target("dns:one.one.one.one")
    assert (dns.kind, dns.host, dns.needs_dns) == ("dns", "one.one.one.one", True)


@pytest.mark.parametrize(
    "spec",
    [
        "ftp://example.net/",
        "9.9.9.9",
        "tcp:9.9.9.9",
        "tcp:9.9.9.9:0",
        "tcp:9.9.9.9:70000",
        "tcp:[nonsense]:53",
        "dns:1.1.1.1",
        "dns:bad..name",
        "https://:443/",
        "http://1.1.1.1:99999/",
    ],
)
def test_bad_targets_are_refused(spec):
    with pytest.raises(TargetError):
        parse_target(spec)


def test_target_list_is_checked_at_start_up(monkeypatch):
    monkeypatch.setenv("CONNECTIVITY_TARGETS", "https://1.1.1.1/, tcp:9.9.9.9:53")
    assert env_targets("CONNECTIVITY_TARGETS") == ["https://1.1.1.1/", "tcp:9.9.9.9:53"]
    monkeypatch.setenv("CONNECTIVITY_TARGETS", "https://1.1.1.1/,tcp:nowhere")
    with pytest.raises(ImproperlyConfigured, match="CONNECTIVITY_TARGETS is invalid"):
        env_targets("CONNECTIVITY_TARGETS")
    with pytest.raises(TargetError, match="twice"):
        parse_targets(["tcp:9.9.9.9:53", "tcp:9.9.9.9:53"])
    monkeypatch.delenv("CONNECTIVITY_TARGETS")
    assert len(parse_targets(env_targets("CONNECTIVITY_TARGETS"))) == 5  # the defaults


def test_check_interval_is_a_whole_number_of_minutes_dividing_the_hour(monkeypatch):
    assert [check_cron(m) for m in (1, 5, 15, 60)] == [
        "* * * * *",
        "*/5 * * * *",
        "*/15 * * * *",
        "0 * * * *",
    ]
    for bad in ("0", "61", "7", "2.5", "five"):
        monkeypatch.setenv("CONNECTIVITY_CHECK_INTERVAL_MINUTES", bad)
        with pytest.raises(ImproperlyConfigured, match="CONNECTIVITY_CHECK_INTERVAL_MINUTES"):
            env_interval_minutes("CONNECTIVITY_CHECK_INTERVAL_MINUTES", 5)
    monkeypatch.setenv("CONNECTIVITY_CHECK_INTERVAL_MINUTES", "10")
    assert env_interval_minutes("CONNECTIVITY_CHECK_INTERVAL_MINUTES", 5) == 10


@pytest.mark.django_db
def test_the_check_is_a_periodic_task(settings):
    from django_q.models import Schedule

    from netmon.schedules import ensure_schedules

    ensure_schedules()
    schedule = Schedule.objects.get(name="netmon: connectivity")
    assert schedule.func == "connectivity.tasks.check_connectivity"
    assert schedule.cron == "*/5 * * * *"


# --- Probes -----------------------------------------------------------------------------


def test_each_step_is_probed_and_timed(servers, fake_dns):
    ok, failing, _ = servers
    failing.set_default(Reply(500))
    fake_dns["svc.test"] = "127.0.0.1"
    port = ok.url.rsplit(":", 1)[1]
    closed = closed_port()
    targets = parse_targets(
        [
            target(ok),
            target(failing),
            f"http://127.0.0.1:{closed}/",
            f"tcp:svc.test:{port}",
            "dns:svc.test",
            "dns:missing.test",
        ]
    )
    results = {r.target: r for r in probe_all(targets, timeout=2.0)}

    good = results[target(ok)]
    assert good.ok and good.http_status == 200 and good.dns_ms is None
    assert good.tcp_ms is not None and good.http_ms is not None and good.latency_ms is not None
    assert ok.requests[0].method == "GET" and ok.requests[0].path == "/"

    server_error = results[target(failing)]
    assert not server_error.ok
    assert (server_error.failed_step, server_error.error) == ("http", "HTTP 500")

    refused = results[f"http://127.0.0.1:{closed}/"]
    assert (refused.failed_step, refused.error) == ("tcp", "connection refused")
    assert refused.http_status is None

    tcp = results[f"tcp:svc.test:{port}"]
    assert tcp.ok and tcp.dns_ms is not None and tcp.address == "127.0.0.1"

    assert results["dns:svc.test"].ok
    missing = results["dns:missing.test"]
    assert missing.failed_step == "dns" and "not resolved" in missing.error


def test_a_hanging_target_never_stalls_the_check(servers, fake_dns):
    ok, hanging, _ = servers
    hanging.set_default(Reply(hang=True))
    fake_dns["stuck.test"] = "hang"  # a resolver that never answers
    targets = parse_targets([target(ok), target(hanging), "dns:stuck.test"])
    started = time.monotonic()
    results = {r.target: r for r in probe_all(targets, timeout=1.0)}
    elapsed = time.monotonic() - started

    assert elapsed < 1.0 + 0.6
    assert results[target(ok)].ok
    stuck_http = results[target(hanging)]
    assert stuck_http.failed_step == "http" and stuck_http.tcp_ms is not None
    stuck_dns = results["dns:stuck.test"]
    assert stuck_dns.failed_step == "dns"
    assert stuck_dns.error == "DNS lookup did not finish within 1 s"


def test_the_default_targets_are_never_contacted_by_tests():
    """The guard of these tests at work: public names and addresses fail at once."""
    defaults = parse_targets(env_targets("NETMON_TEST_UNSET_VARIABLE"))
    results = probe_all(defaults, timeout=1.0)
    assert [r.failed_step for r in results] == ["tcp", "dns", "dns", "tcp", "tcp"]
    assert {r.error.split(" (")[0] for r in results} == {"connection refused", "name not resolved"}


def test_the_link_is_down_only_when_more_than_the_share_fails():
    assert link_is_up(2, 5, 50) and not link_is_up(3, 5, 50)
    assert link_is_up(2, 4, 50) and not link_is_up(3, 4, 50)
    assert link_is_up(0, 3, 0) and not link_is_up(1, 3, 0)
    assert link_is_up(4, 5, 99) and not link_is_up(5, 5, 99)


# --- Outages ----------------------------------------------------------------------------


def kinds() -> list[str]:
    return list(Alert.objects.order_by("id").values_list("kind", flat=True))


@pytest.fixture
def three_targets(link_settings, servers):
    link_settings.CONNECTIVITY_TARGETS = [target(server) for server in servers]
    return servers


@pytest.mark.django_db
def test_link_up_is_recorded_with_each_target(three_targets):
    all_up(three_targets)
    check, event = run_check(minutes(0))
    assert (check.link_up, event, check.targets_failed) == (True, "", 0)
    stored = ConnectivityCheck.objects.get()
    assert stored.checked_at == T0 and stored.summary == "3 of 3 targets reachable"
    assert [r["target"] for r in stored.results] == [target(s) for s in three_targets]
    assert all(r["ok"] and r["latency_ms"] is not None for r in stored.results)
    assert LinkState.load().link_up is True and not Outage.objects.exists() and kinds() == []


@pytest.mark.django_db
def test_one_flaky_target_opens_no_outage(three_targets):
    all_up(three_targets)
    three_targets[2].set_default(Reply(503))
    for i in range(5):
        check, event = run_check(minutes(5 * i))
        assert check.link_up and event == ""
    assert not Outage.objects.exists() and kinds() == []
    assert "1 of 3 targets failed" in ConnectivityCheck.objects.first().summary


@pytest.mark.django_db
def test_one_failed_check_opens_no_outage(three_targets):
    majority_down(three_targets)
    assert run_check(minutes(0))[1] == ""
    all_up(three_targets)
    assert run_check(minutes(5))[1] == ""
    assert not Outage.objects.exists() and kinds() == []


@pytest.mark.django_db
def test_outage_opens_after_consecutive_failures_and_closes_with_its_duration(three_targets):
    all_up(three_targets)
    run_check(minutes(-5))
    majority_down(three_targets)
    assert run_check(minutes(0))[1] == ""  # one failed check: not yet
    assert run_check(minutes(5))[1] == "opened"
    assert run_check(minutes(10))[1] == ""  # still the same outage
    outage = Outage.objects.get()
    assert outage.started_at == T0 and outage.opened_at == minutes(5) and outage.ongoing
    assert outage.failed_checks == 3
    assert sorted(e["target"] for e in outage.failing_targets) == sorted(
        target(s) for s in three_targets[1:]
    )
    assert outage.failing_targets[0] == {
        "target": target(three_targets[1]),
        "failures": 3,
        "error": "HTTP: HTTP 503",
    }
    assert ConnectivityCheck.objects.filter(outage=outage).count() == 3
    assert alert_outages(minutes(10)) == 1  # the monitor loop's step
    assert kinds() == ["outage_started"]
    started = Alert.objects.get()
    assert started.title == "Internet down since 14:02 UTC" and started.severity == "error"
    assert started.url.endswith(f"/admin/connectivity/outage/{outage.pk}/change/")

    all_up(three_targets)
    assert run_check(minutes(35))[1] == "closed"
    outage.refresh_from_db()
    assert outage.ended_at == minutes(35) and outage.duration() == timedelta(minutes=35)
    assert alert_outages(minutes(35)) == 1
    assert kinds() == ["outage_started", "outage_ended"]
    ended = Alert.objects.get(kind="outage_ended")
    assert ended.title == "Internet was down 14:02–14:37 UTC (35 min)"
    assert ended.severity == "info"
    assert dict(ended.fields)["Duration"] == "35 min"
    assert "HTTP 503" in dict(ended.fields)["Failing targets"]
    state = LinkState.load()
    assert state.open_outage is None and state.link_up is True
    assert run_check(minutes(40))[1] == ""
    assert alert_outages(minutes(40)) == 0
    assert kinds() == ["outage_started", "outage_ended"]


@pytest.mark.django_db
def test_the_thresholds_are_configurable(three_targets, settings):
    three_targets[0].set_default(Reply(500))
    three_targets[1].set_default(Reply(500))
    three_targets[2].set_default(Reply(200))
    settings.CONNECTIVITY_FAILURES_TO_OPEN = 1
    settings.CONNECTIVITY_SUCCESSES_TO_CLOSE = 2
    assert run_check(minutes(0))[1] == "opened"
    all_up(three_targets)
    assert run_check(minutes(5))[1] == ""  # one success is not enough
    three_targets[0].set_default(Reply(500))
    three_targets[1].set_default(Reply(500))
    assert run_check(minutes(10))[1] == ""  # down again: the streak starts over
    all_up(three_targets)
    assert run_check(minutes(15))[1] == ""
    assert run_check(minutes(20))[1] == "closed"
    outage = Outage.objects.get()
    assert (outage.started_at, outage.ended_at) == (minutes(0), minutes(15))
    assert outage.failed_checks == 2
    settings.CONNECTIVITY_DOWN_PERCENT = 0  # now any failure is too many
    three_targets[2].set_default(Reply(500))
    assert run_check(minutes(25))[0].link_up is False


@pytest.mark.django_db
def test_closing_gives_hosts_a_full_period_to_report_again(three_targets, make_host):
    host, _ = make_host("remote", frequency_seconds=60, grace_seconds=120)
    Host.objects.filter(pk=host.pk).update(
        status="up", last_heartbeat_at=minutes(0), next_deadline=minutes(3)
    )
    majority_down(three_targets)
    run_check(minutes(0))
    run_check(minutes(5))
    all_up(three_targets)
    run_check(minutes(10))
    host.refresh_from_db()
    assert host.status == "up"
    # as if it had sent a heartbeat when the link came back: + frequency + grace
    assert host.next_deadline == minutes(10) + timedelta(seconds=60 + 120)


@pytest.mark.django_db
def test_the_task_checks_and_can_be_switched_off(three_targets, settings):
    all_up(three_targets)
    assert check_connectivity() == {
        "link_up": True,
        "summary": "3 of 3 targets reachable",
        "outage": None,
    }
    settings.CONNECTIVITY_ENABLED = False
    assert "skipped" in check_connectivity()
    assert ConnectivityCheck.objects.count() == 1


@pytest.mark.django_db
def test_old_checks_and_outages_are_pruned(settings):
    settings.CONNECTIVITY_CHECK_KEEP_DAYS = 30
    settings.STATUS_HISTORY_KEEP_DAYS = 400
    now = timezone.now()
    for days in (31, 29):
        ConnectivityCheck.objects.create(
            checked_at=now - timedelta(days=days), link_up=True, targets_total=1, targets_failed=0
        )
    old = Outage.objects.create(
        started_at=now - timedelta(days=402),
        opened_at=now - timedelta(days=402),
        ended_at=now - timedelta(days=401),
    )
    ongoing = Outage.objects.create(
        started_at=now - timedelta(days=500), opened_at=now - timedelta(days=500)
    )
    assert prune_connectivity(now) == {"connectivity_checks": 1, "outages": 1}
    assert ConnectivityCheck.objects.count() == 1
    assert list(Outage.objects.all()) == [ongoing] and old.pk not in Outage.objects.values("pk")

    from netmon.tasks import cleanup

    assert {"connectivity_checks", "outages"} <= set(cleanup())


# --- Uptime and health ------------------------------------------------------------------


@pytest.mark.django_db
def test_uptime_comes_from_the_outage_records():
    now = timezone.now()
    assert uptime_summary(now) == {"24h": None, "7d": None, "30d": None}
    LinkState.objects.create(pk=1, first_check_at=now - timedelta(days=2))
    Outage.objects.create(
        started_at=now - timedelta(hours=30),
        opened_at=now - timedelta(hours=30),
        ended_at=now - timedelta(hours=23),  # 1 h of it inside the last 24 h
    )
    Outage.objects.create(started_at=now - timedelta(minutes=36), opened_at=now)  # ongoing
    uptime = uptime_summary(now)
    assert uptime["24h"] == pytest.approx(100 * (1 - (3600 + 36 * 60) / 86400), abs=0.01)
    # monitored for 2 days only: 7 d and 30 d count from the first check
    assert uptime["7d"] == uptime["30d"]
    assert uptime["7d"] == pytest.approx(100 * (1 - (7 * 3600 + 36 * 60) / (2 * 86400)), abs=0.01)


@pytest.mark.django_db
def test_health_reports_the_link_without_making_it_critical(three_targets):
    assert link_health() == (True, "no connectivity check yet")
    all_up(three_targets)
    run_check()
    _, report = health_report()
    entry = report["checks"]["connectivity"]
    assert entry["ok"] is True and entry["critical"] is False
    assert entry["detail"].startswith("link up; checked")
    majority_down(three_targets)
    run_check()
    run_check()
    _, report = health_report()
    outage = Outage.objects.get()
    assert report["checks"]["connectivity"] == {
        "ok": False,
        "detail": f"internet outage since {outage.started_at:%Y-%m-%d %H:%M} UTC",
        "critical": False,
    }
    ok, detail = link_health(timezone.now() + timedelta(hours=1))
    assert ok is False and "no connectivity check in the last" not in detail  # outage first
    Outage.objects.all().delete()
    ok, detail = link_health(timezone.now() + timedelta(hours=1))
    assert ok is False and detail.startswith("no connectivity check in the last 10 min")


# --- API --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_status_before_any_check(api):
    response = api.get("/api/v1/connectivity/status")
    assert response.status_code == 200
    body = response.json()
    assert body["link"] == "unknown" and body["stale"] is True
    assert body["last_check"] is None and body["open_outage"] is None
    assert body["uptime"] == {"24h": None, "7d": None, "30d": None}
    assert body["check_interval_minutes"] == 5


@pytest.mark.django_db
def test_status_during_an_outage(api, three_targets):
    majority_down(three_targets)
    run_check()
    run_check()
    body = api.get("/api/v1/connectivity/status").json()
    assert body["link"] == "down" and body["stale"] is False
    assert body["failure_streak"] == 2
    assert body["open_outage"]["ongoing"] is True
    assert body["open_outage"]["ended_at"] is None
    assert body["open_outage"]["duration_seconds"] >= 0
    assert body["last_check"]["targets_failed"] == 2
    assert {r["target"] for r in body["last_check"]["results"]} == set(body["targets"])
    assert body["uptime"]["24h"] < 100


@pytest.mark.django_db
def test_checks_list_filters_and_pages(api, three_targets):
    all_up(three_targets)
    for i in range(3):
        run_check(minutes(5 * i))
    majority_down(three_targets)
    run_check(minutes(15))

    body = api.get("/api/v1/connectivity/checks?limit=2").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]
    assert body["results"][0]["checked_at"] == "2026-03-02T14:17:00Z"  # newest first
    result = body["results"][0]["results"][1]
    assert set(result) >= {"target", "ok", "dns_ms", "tcp_ms", "http_ms", "latency_ms", "error"}

    window = api.get(
        "/api/v1/connectivity/checks",
        {"since": "2026-03-02T14:05:00Z", "until": "2026-03-02T14:15:00Z"},
    ).json()
    assert [c["checked_at"] for c in window["results"]] == [
        "2026-03-02T14:12:00Z",
        "2026-03-02T14:07:00Z",
    ]
    down = api.get("/api/v1/connectivity/checks?link=down").json()
    assert down["count"] == 1 and down["results"][0]["link_up"] is False
    detail = api.get(f"/api/v1/connectivity/checks/{down['results'][0]['id']}")
    assert detail.status_code == 200


@pytest.mark.django_db
def test_outages_list_selects_overlapping_ones(api):
    def outage(start_minute, end_minute):
        return Outage.objects.create(
            started_at=minutes(start_minute),
            opened_at=minutes(start_minute + 5),
            ended_at=None if end_minute is None else minutes(end_minute),
            failed_checks=2,
            failing_targets=[{"target": "tcp:9.9.9.9:53", "failures": 2, "error": "TCP: x"}],
        )

    outage(0, 35)
    outage(100, 110)
    outage(200, None)
    body = api.get("/api/v1/connectivity/outages").json()
    assert body["count"] == 3
    first = body["results"][2]
    assert first["duration_seconds"] == 35 * 60 and first["ongoing"] is False
    assert first["failing_targets"][0]["target"] == "tcp:9.9.9.9:53"
    overlapping = api.get(
        "/api/v1/connectivity/outages",
        {"since": minutes(30).isoformat(), "until": minutes(105).isoformat()},
    ).json()
    assert [o["started_at"] for o in overlapping["results"]] == [
        "2026-03-02T15:42:00Z",
        "2026-03-02T14:02:00Z",
    ]
    ongoing = api.get("/api/v1/connectivity/outages?ongoing=true").json()
    assert ongoing["count"] == 1 and ongoing["results"][0]["ended_at"] is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/connectivity/checks?since=yesterday",
        "/api/v1/connectivity/checks?until=2026-13-40T00:00:00Z",
        "/api/v1/connectivity/checks?link=sideways",
        "/api/v1/connectivity/outages?since=2026-03-02T15:00:00Z&until=2026-03-02T14:00:00Z",
        "/api/v1/connectivity/outages?ongoing=maybe",
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, path):
    response = api.get(path)
    assert response.status_code == 400
    field = path.split("?")[1].split("=")[0]
    assert field in response.json() or "until" in response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["status", "checks", "outages"])
def test_the_endpoints_need_an_api_key(anonymous, read_key, path):
    response = anonymous.get(f"/api/v1/connectivity/{path}")
    assert response.status_code in (401, 403)
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert reader.get(f"/api/v1/connectivity/{path}").status_code == 200
    assert reader.post(f"/api/v1/connectivity/{path}", {}).status_code in (403, 405)


@pytest.mark.django_db
def test_the_endpoints_are_in_the_api_schema(api):
    schema = api.get("/api/v1/schema?format=json").json()
    assert {"/api/v1/connectivity/status", "/api/v1/connectivity/checks"} <= set(schema["paths"])


# --- The command --------------------------------------------------------------------------


@pytest.mark.django_db
def test_command_prints_each_target_and_the_verdict(three_targets, capsys):
    all_up(three_targets)
    three_targets[2].set_default(Reply(502))
    call_command("check_connectivity")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split() == ["TARGET", "DNS", "TCP", "HTTP", "LATENCY", "ERROR"]
    first = lines[1].split()
    assert first[0] == target(three_targets[0]) and first[1] == "-" and first[4] == "200"
    assert "FAIL" in lines[3] and "HTTP 502" in lines[3]
    assert "Link UP: 1 of 3 targets failed (down when more than 50 % fail)" in out
    assert "Recorded." in out
    assert ConnectivityCheck.objects.count() == 1


@pytest.mark.django_db
def test_command_exits_non_zero_when_the_link_is_down(three_targets, capsys):
    majority_down(three_targets)
    with pytest.raises(CommandError, match="the link is down"):
        call_command("check_connectivity", "--dry-run")
    out = capsys.readouterr().out
    assert "Link DOWN: 2 of 3 targets failed" in out and "Not recorded (--dry-run)" in out
    assert not ConnectivityCheck.objects.exists()
    with pytest.raises(CommandError):
        call_command("check_connectivity")
    with pytest.raises(CommandError):
        call_command("check_connectivity")
    assert "Recorded: an outage was opened." in capsys.readouterr().out
    assert kinds() == []  # the monitor loop alerts it
    assert alert_outages(timezone.now()) == 1 and kinds() == ["outage_started"]


@pytest.mark.django_db
def test_admin_pages_show_checks_and_outages(client, admin_user, three_targets):
    majority_down(three_targets)
    run_check(minutes(0))
    run_check(minutes(5))
    client.force_login(admin_user)
    check = ConnectivityCheck.objects.first()
    outage = Outage.objects.get()
    for url in (
        "/admin/connectivity/connectivitycheck/",
        f"/admin/connectivity/connectivitycheck/{check.pk}/change/",
        "/admin/connectivity/outage/",
        f"/admin/connectivity/outage/{outage.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/connectivity/connectivitycheck/{check.pk}/change/").content
    assert b"HTTP 503" in page and target(three_targets[1]).encode() in page
    assert client.get("/admin/connectivity/outage/add/").status_code == 403
