"""A host's maximum run time (``max_run_seconds``): a run that takes longer is alerted once,
as a warning, whether it finishes over the limit or the sweep finds it still running past
it; the host stays up. Through the real ping URLs (Django's test client) on a travelling
clock (time_machine).

Several monitors and a finish racing on PostgreSQL: the threads test at the end."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from alerts.models import Alert
from heartbeats.models import Run
from hosts.alerting import alert_status_changes
from hosts.choices import HostStatus
from hosts.config_io import apply_import, export_hosts, plan_import
from hosts.models import Host, LongRun
from hosts.sweep import sweep
from tests import processes

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ADD = "/api/v1/config/hosts"


def fresh(host: Host) -> Host:
    return Host.objects.get(pk=host.pk)


@pytest.fixture
def job(make_host):
    """An up job host: hourly, 2 h of grace for a run, at most 10 min per run."""
    with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
        host, _ = make_host(
            "backup", frequency_seconds=3600, grace_seconds=7200, max_run_seconds=600
        )
        token = host.rotate_ping_token()
        host.receive_heartbeat(timezone.now())
    return fresh(host), token


def ping(client, token: str, path: str = "", at: datetime = T0, **query) -> None:
    with time_machine.travel(at, tick=False):
        response = client.get(f"/ping/{token}{path}", query)
    assert response.status_code == 200, response.content


def monitor_cycle(at: datetime) -> None:
    """The monitor loop's sweep and event step at ``at``."""
    with time_machine.travel(at, tick=False):
        sweep(timezone.now())
        alert_status_changes(timezone.now())


def long_run_alerts() -> list[Alert]:
    return list(Alert.objects.filter(kind="run_too_long").order_by("id"))


def test_a_run_finishing_over_the_limit_is_alerted_once_as_a_warning(client, job):
    host, token = job
    ping(client, token, "/start", T0)
    monitor_cycle(T0 + timedelta(minutes=9))
    assert not long_run_alerts()

    ping(client, token, "/0", T0 + timedelta(minutes=9, seconds=50))  # within: nothing
    monitor_cycle(T0 + timedelta(minutes=11))
    assert not long_run_alerts() and not LongRun.objects.exists()

    ping(client, token, "/start", T0 + timedelta(minutes=20))
    # Finished before the sweep looked at it, 12 min later: over the limit.
    ping(client, token, "", T0 + timedelta(minutes=32))
    assert fresh(host).status == HostStatus.UP
    monitor_cycle(T0 + timedelta(minutes=33))
    monitor_cycle(T0 + timedelta(minutes=34))

    [alert] = long_run_alerts()
    assert (alert.severity, alert.title) == ("warning", "BACKUP ran too long")
    assert "took 12 min, longer than its maximum of 10 min" in alert.description
    fields = dict(alert.fields)
    assert (fields["Took"], fields["Maximum run time"]) == ("12 min", "10 min")
    assert fresh(host).status == HostStatus.UP
    assert not Alert.objects.exclude(kind="run_too_long").exists()  # no down, no recovery


def test_a_run_still_open_past_the_limit_is_alerted_by_the_sweep_and_not_again(client, job):
    host, token = job
    ping(client, token, "/start", T0, rid="nightly-1")
    assert fresh(host).run_limit_at == T0 + timedelta(minutes=10)

    monitor_cycle(T0 + timedelta(minutes=9, seconds=59))
    assert not LongRun.objects.exists()
    monitor_cycle(T0 + timedelta(minutes=10, seconds=1))
    monitor_cycle(T0 + timedelta(minutes=15))  # the claim was taken: not found again

    [alert] = long_run_alerts()
    assert alert.title == "BACKUP is still running after 10 min"
    assert dict(alert.fields)["Run id"] == "nightly-1"
    assert fresh(host).status == HostStatus.UP and fresh(host).run_limit_at is None

    # Its finish, over the limit, is the same run: no second alert.
    ping(client, token, "/0", T0 + timedelta(minutes=25), rid="nightly-1")
    monitor_cycle(T0 + timedelta(minutes=26))
    assert len(long_run_alerts()) == 1
    run = Run.objects.get(host=host)
    assert run.duration_seconds == 25 * 60 and not run.failed

    # The next run starts its own count.
    ping(client, token, "/start", T0 + timedelta(minutes=60), rid="nightly-2")
    monitor_cycle(T0 + timedelta(minutes=71))
    assert len(long_run_alerts()) == 2


def test_a_failed_run_over_the_limit_is_down_and_too_long(client, job):
    host, token = job
    ping(client, token, "/start", T0)
    ping(client, token, "/3", T0 + timedelta(minutes=30))
    monitor_cycle(T0 + timedelta(minutes=31))
    kinds = sorted(Alert.objects.values_list("kind", flat=True))
    assert kinds == ["host_down", "run_too_long"]
    assert fresh(host).status == HostStatus.DOWN


def test_the_grace_deadline_comes_first_when_shorter_than_the_limit(client, make_host):
    with time_machine.travel(T0 - timedelta(minutes=5), tick=False):
        host, _ = make_host("sync", grace_seconds=300, max_run_seconds=600)
        token = host.rotate_ping_token()
    ping(client, token, "/start", T0)
    monitor_cycle(T0 + timedelta(minutes=6))  # started but never finished: down
    monitor_cycle(T0 + timedelta(minutes=11))
    assert fresh(host).status == HostStatus.DOWN and fresh(host).run_limit_at is None
    assert not long_run_alerts()


