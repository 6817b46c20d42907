"""Missed-heartbeat detection, recovery, flapping, reminders, gaps: through the sweep."""

from datetime import datetime, timedelta

import pytest
import time_machine

from alerts.models import Alert, Channel
from hosts.alerting import end_flapping, send_due_reminders
from hosts.models import Host, StatusChange
from tests.monitoring_support import alert_events, sweep_and_alert

pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat("2026-03-02T10:00:00+00:00")


def beat(client, host_id, token):
    response = client.post(f"/api/v1/heartbeat/{host_id}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    return response


def at(seconds: float):
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


def kinds() -> list[str]:
    return list(Alert.objects.order_by("id").values_list("kind", flat=True))


@pytest.fixture
def up_host(client, make_host):
    with at(0):
        host, token = make_host("web01", frequency_seconds=60, grace_seconds=30)
        beat(client, "web01", token)
    return host, token


def test_host_goes_down_once_after_deadline(up_host):
    with at(89.9):
        assert sweep_and_alert(T0 + timedelta(seconds=89.9)) == []
    with at(90):
        assert sweep_and_alert(T0 + timedelta(seconds=90)) == ["web01"]
    with at(91):
        assert sweep_and_alert(T0 + timedelta(seconds=91)) == []
    host = Host.objects.get()
    assert host.status == "down"
    assert kinds() == ["host_down"]
    alert = Alert.objects.get()
    assert alert.title == "WEB01 is down" and alert.severity == "error"
    assert dict(alert.fields)["Expected every"] == "1 min"
    assert StatusChange.objects.filter(to_status="down").count() == 1


def test_late_is_shown_between_expected_time_and_deadline(up_host, api):
    with at(70):
        assert api.get("/api/v1/hosts/web01").json()["status"] == "late"
        sweep_and_alert(T0 + timedelta(seconds=70))
    assert Host.objects.get().status == "up"
    assert kinds() == []


def test_recovery_sends_one_notice_with_downtime(up_host, client):
    _, token = up_host
    with at(90):
        sweep_and_alert(T0 + timedelta(seconds=90))
    with at(90 + 750):
        beat(client, "web01", token)
    with at(90 + 760):
        beat(client, "web01", token)
        assert kinds() == ["host_down"]  # the recovery is an event: the next cycle alerts it
        assert alert_events() == 1
    assert kinds() == ["host_down", "host_up"]
    recovery = Alert.objects.get(kind="host_up")
    assert dict(recovery.fields)["Downtime"] == "12 min"
    assert Host.objects.get().status == "up"


def test_no_alert_for_new_or_paused_hosts(client, make_host):
    make_host("never-seen", frequency_seconds=60, grace_seconds=0)
    paused, token = make_host("paused", frequency_seconds=60, grace_seconds=0)
    with at(0):
        beat(client, "paused", token)
    paused.refresh_from_db()
    paused.pause()
    with at(3600):
        assert sweep_and_alert(T0 + timedelta(seconds=3600)) == []
    assert kinds() == []


def test_a_resumed_host_that_stays_silent_is_alerted_one_period_after_the_resume(up_host):
    host, _ = up_host
    with at(10):
        host.pause()
    with at(3600):
        assert sweep_and_alert(T0 + timedelta(seconds=3600)) == []
        host.resume()
    host.refresh_from_db()
    assert host.status == "up" and host.next_deadline == T0 + timedelta(seconds=3600 + 90)
    with at(3689):
        assert sweep_and_alert(T0 + timedelta(seconds=3689)) == []
    with at(3690):
        assert sweep_and_alert(T0 + timedelta(seconds=3690)) == ["web01"]
    assert kinds() == ["host_down"]  # the pause and the resume alert nothing


def test_a_resumed_host_that_reports_is_not_alerted(up_host, client):
    host, token = up_host
    with at(10):
        host.pause()
    with at(3600):
        host.resume()
    with at(3660):
        beat(client, "web01", token)
    with at(3600 + 10**4):
        sweep_and_alert(T0 + timedelta(seconds=3600 + 100))
    assert kinds() == []
    assert Host.objects.get().status == "up"


def test_a_host_paused_before_its_first_heartbeat_resumes_as_new(client, make_host):
    host, _ = make_host("fresh", frequency_seconds=60, grace_seconds=30)
    host.pause()
    host.resume()
    host.refresh_from_db()
    assert host.status == "new" and host.next_deadline is None


def test_flapping_host_is_reported_once_then_muted(client, make_host, settings):
    settings.FLAP_THRESHOLD = 4
    settings.FLAP_WINDOW_SECONDS = 3600
    settings.FLAP_QUIET_SECONDS = 600
    _, token = make_host("flappy", frequency_seconds=60, grace_seconds=0)
    clock = 0
    with at(clock):
        beat(client, "flappy", token)
    for _ in range(5):
        clock += 61
        with at(clock):
            sweep_and_alert(T0 + timedelta(seconds=clock))
        clock += 1
        with at(clock):
            beat(client, "flappy", token)
    assert kinds() == ["host_down", "host_up", "host_down", "host_flapping"]
    assert Host.objects.get().flapping_since is not None
    # quiet for long enough: one "stable again" notice
    with at(clock + 500):
        assert end_flapping(T0 + timedelta(seconds=clock + 500)) == 0
    with at(clock + 601):
        beat(client, "flappy", token)
    with at(clock + 1300):
        assert end_flapping(T0 + timedelta(seconds=clock + 1300)) == 1
    assert kinds()[-1] == "host_stable"
    assert Host.objects.get().flapping_since is None


def test_reminders_until_acknowledged(up_host, api, settings):
    settings.REMINDER_INTERVAL_SECONDS = 3600
    Channel.objects.create(name="Ops", kind="webhook", url="http://127.0.0.1:9/hook")
    with at(90):
        sweep_and_alert(T0 + timedelta(seconds=90))
    with at(90 + 3599):
        assert send_due_reminders(T0 + timedelta(seconds=90 + 3599)) == 0
    with at(90 + 3600):
        assert send_due_reminders(T0 + timedelta(seconds=90 + 3600)) == 1
    with at(90 + 7200):
        assert send_due_reminders(T0 + timedelta(seconds=90 + 7200)) == 1
    assert kinds() == ["host_down", "host_reminder", "host_reminder"]
    down = Alert.objects.get(kind="host_down")
    assert api.post(f"/api/v1/alerts/{down.pk}/ack").status_code == 200
    with at(90 + 20000):
        assert send_due_reminders(T0 + timedelta(seconds=90 + 20000)) == 0


def test_reminders_are_off_by_default(up_host):
    with at(90):
        sweep_and_alert(T0 + timedelta(seconds=90))
    with at(10**6):
        assert send_due_reminders(T0 + timedelta(seconds=10**6)) == 0


def test_a_heartbeat_racing_the_sweep_wins(up_host, client):
    """The sweep's update is conditional: a host that just reported is not flipped."""
    _, token = up_host
    stale = Host.objects.get()
    with at(80):
        beat(client, "web01", token)
    assert Host.objects.mark_down(stale, T0 + timedelta(seconds=95)) is None
    assert Host.objects.get().status == "up"
    assert kinds() == []


def test_status_history_api_with_uptime_and_downtimes(up_host, client, api):
    _, token = up_host
    with at(90):
        sweep_and_alert(T0 + timedelta(seconds=90))
    with at(90 + 600):
        beat(client, "web01", token)
    with at(3600):
        data = api.get("/api/v1/hosts/web01/status-history").json()
    assert data["status"] == "late"  # last heartbeat at 690 s, expected every 60 s
    assert [(c["from_status"], c["to_status"]) for c in data["changes"]] == [
        ("down", "up"),
        ("up", "down"),
        ("new", "up"),
    ]
    assert data["downtimes"] == [
        {"start": "2026-03-02T10:01:30Z", "end": "2026-03-02T10:11:30Z", "duration_seconds": 600}
    ]
    # monitored for 3600 s, down 600 s of it
    assert data["uptime"]["24h"] == pytest.approx(100 * (1 - 600 / 3600), abs=0.01)
    with at(3600):
        assert api.get("/api/v1/hosts/web01/status-history?since=nonsense").status_code == 400


def test_ongoing_downtime_has_no_end(up_host, api):
    with at(90):
        sweep_and_alert(T0 + timedelta(seconds=90))
    with at(1000):
        data = api.get("/api/v1/hosts/web01/status-history").json()
    assert data["downtimes"][0]["end"] is None
    assert data["downtimes"][0]["duration_seconds"] == 910


def sweep_at(iso: str) -> list[str]:
    moment = datetime.fromisoformat(iso)
    with time_machine.travel(moment, tick=False):
        return sweep_and_alert(moment)


def test_business_hours_host_is_not_alerted_at_night_across_dst(client, make_host, settings):
    """US clocks spring forward on Sunday 2026-03-08: Monday 08:00 is 12:00 UTC, not 13:00."""
    settings.BUSINESS_HOURS_START = datetime.strptime("08:00", "%H:%M").time()
    settings.BUSINESS_HOURS_END = datetime.strptime("18:00", "%H:%M").time()
    settings.BUSINESS_HOURS_DAYS = (1, 2, 3, 4, 5)
    with time_machine.travel("2026-03-06T22:58:00Z", tick=False):  # Friday 17:58 EST
        _, token = make_host(
            "office",
            frequency_seconds=300,
            grace_seconds=60,
            schedule_type="business_hours",
            timezone="America/New_York",
        )
        beat(client, "office", token)
    for night in (
        "2026-03-06T23:30:00+00:00",
        "2026-03-07T15:00:00+00:00",
        "2026-03-09T11:59:00+00:00",
        "2026-03-09T12:05:59+00:00",
    ):
        assert sweep_at(night) == [], night
    assert sweep_at("2026-03-09T12:06:00+00:00") == ["office"]
    assert kinds() == ["host_down"]


def test_cron_host_across_the_autumn_dst_change(client, make_host):
    """Berlin falls back on Sunday 2026-10-25: Monday 09:00 CET is 08:00 UTC."""
    with time_machine.travel("2026-10-23T07:00:30Z", tick=False):  # Friday 09:00 CEST
        _, token = make_host(
            "backup",
            grace_seconds=600,
            schedule_type="custom",
            cron_expression="0 9 * * 1-5",
            timezone="Europe/Berlin",
        )
        beat(client, "backup", token)
    assert sweep_at("2026-10-24T12:00:00+00:00") == []  # no run on Saturday
    assert sweep_at("2026-10-26T08:09:59+00:00") == []
    assert sweep_at("2026-10-26T08:10:00+00:00") == ["backup"]
