"""A channel outage and its end, against the fake Discord, with an injected clock.

The deliverer's waits (probe intervals, ``retry_after``, Discord's spacing, the monitor's
cycle) are skipped by the clock, while what takes real time — HTTP requests, the
timeouts of hanging ones, the database — still counts: minutes of outage run in seconds,
and every time measured below is the time the deliverer itself lives by.
"""

from itertools import pairwise

import pytest
from django.db import transaction
from fakes import FakeDiscord
from fakes.outage import Phase, PhasedDiscord

from alerts.choices import AlertKind, Severity
from alerts.delivery import claim_due_channels, deliver_channel
from alerts.models import Alert, Channel, Delivery
from alerts.outbox import queue_alert
from tests.delivery_support import WarpClock, run_monitor

pytestmark = pytest.mark.django_db(transaction=True)

TOLERANCE = 0.5  # real time a request and its bookkeeping may take


def queue_alerts(count: int) -> None:
    for i in range(count):
        with transaction.atomic():
            queue_alert(AlertKind.SYSTEM, Severity.ERROR, f"alert {i}")


@pytest.fixture
def clock() -> WarpClock:
    return WarpClock()


@pytest.fixture
def outage(settings, clock):
    """Discord failing 500 for 2 min, then 429 with retry_after 3 s, then hanging."""
    settings.DISCORD_MESSAGE_SPACING_SECONDS = 2.0  # production's value: it costs no time here

    def start(hang_seconds: float) -> PhasedDiscord:
        phases = [
            Phase("500", 120, FakeDiscord.server_error(500)),
            Phase("429", 15, FakeDiscord.rate_limited(3.0)),
            Phase("hang", hang_seconds, FakeDiscord.hang()),
        ]
        server = PhasedDiscord(clock, phases).start()
        settings.DISCORD_WEBHOOK_URL = server.webhook_url
        return server

    servers = []
    yield lambda hang_seconds: servers.append(start(hang_seconds)) or servers[-1]
    for server in servers:
        server.stop()


# Hang phases of different lengths end at different points of a hanging probe's timeout.
@pytest.mark.parametrize("hang_seconds", [12.0, 13.3])
def test_500_then_429_then_hang_then_recovery(outage, clock, settings, hang_seconds):
    discord = outage(hang_seconds)
    queue_alerts(60)

    run_monitor(clock, settings.SWEEP_INTERVAL_SECONDS, until=300)

    assert discord.accepted_titles == [f"alert {i}" for i in range(60)]  # once each, in order
    assert set(Alert.objects.values_list("state", flat=True)) == {"delivered"}
    recovery = discord.phase_start("recovered")
    assert discord.times("recovered")[-1] - recovery <= 15.0

    # Two minutes of 500: probes every ALERT_PROBE_INTERVAL_SECONDS, not a grown backoff.
    probes = discord.times("500")
    assert len(probes) > 50
    assert max(b - a for a, b in pairwise(probes)) <= settings.ALERT_PROBE_INTERVAL_SECONDS + (
        TOLERANCE
    )
    failed = [r for r in discord.requests if r.reply.status != 204]
    # The healthy channel's first message was a full one; every probe after it one alert.
    assert [len(r.json()["embeds"]) for r in failed[1:]] == [1] * (len(failed) - 1)
    assert {r.json()["embeds"][0]["title"] for r in failed[1:]} == {"alert 0"}

    # 15 s of 429 with retry_after 3 s: a request exactly every 3 s, never earlier.
    limited = discord.times("429")
    assert len(limited) >= 4
    gaps = [b - a for a, b in pairwise(limited)]
    assert all(3.0 <= gap <= 3.0 + TOLERANCE for gap in gaps), gaps

    # Hanging: each probe gives up after the probe interval, not the 5 s healthy timeout.
    hung = discord.times("hang")
    assert len(hung) >= 4
    gaps = [b - a for a, b in pairwise(hung)]
    assert all(gap <= settings.ALERT_PROBE_INTERVAL_SECONDS + TOLERANCE for gap in gaps), gaps


def test_nothing_is_dropped_before_alert_retry_hours(settings, clock):
    with FakeDiscord() as discord:
        settings.DISCORD_WEBHOOK_URL = discord.webhook_url
        queue_alerts(3)
        hours = settings.ALERT_RETRY_HOURS

        def fail_for(seconds: float) -> None:
            discord.queue(*[FakeDiscord.server_error(503)] * 5)
            clock.sleep(seconds)
            for channel_id, token in claim_due_channels(clock):
                deliver_channel(channel_id, token, clock)

        fail_for(0)
        fail_for(hours * 3600 - 120)  # still failing two minutes before the limit
        assert set(Delivery.objects.values_list("state", flat=True)) == {"pending"}
        fail_for(240)
        states = set(Delivery.objects.values_list("state", flat=True))
    assert states == {"failed"}
    assert Delivery.objects.filter(last_error__startswith="gave up after").count() == 3
    assert Channel.objects.get().consecutive_failures > 0
