"""Reminder intervals per channel: each channel is reminded of a host still down at its
own pace, an acknowledgement stops all of them, a channel can opt out."""

from datetime import datetime, timedelta

import pytest
import time_machine

from alerts.choices import AlertKind
from alerts.models import Alert, Channel, Delivery
from hosts.alerting import send_due_reminders
from tests.monitoring_support import sweep_and_alert

pytestmark = pytest.mark.django_db

T0 = datetime.fromisoformat("2026-03-02T10:00:00+00:00")
DOWN_AT = 90  # seconds after T0: the host's deadline (60 s + 30 s grace)


def at(seconds: float):
    return time_machine.travel(T0 + timedelta(seconds=seconds), tick=False)


def channel(name: str, interval: int | None, **rules) -> Channel:
    return Channel.objects.create(
        name=name,
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        reminder_interval_seconds=interval,
        **rules,
    )


def goes_down(client, make_host, **host_fields) -> str:
    """A host that sent one heartbeat at T0 and is marked down at DOWN_AT; its token."""
    with at(0):
        _, token = make_host("nas01", frequency_seconds=60, grace_seconds=30, **host_fields)
        response = client.post("/api/v1/heartbeat/nas01", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200
    with at(DOWN_AT):
        assert sweep_and_alert(T0 + timedelta(seconds=DOWN_AT)) == ["nas01"]
    return token


def remind_until(seconds: int, step: int = 60) -> None:
    """Run the reminder step as the monitor would, every ``step`` seconds."""
    for moment in range(DOWN_AT + step, DOWN_AT + seconds + 1, step):
        with at(moment):
            send_due_reminders(T0 + timedelta(seconds=moment))


def reminders_per_channel() -> dict[str, list[int]]:
    """Each channel's reminders, as seconds after the host went down."""
    found: dict[str, list[int]] = {}
    deliveries = Delivery.objects.filter(alert__kind=AlertKind.HOST_REMINDER).order_by(
        "alert__created_at"
    )
    for delivery in deliveries.select_related("alert", "channel"):
        offset = (delivery.alert.created_at - T0).total_seconds() - DOWN_AT
        found.setdefault(delivery.channel.name, []).append(int(offset))
    return found


def test_each_channel_is_reminded_at_its_own_interval(settings, make_host, client):
    settings.REMINDER_INTERVAL_SECONDS = 3600
    channel("Phone", 600)
    channel("Team chat", None)  # the global interval
    channel("Log archive", 0)  # no reminders
    goes_down(client, make_host)

    remind_until(7200)

    assert reminders_per_channel() == {
        "Phone": list(range(600, 7201, 600)),
        "Team chat": [3600, 7200],
    }
    # Where both were due at once, one alert went to both.
    assert Alert.objects.filter(kind=AlertKind.HOST_REMINDER).count() == 12


def test_reminders_follow_the_routes_of_the_host(settings, make_host, client):
    settings.REMINDER_INTERVAL_SECONDS = 0
    channel("Lab phone", 300, tags=["lab"], default=False)
    channel("Everyone else", 300)  # a default channel: the lab tag chose another
    goes_down(client, make_host, tags=["lab"])

    remind_until(900)

    assert reminders_per_channel() == {"Lab phone": [300, 600, 900]}


def test_reminders_stop_when_the_host_is_back(settings, make_host, client):
    settings.REMINDER_INTERVAL_SECONDS = 300
    channel("Phone", None)
    token = goes_down(client, make_host)
    remind_until(600)
    with at(DOWN_AT + 650):
        response = client.post("/api/v1/heartbeat/nas01", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert response.status_code == 200

    remind_until(1800)

    assert reminders_per_channel() == {"Phone": [300, 600]}


def test_an_acknowledgement_stops_reminders_on_every_channel(settings, client, make_host, api):
    settings.REMINDER_INTERVAL_SECONDS = 0
    channel("Phone", 300)
    channel("Chat", 900)
    goes_down(client, make_host)
    remind_until(900)
    assert reminders_per_channel() == {"Phone": [300, 600, 900], "Chat": [900]}

    down = Alert.objects.get(kind=AlertKind.HOST_DOWN)
    with at(DOWN_AT + 950):
        assert api.post(f"/api/v1/alerts/{down.pk}/ack").status_code == 200
    remind_until(3600)

    assert reminders_per_channel() == {"Phone": [300, 600, 900], "Chat": [900]}


def test_a_channel_with_its_own_interval_reminds_while_the_global_one_is_off(
    settings, client, make_host
):
    settings.REMINDER_INTERVAL_SECONDS = 0
    channel("Phone", 1200)
    channel("Chat", None)
    goes_down(client, make_host)

    remind_until(3600)

    assert reminders_per_channel() == {"Phone": [1200, 2400, 3600]}
