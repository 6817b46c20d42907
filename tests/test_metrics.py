"""``GET /metrics``: who may read it, its format, and figures that match the database."""

import sys
import types
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from alerts.choices import AlertKind, AlertState, ChannelKind, DeliveryState
from alerts.models import Alert, Channel, Delivery
from heartbeats.models import Heartbeat
from hosts.models import Host
from netmon import metrics, monitor_stats
from tests.monitoring_support import sweep_and_alert
from tests.processes import manage, process_env

ALLOW_TEN = override_settings(METRICS_ALLOWED_IPS=["10.0.0.0/8"])


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    monitor_stats.reset_for_tests()
    yield
    cache.clear()
    monitor_stats.reset_for_tests()


def scrape(client: Client | None = None, key: str | None = None, **extra):
    client = client or Client()
    if key:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return client.get("/metrics", **extra)


def parse(response) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a 200 answer."""
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def series(samples, name: str) -> dict[tuple, float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


# Access ------------------------------------------------------------------------------------


def test_without_a_key_is_401(db):
    response = scrape()

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"netmon_" not in response.content


def test_a_wrong_key_is_401_even_from_an_allowed_address(db, read_key):
    with ALLOW_TEN:
        response = scrape(key=read_key[:-3] + "xyz", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 401


def test_read_and_write_keys_may_read(db, read_key, write_key):
    assert scrape(key=read_key).status_code == 200
    assert scrape(key=write_key).status_code == 200


@ALLOW_TEN
def test_an_allowed_address_needs_no_key(db):
    assert scrape(REMOTE_ADDR="10.20.30.40").status_code == 200


@ALLOW_TEN
def test_another_address_is_403_unless_it_sends_a_key(db, read_key):
    assert scrape(REMOTE_ADDR="192.168.1.10").status_code == 403
    assert scrape(REMOTE_ADDR="192.168.1.10", key=read_key).status_code == 200


@override_settings(METRICS_ALLOWED_IPS=["192.168.1.5/32", "fd00::/8"])
def test_single_addresses_ipv6_and_ipv4_mapped_addresses(db):
    assert scrape(REMOTE_ADDR="192.168.1.5").status_code == 200
    assert scrape(REMOTE_ADDR="192.168.1.6").status_code == 403
    assert scrape(REMOTE_ADDR="fd00::1").status_code == 200
    assert scrape(REMOTE_ADDR="::ffff:192.168.1.5").status_code == 200
    assert scrape(REMOTE_ADDR="not-an-address").status_code == 403


@override_settings(METRICS_ALLOWED_IPS=["10.0.0.0/8"], NETMON_TRUST_X_FORWARDED_FOR=True)
def test_behind_a_proxy_the_last_forwarded_address_counts(db):
    # The client may write anything in front; the proxy appends the address it saw.
    assert (
        scrape(REMOTE_ADDR="172.17.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 10.0.0.9").status_code
        == 200
    )
    assert (
        scrape(REMOTE_ADDR="172.17.0.1", HTTP_X_FORWARDED_FOR="10.0.0.9, 6.6.6.6").status_code
        == 403
    )


@ALLOW_TEN
def test_forwarded_addresses_are_ignored_unless_behind_a_proxy(db):
    assert scrape(REMOTE_ADDR="172.17.0.1", HTTP_X_FORWARDED_FOR="10.0.0.9").status_code == 403


def test_only_get(db, read_key):
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {read_key}")

    assert response.status_code == 405


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "[]"), ("10.0.0.0/8, 192.168.1.5", "['10.0.0.0/8', '192.168.1.5/32']")],
)
def test_allowed_ips_setting(tmp_path, value, expected):
    env = process_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", METRICS_ALLOWED_IPS=value)
    code = "from django.conf import settings; print(settings.METRICS_ALLOWED_IPS)"
    result = manage("shell", "--no-imports", "-c", code, env=env)

    assert result.stdout.strip().splitlines()[-1] == expected


def test_a_bad_allowed_ips_value_stops_start_up(tmp_path):
    env = process_env(
        tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}", METRICS_ALLOWED_IPS="10.0.0.0/33"
    )
    result = manage("check", env=env, check=False)

    assert result.returncode != 0
    assert "ImproperlyConfigured: METRICS_ALLOWED_IPS=" in result.stderr.strip().splitlines()[-1]


# Format ------------------------------------------------------------------------------------


def test_prometheus_text_format(db, read_key):
    response = scrape(key=read_key)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert "# HELP netmon_hosts " in text
    assert "# TYPE netmon_heartbeats_received_total counter" in text
    parse(response)  # parses, without duplicate series


def test_openmetrics_when_asked_for(db, read_key):
    response = scrape(key=read_key, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")

    assert response["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert response.content.decode().endswith("# EOF\n")


def test_a_failing_part_is_reported_and_the_rest_still_served(db, read_key, monkeypatch):
    def broken(self):
        raise RuntimeError("broker unreachable")

    monkeypatch.setattr(metrics.NetmonCollector, "tasks", broken)

    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_metrics_collector_success", collector="tasks") == 0
    assert value(samples, "netmon_metrics_collector_success", collector="hosts") == 1
    assert ("netmon_task_queue_length", ()) not in samples
    assert ("netmon_hosts", (("status", "up"),)) in samples


# Figures -----------------------------------------------------------------------------------


def make_up(make_host, host_id: str, heartbeat_ago: float, **fields) -> Host:
    host, _ = make_host(host_id, frequency_seconds=300, grace_seconds=60, **fields)
    host.receive_heartbeat(timezone.now() - timedelta(seconds=heartbeat_ago))
    return host


@pytest.fixture
def landscape(make_host):
    """Hosts in every state, a down one alerted, and two channels with deliveries in each state."""
    discord = Channel.objects.create(
        name="ops discord", kind=ChannelKind.DISCORD, url="https://discord.example/api/webhooks/1/x"
    )
    hook = Channel.objects.create(
        name="pager",
        kind=ChannelKind.WEBHOOK,
        url="https://pager.example/hook",
        consecutive_failures=3,
        broken_at=timezone.now(),
        broken_reason="404",
    )
    make_host("new1")
    make_host("new2")
    for i in range(3):
        make_up(make_host, f"up{i}", heartbeat_ago=10)
    make_up(make_host, "late1", heartbeat_ago=320)  # past 300 s, inside the 60 s grace
    for i in range(2):
        make_up(make_host, f"down{i}", heartbeat_ago=400)
    make_up(make_host, "paused1", heartbeat_ago=10).pause()
    marked = sweep_and_alert(timezone.now())
    assert sorted(marked) == ["down0", "down1"]
    # One of the down alerts went out to Discord, the other failed twice and waits.
    first, second = Delivery.objects.filter(channel=discord).order_by("alert__host__host_id")
    first.state, first.attempts, first.sent_at = DeliveryState.SENT, 1, timezone.now()
    first.save()
    second.attempts = 2
    second.save()
    Delivery.objects.filter(channel=hook).update(state=DeliveryState.FAILED, attempts=1)
    for alert in Alert.objects.all():
        alert.refresh_state()
    return discord, hook


def test_hosts_by_state(landscape, read_key):
    samples = parse(scrape(key=read_key))

    assert series(samples, "netmon_hosts") == {
        (("status", "new"),): 2,
        (("status", "up"),): 3,
        (("status", "late"),): 1,
        (("status", "down"),): 2,
        (("status", "paused"),): 1,
    }
    assert value(samples, "netmon_hosts_overdue") == 0
    assert value(samples, "netmon_sweep_lag_seconds") == 0


def test_overdue_hosts_and_sweep_lag(make_host, read_key):
    for i in range(2):
        make_up(make_host, f"late{i}", heartbeat_ago=300 + 60 + 30 + i * 10)  # 30, 40 s overdue

    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_hosts_overdue") == 2
    assert 40 <= value(samples, "netmon_sweep_lag_seconds") < 45

    sweep_and_alert(timezone.now())
    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_hosts_overdue") == 0
    assert value(samples, "netmon_sweep_lag_seconds") == 0


def test_alerts_and_deliveries_per_channel(landscape, read_key):
    discord, hook = landscape

    samples = parse(scrape(key=read_key))

    # down0: sent to Discord, failed on the pager; down1: failed on the pager, Discord pending
    assert value(samples, "netmon_alerts", kind=AlertKind.HOST_DOWN, state=AlertState.FAILED) == 1
    assert value(samples, "netmon_alerts", kind=AlertKind.HOST_DOWN, state=AlertState.PENDING) == 1
    assert value(samples, "netmon_alerts", kind=AlertKind.HOST_UP, state=AlertState.PENDING) == 0
    assert sum(series(samples, "netmon_alerts").values()) == Alert.objects.count() == 2
    ops = {"channel": "ops discord", "channel_id": str(discord.pk), "kind": "discord"}
    pager = {"channel": "pager", "channel_id": str(hook.pk), "kind": "webhook"}
    assert value(samples, "netmon_alert_backlog", **ops) == 1
    assert value(samples, "netmon_alert_deliveries_retrying", **ops) == 1
    assert 0 <= value(samples, "netmon_alert_backlog_oldest_seconds", **ops) < 60
    assert value(samples, "netmon_alert_deliveries_sent", **ops) == 1
    assert value(samples, "netmon_alert_delivery_failures", **ops) == 0
    assert value(samples, "netmon_alert_channel_broken", **ops) == 0
    assert value(samples, "netmon_alert_backlog", **pager) == 0
    assert value(samples, "netmon_alert_backlog_oldest_seconds", **pager) == 0
    assert value(samples, "netmon_alert_delivery_failures", **pager) == 2
    assert value(samples, "netmon_alert_channel_broken", **pager) == 1
    assert value(samples, "netmon_alert_channel_consecutive_failures", **pager) == 3
    assert value(samples, "netmon_alert_channel_enabled", **pager) == 1


def test_heartbeats_received_counts_pruned_ones_too(make_host, read_key):
    host = make_up(make_host, "web01", heartbeat_ago=5)
    beats = [Heartbeat.objects.create(host=host) for _ in range(5)]

    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_heartbeats_received_total") == beats[-1].pk
    assert value(samples, "netmon_last_heartbeat_timestamp_seconds") == pytest.approx(
        beats[-1].received_at.timestamp()
    )

    Heartbeat.objects.exclude(pk=beats[-1].pk).delete()  # retention pruned the older ones

    assert value(parse(scrape(key=read_key)), "netmon_heartbeats_received_total") == beats[-1].pk


def test_build_info_and_task_queue(db, read_key):
    samples = parse(scrape(key=read_key))

    [(labels, one)] = series(samples, "netmon_build_info").items()
    assert one == 1
    assert dict(labels)["task_broker"] == "orm"
    assert dict(labels)["database"] in ("sqlite", "postgresql")
    assert value(samples, "netmon_task_queue_length") == 0
    assert value(samples, "netmon_task_clusters") == 0


def test_a_monitor_loop_reports_its_cycles(db, read_key):
    call_command("monitor", "--once")
    call_command("monitor", "--once")  # same process: counted, not written (5 s window)

    samples = parse(scrape(key=read_key))

    [loop] = [
        dict(labels)["loop"] for labels in series(samples, "netmon_monitor_cycle_last_seconds")
    ]
    assert loop == monitor_stats.loop_id()
    assert value(samples, "netmon_monitor_loops") == 1
    assert value(samples, "netmon_monitor_cycle_duration_seconds_count", loop=loop) == 1
    assert value(samples, "netmon_monitor_cycle_duration_seconds_sum", loop=loop) > 0
    assert value(samples, "netmon_monitor_failed_cycles_total", loop=loop) == 0
    assert value(samples, "netmon_monitor_last_sweep_timestamp_seconds") == pytest.approx(
        timezone.now().timestamp(), abs=30
    )


def test_monitor_statistics_of_several_loops_and_failed_cycles(db, read_key, monkeypatch):
    monitor_stats.record_cycle(0.25, {"marked_down": ["a", "b"]})
    monkeypatch.setattr(monitor_stats, "loop_id", lambda: "other-machine:7")
    monitor_stats.record_cycle(0.5, None)

    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_monitor_loops") == 2
    mine = {"loop": f"{__import__('socket').gethostname()}:{__import__('os').getpid()}"}
    other = {"loop": "other-machine:7"}
    assert value(samples, "netmon_monitor_hosts_marked_down_total", **mine) == 2
    assert value(samples, "netmon_monitor_cycle_last_seconds", **mine) == 0.25
    assert value(samples, "netmon_monitor_failed_cycles_total", **other) == 1
    assert value(samples, "netmon_monitor_cycle_max_seconds", **other) == 0.5


def test_a_cache_failure_never_stops_the_loop(monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(monitor_stats.cache, "set", down)

    monitor_stats.record_cycle(0.1, {"marked_down": []})  # does not raise


def test_query_count_does_not_grow_with_hosts_or_channels(make_host, read_key):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            parse(scrape(key=read_key))
        return len(captured.captured_queries)

    make_up(make_host, "first", heartbeat_ago=10)
    Channel.objects.create(name="one", kind=ChannelKind.WEBHOOK, url="https://x.example/h")
    scrape(key=read_key)  # the key's last use is recorded once a minute, not on every scrape
    few = queries()
    for i in range(30):
        make_up(make_host, f"h{i:02d}", heartbeat_ago=10)
    for i in range(5):
        Channel.objects.create(name=f"c{i}", kind=ChannelKind.WEBHOOK, url="https://x.example/h")

    assert queries() == few <= 25


# Apps built separately ---------------------------------------------------------------------


def test_apps_not_installed_add_nothing(db, read_key, settings):
    installed = [app for app in metrics.OPTIONAL_APPS if app in settings.INSTALLED_APPS]
    samples = parse(scrape(key=read_key))

    for label in metrics.OPTIONAL_APPS:
        assert value(samples, "netmon_metrics_collector_success", collector=label) == 1
        if label not in installed:
            assert not any(name.startswith(f"netmon_{label}_") for name, _ in samples)


def test_an_installed_app_may_provide_its_own_metrics(db, monkeypatch):
    module = types.ModuleType("hosts.metrics")

    def collect():
        yield GaugeMetricFamily("netmon_hosts_custom", "from the app", value=7)

    module.collect = collect
    monkeypatch.setitem(sys.modules, "hosts.metrics", module)

    [family] = list(metrics.optional_app("hosts"))

    assert family.name == "netmon_hosts_custom"


def test_otherwise_its_rows_are_counted_by_state(landscape):
    [family] = list(metrics.optional_app("alerts"))

    counted = {tuple(s.labels.values()): s.value for s in family.samples}
    assert family.name == "netmon_alerts_records"
    assert counted[("alert", "state", "failed")] == 1
    assert counted[("alert", "state", "pending")] == 1
    assert counted[("delivery", "state", "sent")] == 1
    assert counted[("channel", "", "")] == 2


def test_connectivity_state_when_installed(db, read_key):
    from django.apps import apps

    outage = apps.get_model("connectivity", "Outage").objects.create(
        started_at=timezone.now() - timedelta(minutes=5), opened_at=timezone.now()
    )
    apps.get_model("connectivity", "LinkState").objects.create(
        pk=1, link_up=False, last_check_at=timezone.now(), failure_streak=4, open_outage=outage
    )

    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_connectivity_link_up") == 0
    assert value(samples, "netmon_connectivity_failure_streak") == 4
    assert value(samples, "netmon_connectivity_outages", state="ongoing") == 1
    assert value(samples, "netmon_connectivity_outage_started_timestamp_seconds") == (
        pytest.approx(outage.started_at.timestamp())
    )


def test_analysis_runs_findings_and_sources_when_installed(make_host, read_key):
    from django.apps import apps

    host, _ = make_host("fw01")
    other, _ = make_host("fw02")
    run = apps.get_model("analysis", "AnalysisRun")
    runs = [run.objects.create(host=host, status=status) for status in ("ok", "ok", "failed")]
    finding = apps.get_model("analysis", "Finding")
    for i, severity in enumerate(["high", "high", "low"]):
        finding.objects.create(
            host=host, fingerprint=f"f{i}", category="ssh", severity=severity, title="t"
        )
    source = apps.get_model("analysis", "LogSource")
    source.objects.create(host=host, ssh_host="fw01", failure_streak=2)
    source.objects.create(host=other, ssh_host="fw02", enabled=False)

    samples = parse(scrape(key=read_key))

    assert value(samples, "netmon_analysis_runs_total") == runs[-1].pk
    assert value(samples, "netmon_analysis_runs_kept", status="ok") == 2
    assert value(samples, "netmon_analysis_runs_kept", status="failed") == 1
    assert value(samples, "netmon_analysis_findings", severity="high") == 2
    assert value(samples, "netmon_analysis_sources", state="failing") == 1
    assert value(samples, "netmon_analysis_sources", state="disabled") == 1
    assert value(samples, "netmon_analysis_sources", state="ok") == 0
