"""The admin's "Send a test notification to the selected channels", used as an administrator
does: a real admin request, real local HTTP servers as the channels, the answer on the page."""

import time
from datetime import timedelta

import pytest
from django.contrib import messages as levels
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from fakes import FakeDiscord, RecordingServer, Reply

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.models import Alert, Channel, Delivery

CHANNELS = "/admin/alerts/channel/"
SECRET = "SeCrEt-office-hook"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_environment_channel(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    settings.ALERT_HTTP_TIMEOUT_SECONDS = 2.0


@pytest.fixture
def signed_in(db) -> Client:
    """A client logged in to the admin as a superuser."""
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-root-1"))
    return client


@pytest.fixture
def hook():
    with RecordingServer() as server:
        yield server


@pytest.fixture
def discord():
    with FakeDiscord() as server:
        yield server


def webhook_channel(server: RecordingServer, name: str, path: str, **fields) -> Channel:
    return Channel.objects.create(
        name=name, kind=ChannelKind.WEBHOOK, url=f"{server.url}{path}", **fields
    )


def office_channel(server: RecordingServer, **fields) -> Channel:
    """A channel of the office hosts only: routing never sends it a hostless alert."""
    return webhook_channel(
        server, "Office hook", f"/hooks/{SECRET}", tags=["office"], default=False, **fields
    )


def discord_channel(server: FakeDiscord, name: str = "Ops Discord") -> Channel:
    return Channel.objects.create(name=name, kind=ChannelKind.DISCORD, url=server.webhook_url)


def send_test(client: Client, *channels: Channel):
    data = {
        "action": "send_test_notification",
        "_selected_action": [channel.pk for channel in channels],
        "index": 0,
    }
    response = client.post(CHANNELS, data, follow=True)
    assert response.status_code == 200
    return response


def messages(response) -> list[tuple[int, str]]:
    return [(message.level, str(message)) for message in response.context["messages"]]


def test_a_tag_only_channel_receives_the_test_and_the_page_says_delivered(signed_in, hook):
    channel = office_channel(hook)

    response = send_test(signed_in, channel)

    assert messages(response) == [
        (levels.SUCCESS, f"Office hook (http://{hook.url[7:]}/****): delivered")
    ]
    assert SECRET not in response.content.decode()
    [request] = hook.requests
    assert request.path == f"/hooks/{SECRET}"
    [sent] = request.json()["alerts"]
    assert (sent["kind"], sent["severity"], sent["title"], sent["host_id"]) == (
        AlertKind.SYSTEM,
        Severity.INFO,
        "Test notification from netmon",
        None,
    )
    assert "root" in sent["description"] and "Office hook" in sent["description"]
    assert Alert.objects.get().state == "delivered"
    assert Delivery.objects.get().state == "sent"


def test_a_channel_answering_500_is_failing_and_the_test_waits_for_a_retry(signed_in, hook):
    hook.set_default(Reply(500, "upstream is down"))
    channel = office_channel(hook)

    response = send_test(signed_in, channel)

    [(level, text)] = messages(response)
    assert level == levels.ERROR
    assert text == (
        f"Office hook (http://{hook.url[7:]}/****): "
        "failing: HTTP 500: upstream is down (it stays queued for retry)"
    )
    assert len(hook.requests) == 1  # one attempt: the monitor loop retries it
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_error) == (
        "pending",
        1,
        "HTTP 500: upstream is down",
    )
    assert delivery.alert.state == "pending"
    channel.refresh_from_db()
    assert (channel.consecutive_failures, channel.broken_at) == (1, None)
    assert channel.send_after is not None and channel.send_after > timezone.now()
    assert channel.lease_token == ""  # the test gave the channel back to the monitor loop


def test_a_channel_answering_401_is_broken(signed_in, discord):
    discord.queue(FakeDiscord.unauthorized())
    channel = discord_channel(discord)

    response = send_test(signed_in, channel)

    [(level, text)] = messages(response)
    assert level == levels.ERROR
    assert text.startswith(
        f"Ops Discord (http://{discord.url[7:]}/api/webhooks/123456/****): broken: HTTP 401: "
    )
    assert "Invalid Webhook Token" in text
    assert "fake-token" not in response.content.decode()
    channel.refresh_from_db()
    assert channel.broken_at is not None and channel.broken_reason.startswith("HTTP 401")
    assert Delivery.objects.get().state == "pending"


