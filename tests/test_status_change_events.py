"""Host transitions are events (``StatusChange`` rows) that the monitor's event step turns
into alerts once, in order; nothing is alerted from inside the transition.

Several monitors claiming the same events on PostgreSQL: the threads test below, and the
process-level tests/test_scale_out.py (two real monitor loops, every silent host alerted
exactly once).
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from alerts.models import Alert
from hosts.alerting import alert_status_changes
from hosts.choices import HostStatus
from hosts.models import Host, StatusChange
from hosts.sweep import sweep
from tests.processes import tests_use_postgres as suite_on_postgres


def overdue(make_host, host_id: str) -> Host:
    host, _ = make_host(host_id, frequency_seconds=60, grace_seconds=0)
    host.receive_heartbeat(timezone.now() - timedelta(minutes=5))
    return host


@pytest.mark.django_db
def test_a_transition_writes_an_event_and_alerts_nothing_by_itself(make_host):
    overdue(make_host, "web01")
    assert sweep(timezone.now()) == ["web01"]
    down = StatusChange.objects.get(to_status=HostStatus.DOWN)
    assert down.alerted_at is None and down.previous_since is not None
    assert not Alert.objects.exists()

    now = timezone.now()
    assert alert_status_changes(now) == 2  # the first heartbeat (no alert) and the flip
    assert list(Alert.objects.values_list("kind", flat=True)) == ["host_down"]
    assert StatusChange.objects.filter(alerted_at=now).count() == 2
    assert alert_status_changes(timezone.now()) == 0  # handled: never again
    assert Alert.objects.count() == 1


@pytest.mark.django_db
def test_the_recovery_alert_says_how_long_the_host_was_down(make_host):
    host = overdue(make_host, "web01")
    down_at = timezone.now() - timedelta(minutes=3)
    Host.objects.mark_down(host, down_at)
    host.refresh_from_db()
    host.receive_heartbeat(down_at + timedelta(minutes=2))
    alert_status_changes(timezone.now())
    assert list(Alert.objects.order_by("id").values_list("kind", flat=True)) == [
        "host_down",
        "host_up",
    ]
    assert dict(Alert.objects.get(kind="host_up").fields)["Downtime"] == "2 min"


@pytest.mark.django_db
def test_events_are_alerted_in_the_order_they_happened(make_host):
    host = overdue(make_host, "web01")
    start = timezone.now() - timedelta(minutes=4)
    Host.objects.mark_down(host, start)
    host.refresh_from_db()
    host.receive_heartbeat(start + timedelta(minutes=1))
    Host.objects.filter(pk=host.pk).update(next_deadline=start + timedelta(minutes=2))
    host.refresh_from_db()
    Host.objects.mark_down(host, start + timedelta(minutes=2))
    alert_status_changes(timezone.now())
    kinds = list(Alert.objects.order_by("id").values_list("kind", flat=True))
    assert kinds == ["host_down", "host_up", "host_down"]


@pytest.mark.django_db
def test_a_host_deleted_before_its_event_is_handled_alerts_nothing(make_host):
    host = overdue(make_host, "web01")
    sweep(timezone.now())
    host.delete()
    assert alert_status_changes(timezone.now()) == 0
    assert not Alert.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_monitors_claiming_events_at_once_alert_each_once(make_host):
    if not suite_on_postgres():
        pytest.skip("concurrent writers need PostgreSQL (SQLite has a single writer lock)")
    for i in range(40):
        overdue(make_host, f"host{i:02}")
    assert len(sweep(timezone.now())) == 40
    start = threading.Barrier(4)

    def monitor() -> None:
        try:
            start.wait()
            alert_status_changes(timezone.now())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=monitor) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert connection.vendor == "postgresql"
    assert Alert.objects.filter(kind="host_down").count() == 40
    assert Alert.objects.values("host").distinct().count() == 40
    assert not StatusChange.objects.filter(alerted_at__isnull=True).exists()