def test_no_limit_paused_hosts_and_plain_heartbeats_alert_nothing(client, job, make_host):
    host, token = job
    ping(client, token, "", T0)  # no run: the limit does not apply
    with time_machine.travel(T0, tick=False):
        other, _ = make_host("nolimit", grace_seconds=7200)
        other_token = other.rotate_ping_token()
    ping(client, other_token, "/start", T0)
    ping(client, other_token, "", T0 + timedelta(hours=1))
    assert fresh(other).run_limit_at is None

    host.pause()
    ping(client, token, "/start", T0 + timedelta(minutes=1))
    assert fresh(host).run_limit_at is None
    monitor_cycle(T0 + timedelta(minutes=30))
    ping(client, token, "", T0 + timedelta(minutes=40))
    monitor_cycle(T0 + timedelta(minutes=41))
    assert not long_run_alerts() and not LongRun.objects.exists()


def test_limits_passed_while_heartbeats_cannot_reach_us_wait(client, job):
    _, token = job
    ping(client, token, "/start", T0)
    with time_machine.travel(T0 + timedelta(minutes=12), tick=False):
        sweep(timezone.now(), hold_after=T0 + timedelta(minutes=5))
    assert not LongRun.objects.exists()
    monitor_cycle(T0 + timedelta(minutes=13))
    assert len(long_run_alerts()) == 1


def test_the_limit_is_set_by_the_api_the_yaml_file_and_refused_when_bad(api, make_host):
    make_host("db01")
    response = api.patch("/api/v1/hosts/db01", {"max_run_seconds": 900}, format="json")
    assert response.status_code == 200 and response.json()["max_run_seconds"] == 900
    for bad in (0, -5, "soon", 10**9):
        response = api.patch("/api/v1/hosts/db01", {"max_run_seconds": bad}, format="json")
        assert response.status_code == 400 and "max_run_seconds" in response.json()
    assert Host.objects.get(host_id="db01").max_run_seconds == 900

    exported = export_hosts(Host.objects.all())
    assert "max_run_seconds: 900" in exported
    apply_import(plan_import("hosts:\n- {host_id: db01, name: DB01, max_run_seconds: null}\n"))
    assert Host.objects.get(host_id="db01").max_run_seconds is None
    apply_import(plan_import(exported))
    assert Host.objects.get(host_id="db01").max_run_seconds == 900
    with pytest.raises(Exception, match="max_run_seconds: Expected a whole number or null"):
        plan_import('hosts:\n- {host_id: db01, name: DB01, max_run_seconds: "600"}\n')

    response = api.patch("/api/v1/hosts/db01", {"max_run_seconds": None}, format="json")
    assert response.status_code == 200 and response.json()["max_run_seconds"] is None


def test_the_add_form_takes_an_optional_limit(client, administrator_user):
    client.force_login(administrator_user)
    form = {
        "name": "Nightly",
        "frequency_seconds": "86400",
        "grace_seconds": "3600",
        "schedule_type": "always",
        "cron_expression": "",
        "timezone": "UTC",
        "notes": "",
        "paused": "false",
    }
    html = client.get("/api/v1/config").content.decode()
    assert '<label for="add-max_run_seconds">Maximum run time (seconds)</label>' in html
    assert 'id="add-max_run_seconds" name="max_run_seconds" type="number"' in html
    for host_id, limit in (("n1", ""), ("n2", "5400")):
        response = client.post(ADD, {**form, "host_id": host_id, "max_run_seconds": limit})
        assert response.status_code == 200 and "registered" in response.content.decode()
    response = client.post(ADD, {**form, "host_id": "n3", "max_run_seconds": "0"})
    html = response.content.decode()
    assert response.status_code == 400 and 'id="add-e-max_run_seconds"' in html
    limits = dict(Host.objects.values_list("host_id", "max_run_seconds"))
    assert limits == {"n1": None, "n2": 5400}


@pytest.mark.django_db(transaction=True)
def test_monitors_and_a_finish_racing_write_and_alert_one_event(client, make_host):
    if not processes.tests_use_postgres():
        pytest.skip("concurrent writers need PostgreSQL (SQLite has a single writer lock)")
    tokens = {}
    for number in range(20):
        host, _ = make_host(f"job{number:02}", grace_seconds=7200, max_run_seconds=60)
        tokens[host.host_id] = host.rotate_ping_token()
        ping(client, tokens[host.host_id], "/start", T0)
    later = T0 + timedelta(minutes=5)
    start = threading.Barrier(5)

    def monitor() -> None:
        try:
            start.wait()
            for _ in range(2):
                sweep(timezone.now())
                alert_status_changes(timezone.now())
        finally:
            connections.close_all()

    def finisher() -> None:
        try:
            start.wait()
            for token in tokens.values():
                assert client.get(f"/ping/{token}").status_code == 200
        finally:
            connections.close_all()

    threads = [threading.Thread(target=monitor) for _ in range(4)]
    threads.append(threading.Thread(target=finisher))
    # One clock for every thread: time_machine's travel is process-wide.
    with time_machine.travel(later, tick=False):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    monitor_cycle(later + timedelta(seconds=2))
    assert connection.vendor == "postgresql"
    assert LongRun.objects.count() == 20
    assert Alert.objects.filter(kind="run_too_long").values("host").distinct().count() == 20
    assert Alert.objects.filter(kind="run_too_long").count() == 20
    assert not Run.objects.filter(finished_at__isnull=True).exists()