def test_a_rate_limited_channel_says_when_it_retries(signed_in, discord):
    discord.queue(FakeDiscord.rate_limited(30))
    channel = discord_channel(discord)

    response = send_test(signed_in, channel)

    assert messages(response) == [
        (
            levels.WARNING,
            f"Ops Discord (http://{discord.url[7:]}/api/webhooks/123456/****): "
            "rate limited, will retry in 30 s",
        )
    ]
    assert Delivery.objects.get().state == "pending"


def test_each_selected_channel_gets_one_test_and_the_others_none(signed_in, hook, discord):
    ops = discord_channel(discord)
    office = office_channel(hook)
    # A default channel: routing would have sent it every hostless alert.
    others = webhook_channel(hook, "Team hook", "/hooks/team")

    response = send_test(signed_in, ops, office)

    assert messages(response) == [
        (levels.SUCCESS, f"Office hook (http://{hook.url[7:]}/****): delivered"),
        (
            levels.SUCCESS,
            f"Ops Discord (http://{discord.url[7:]}/api/webhooks/123456/****): delivered",
        ),
    ]
    assert [request.path for request in hook.requests] == [f"/hooks/{SECRET}"]
    [embed] = discord.embeds
    assert embed["title"] == "Test notification from netmon"
    assert "Ops Discord" in embed["description"]
    deliveries = Delivery.objects.values_list("channel_id", "state")
    assert sorted(deliveries) == sorted([(ops.pk, "sent"), (office.pk, "sent")])
    assert not others.deliveries.exists()
    assert Alert.objects.count() == 2


def test_a_disabled_channel_can_be_tested_before_it_is_switched_on(signed_in, hook):
    channel = office_channel(hook, enabled=False)

    response = send_test(signed_in, channel)

    assert messages(response) == [
        (levels.SUCCESS, f"Office hook (http://{hook.url[7:]}/****): delivered")
    ]
    assert len(hook.requests) == 1


def test_a_failing_test_of_a_disabled_channel_waits_until_it_is_enabled(signed_in, hook):
    hook.set_default(Reply(503, "maintenance"))
    channel = office_channel(hook, enabled=False)

    response = send_test(signed_in, channel)

    [(_, text)] = messages(response)
    assert text.endswith(
        "failing: HTTP 503: maintenance (it stays queued for retry); "
        "the channel is disabled: it waits until enabled"
    )


def test_a_channel_that_hangs_is_given_up_after_its_timeout(signed_in, hook, settings):
    settings.ALERT_HTTP_TIMEOUT_SECONDS = 0.5
    hook.set_default(Reply(hang=True))
    channel = office_channel(hook)

    started = time.monotonic()
    response = send_test(signed_in, channel)
    took = time.monotonic() - started

    assert messages(response) == [
        (
            levels.ERROR,
            f"Office hook (http://{hook.url[7:]}/****): failing: ReadTimeout calling "
            f"http://{hook.url[7:]}/**** (it stays queued for retry)",
        )
    ]
    assert took < 10  # the timeout and no more, with room for a slow machine
    assert Delivery.objects.get().state == "pending"


def test_a_channel_held_by_its_deliverer_is_left_to_it(signed_in, hook):
    channel = office_channel(hook)
    Channel.objects.filter(pk=channel.pk).update(
        lease_until=timezone.now() + timedelta(seconds=60), lease_token="monitor-loop"
    )

    response = send_test(signed_in, channel)

    assert messages(response) == [
        (
            levels.WARNING,
            f"Office hook (http://{hook.url[7:]}/****): still pending (the channel is busy)",
        )
    ]
    assert not hook.requests
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 0)
    channel.refresh_from_db()
    assert channel.lease_token == "monitor-loop"


def test_a_broken_channel_is_not_sent_to_until_it_is_repaired(signed_in, hook):
    channel = office_channel(hook)
    channel.mark_broken("HTTP 404: unknown hook")

    response = send_test(signed_in, channel)

    assert messages(response) == [
        (
            levels.ERROR,
            f"Office hook (http://{hook.url[7:]}/****): "
            "broken: HTTP 404: unknown hook (mark it as repaired to send)",
        )
    ]
    assert not hook.requests
    assert Delivery.objects.get().state == "pending"
