"""Times netmon could not receive heartbeats never alert hosts: through the monitor cycle.

The process-level proof (real ``serve`` stopped and started) is tests/test_restart_alerts.py;
these drive ``run_cycle`` with a travelling clock, and the web server's state through the
state file ``serve`` writes for its children.
"""

import json
from datetime import datetime, timedelta

import pytest
import time_machine

from alerts.models import Alert
from hosts.models import Host, MonitorState, ReceptionGap
from hosts.reception import ReceptionWatch
from netmon.management.commands.monitor import run_cycle
from netmon.supervisor import STATE_VARIABLE

pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat("2026-03-02T10:00:00+00:00")


def at(seconds: float):
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


def moment(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def host(client, make_host) -> Host:
    """Up since t=0, every 10 s with 5 s of grace: its deadline is t=15."""
    host, token = make_host("web01", frequency_seconds=10, grace_seconds=5)
    with at(0):
        response = client.post("/api/v1/heartbeat/web01", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    return host


def last_sweep(seconds: float) -> None:
    MonitorState.objects.update_or_create(pk=1, defaults={"last_sweep_at": moment(seconds)})


def deadline() -> datetime:
    return Host.objects.get().next_deadline


@pytest.mark.parametrize("stopped_for", [5, 30, 120, 86400])
def test_a_restart_of_any_length_gives_a_fresh_period_instead_of_an_alert(host, stopped_for):
    last_sweep(12)  # netmon stopped at t=12; the deadline (t=15) passed while it was away
    back = 12 + stopped_for
    with at(back):
        outcome = run_cycle(ReceptionWatch())
    assert outcome["marked_down"] == [] and outcome["postponed"] == 1
    assert deadline() == moment(back + 15)  # as if a heartbeat had come at the restart
    gap = ReceptionGap.objects.get()
    assert (gap.started_at, gap.ended_at, gap.cause) == (moment(12), moment(back), "not_running")
    assert gap.hosts_rescheduled == 1
    assert not Alert.objects.exists()


def test_a_host_silent_before_the_restart_is_alerted_one_period_after_it(host):
    last_sweep(12)
    watch = ReceptionWatch()
    with at(42):
        run_cycle(watch)
    with at(56.9):
        assert run_cycle(watch)["marked_down"] == []
    with at(57):
        assert run_cycle(watch)["marked_down"] == ["web01"]
    assert list(Alert.objects.values_list("kind", flat=True)) == ["host_down"]


def test_a_host_already_overdue_before_the_stop_is_not_forgiven(host):
    last_sweep(20)  # the monitor ran past the deadline (t=15) before it stopped
    Host.objects.filter(pk=host.pk).update(next_deadline=moment(15))
    with at(60):
        assert run_cycle(ReceptionWatch())["marked_down"] == ["web01"]


def test_a_second_monitor_joining_a_running_one_sees_no_gap(host):
    last_sweep(14.5)  # another loop swept half a second ago
    with at(15):
        assert run_cycle(ReceptionWatch())["marked_down"] == ["web01"]
    assert not ReceptionGap.objects.exists()


def test_a_running_loop_counts_a_long_pause_between_cycles_but_not_a_slow_cycle(host):
    watch = ReceptionWatch()
    with at(10):
        run_cycle(watch)
    with at(25):  # 15 s since the last cycle: a slow cycle, not netmon away
        assert run_cycle(watch)["marked_down"] == ["web01"]
    Host.objects.filter(pk=host.pk).update(status="up", next_deadline=moment(40))
    with at(100):  # 75 s: the process was stopped (or the machine slept)
        assert run_cycle(watch)["marked_down"] == []
    assert ReceptionGap.objects.get().cause == "not_running"


def write_state(path, web_running: bool, last_exit_at: datetime | None = None) -> None:
    web = {"running": web_running, "restarts": 1, "last_exit": "was killed by SIGKILL"}
    web["last_exit_at"] = last_exit_at.isoformat() if last_exit_at else None
    path.write_text(json.dumps({"pid": 1, "children": {"web": web}}))


def test_while_the_web_server_is_down_deadlines_wait_and_then_restart(host, tmp_path, monkeypatch):
    state = tmp_path / "state.json"
    monkeypatch.setenv(STATE_VARIABLE, str(state))
    watch = ReceptionWatch()
    write_state(state, web_running=True)
    with at(5):
        run_cycle(watch)
    write_state(state, web_running=False, last_exit_at=moment(8))
    for second in (
        9,
        15,
        16,
        30,
        45,
        60,
        75,
        80,
    ):  # the deadline (t=15) passes while nobody can report
        with at(second):
            assert run_cycle(watch)["marked_down"] == []
    write_state(state, web_running=True)
    with at(81):
        run_cycle(watch)
    assert deadline() == moment(81 + 15)
    gap = ReceptionGap.objects.get()
    assert (gap.started_at, gap.ended_at, gap.cause) == (moment(8), moment(81), "web_down")
    with at(96):
        assert run_cycle(watch)["marked_down"] == ["web01"]  # really silent: alerted


def test_a_database_outage_is_a_gap_from_the_first_failed_cycle(host):
    watch = ReceptionWatch()
    with at(5):
        run_cycle(watch)
    watch.cycle_failed(moment(6))  # the loop's DatabaseError path
    watch.cycle_failed(moment(10))
    with at(20):
        assert run_cycle(watch)["marked_down"] == []
    gap = ReceptionGap.objects.get()
    assert (gap.started_at, gap.ended_at, gap.cause) == (moment(6), moment(20), "database")
    assert deadline() == moment(35)


def test_a_gap_leaves_down_paused_and_new_hosts_as_they_are(host, make_host):
    make_host("new01", frequency_seconds=10, grace_seconds=5)
    with at(16):
        assert run_cycle(ReceptionWatch())["marked_down"] == ["web01"]
    last_sweep(16)
    with at(60):
        assert run_cycle(ReceptionWatch())["postponed"] == 0
    assert dict(Host.objects.values_list("host_id", "status")) == {"new01": "new", "web01": "down"}
    assert ReceptionGap.objects.get().hosts_rescheduled == 0
