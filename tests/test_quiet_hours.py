"""Quiet hours per channel: alerts below the channel's threshold wait for their end and
then go out together; critical ones pass at once; the period is on the channel's clock."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import transaction
from fakes import RecordingServer, Reply

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.delivery import dispatch_due
from alerts.models import Channel, Delivery
from alerts.outbox import queue_alert
from alerts.quiet_hours import quiet_end

BERLIN = ZoneInfo("Europe/Berlin")
NIGHT = (time(22), time(7))


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("moment", "period", "expected"),
    [
        (berlin(2026, 6, 1, 21, 59), NIGHT, None),
        (berlin(2026, 6, 1, 22, 0), NIGHT, berlin(2026, 6, 2, 7, 0)),
        (berlin(2026, 6, 1, 23, 30), NIGHT, berlin(2026, 6, 2, 7, 0)),
        (berlin(2026, 6, 2, 3, 0), NIGHT, berlin(2026, 6, 2, 7, 0)),
        (berlin(2026, 6, 2, 7, 0), NIGHT, None),
        (berlin(2026, 6, 2, 12, 0), (time(12), time(13)), berlin(2026, 6, 2, 13, 0)),
        (berlin(2026, 6, 2, 13, 0), (time(12), time(13)), None),
        (berlin(2026, 6, 2, 11, 59), (time(12), time(13)), None),
        # The night the clocks go forward (02:00 → 03:00): 02:30 does not exist, the
        # period ends just after the gap, at 03:30 CEST.
        (berlin(2026, 3, 29, 1, 0), (time(22), time(2, 30)), berlin(2026, 3, 29, 3, 30)),
        # The night they go back: seven hours of wall clock are eight real ones.
        (berlin(2026, 10, 24, 23, 0), NIGHT, berlin(2026, 10, 25, 7, 0)),
    ],
)
def test_the_end_of_the_quiet_period(moment, period, expected):
    assert quiet_end(moment, *period, BERLIN) == expected


def test_a_moment_in_utc_is_read_on_the_channels_clock():
    # 21:30 UTC is 23:30 in Berlin in summer: inside 22:00–07:00 there, not in UTC.
    moment = datetime(2026, 6, 1, 21, 30, tzinfo=ZoneInfo("UTC"))
    assert quiet_end(moment, *NIGHT, BERLIN) == berlin(2026, 6, 2, 7, 0)
    assert quiet_end(moment, *NIGHT, ZoneInfo("UTC")) is None


@pytest.fixture
def phone(settings, db):
    settings.DISCORD_WEBHOOK_URL = ""
    with RecordingServer(Reply(200)) as server:
        Channel.objects.create(
            name="Phone",
            kind=ChannelKind.WEBHOOK,
            url=f"{server.url}/push",
            quiet_from=time(22),
            quiet_until=time(7),
            quiet_timezone="Europe/Berlin",
            quiet_min_severity=Severity.CRITICAL,
        )
        Channel.objects.create(name="Archive", kind=ChannelKind.WEBHOOK, url=f"{server.url}/all")
        yield server


def queue(severity: str, title: str) -> None:
    with transaction.atomic():
        queue_alert(AlertKind.SYSTEM, severity, title)


def titles(requests, path: str) -> list[list[str]]:
    """The alerts each message to ``path`` carried, in order."""
    return [
        [alert["title"] for alert in request.json()["alerts"]]
        for request in requests
        if request.path == path
    ]


@pytest.mark.django_db(transaction=True)
def test_the_night_is_held_until_morning_and_critical_passes(phone):
    with time_machine.travel(berlin(2026, 6, 1, 23, 0), tick=False):
        queue(Severity.ERROR, "disk 90 %")
        queue(Severity.CRITICAL, "core switch down")
        queue(Severity.WARNING, "backup slow")
        dispatch_due()
    assert titles(phone.requests, "/push") == [["core switch down"]]
    assert titles(phone.requests, "/all") == [["disk 90 %", "core switch down", "backup slow"]]
    held = Delivery.objects.filter(channel__name="Phone", state="pending")
    assert {d.next_attempt_at for d in held} == {berlin(2026, 6, 2, 7, 0)}

    with time_machine.travel(berlin(2026, 6, 2, 6, 59), tick=False):
        dispatch_due()
    assert len(titles(phone.requests, "/push")) == 1

    with time_machine.travel(berlin(2026, 6, 2, 7, 0, 1), tick=False):
        dispatch_due()
    assert titles(phone.requests, "/push") == [
        ["core switch down"],
        ["disk 90 %", "backup slow"],
    ]
    assert not Delivery.objects.filter(state="pending").exists()


@pytest.mark.django_db(transaction=True)
def test_outside_quiet_hours_everything_goes_at_once(phone):
    with time_machine.travel(berlin(2026, 6, 1, 12, 0), tick=False):
        queue(Severity.INFO, "host back up")
        dispatch_due()
    assert titles(phone.requests, "/push") == [["host back up"]]
