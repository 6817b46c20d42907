"""Alert delivery through real local HTTP servers that speak Discord's and a webhook's API."""

from datetime import timedelta
from itertools import pairwise

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone
from fakes import FakeDiscord, RecordingServer, Reply

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.delivery import dispatch_due
from alerts.models import Alert, Channel, Delivery
from alerts.outbox import queue_alert
from hosts.models import Host
from tests.monitoring_support import sweep_and_alert

# Rate limits and timeouts here are real seconds, compared with when the fake Discord saw
# each request: beside other tests on a busy machine that comparison would flake.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.serial]


@pytest.fixture
def discord(settings):
    with FakeDiscord() as server:
        settings.DISCORD_WEBHOOK_URL = server.webhook_url
        settings.ALERT_HTTP_TIMEOUT_SECONDS = 1.0
        yield server


def alert(title: str = "test", severity: str = Severity.ERROR, **extra) -> Alert:
    with transaction.atomic():
        return queue_alert(AlertKind.SYSTEM, severity, title, **extra)


def retry_now() -> None:
    """Let backoff and rate-limit pauses pass, as time would."""
    Channel.objects.update(send_after=timezone.now() - timedelta(seconds=1))


def overdue_host(make_host, host_id: str, name: str | None = None) -> Host:
    host, _ = make_host(host_id, name=name or host_id.upper())
    Host.objects.filter(pk=host.pk).update(
        status="up",
        last_heartbeat_at=timezone.now() - timedelta(minutes=10),
        next_deadline=timezone.now() - timedelta(seconds=1),
    )
    return host


def test_host_down_reaches_discord_as_a_rich_embed(discord, make_host, settings):
    settings.NETMON_BASE_URL = "https://monitor.example"
    overdue_host(make_host, "web01", "Web Server 01")
    sweep_and_alert(timezone.now())
    assert dispatch_due() == 1
    [message] = discord.messages
    assert message["allowed_mentions"] == {"parse": []}
    [embed] = message["embeds"]
    assert embed["title"] == "Web Server 01 is down"
    assert embed["color"] == 0xE74C3C
    assert embed["url"] == "https://monitor.example/api/v1/dashboard/hosts/web01"
    names = [field["name"] for field in embed["fields"]]
    assert names == ["Host", "Last seen", "Expected every", "Grace", "Schedule", "Down since"]
    alert = Alert.objects.get()
    assert alert.state == "delivered"
    assert Delivery.objects.get().attempts == 1


def test_every_field_is_truncated_to_discords_limits(discord):
    alert(
        "T" * 500,
        description="D" * 5000,
        fields=[(f"name {i} " + "n" * 300, "v" * 2000) for i in range(40)],
    )
    dispatch_due()
    assert len(discord.messages) == 1  # the fake answers 400 to anything over a limit
    embed = discord.embeds[0]
    assert len(embed["title"]) == 256 and len(embed["description"]) <= 4096
    assert len(embed["fields"]) <= 25
    assert Alert.objects.get().state == "delivered"


def test_mentions_in_alert_text_never_ping(discord):
    alert("@everyone host down", description="<@&123> @here")
    dispatch_due()
    assert discord.messages[0]["allowed_mentions"] == {"parse": []}
    assert "content" not in discord.messages[0]


def test_short_rate_limit_is_waited_out_and_then_delivered(discord):
    discord.queue(FakeDiscord.rate_limited(0.3))
    alert()
    dispatch_due()
    limited, accepted = discord.requests
    assert accepted.received_at - limited.received_at >= 0.3
    assert len(discord.messages) == 1
    assert Delivery.objects.get().attempts == 2


def test_long_rate_limit_pauses_the_channel_until_retry_after(discord):
    discord.queue(FakeDiscord.rate_limited(30))
    alert()
    before = timezone.now()
    dispatch_due()
    assert len(discord.requests) == 1 and not discord.messages
    pause = Channel.objects.get().send_after - before
    assert timedelta(seconds=30) <= pause < timedelta(seconds=31)
    assert dispatch_due() == 0  # still waiting for retry_after
    retry_now()
    dispatch_due()
    assert len(discord.messages) == 1
    assert Delivery.objects.get().attempts == 2


def test_failing_channel_is_probed_with_its_oldest_alert_then_drained_in_order(discord):
    discord.queue(*[FakeDiscord.server_error(500)] * 5)
    for i in range(25):
        alert(f"alert {i}")
    for _ in range(5):  # Discord fails for a long stretch
        retry_now()
        dispatch_due()
    failed = [request for request in discord.requests if request.reply.status == 500]
    assert len(failed) == 5
    # a healthy channel's first message, then probes of the oldest alert alone
    sent_titles = [[embed["title"] for embed in r.json()["embeds"]] for r in failed]
    assert sent_titles == [[f"alert {i}" for i in range(10)]] + [["alert 0"]] * 4
    titles = [embed["title"] for embed in discord.embeds]
    assert titles == [f"alert {i}" for i in range(25)]
    # the probe that got through, then the rest grouped 10 per message
    assert [len(message["embeds"]) for message in discord.messages] == [1, 10, 10, 4]
    assert set(Alert.objects.values_list("state", flat=True)) == {"delivered"}
    assert Channel.objects.get().consecutive_failures == 0


def test_hanging_discord_times_out_and_is_probed_again(discord):
    discord.queue(FakeDiscord.hang())
    alert()
    dispatch_due()
    hung, accepted = discord.requests  # at least once: the hung request may have landed
    assert accepted.received_at - hung.received_at >= 1.0  # ALERT_HTTP_TIMEOUT_SECONDS
    delivery = Delivery.objects.get()
    assert delivery.state == "sent" and delivery.attempts == 2


def test_payload_refused_is_not_retried_and_does_not_block_others(discord):
    discord.queue(Reply(400, {"code": 50035}), Reply(400, {"code": 50035}))
    alert("first")
    alert("second")
    dispatch_due()  # batch refused, then one by one: first refused again, second sent
    states = dict(Alert.objects.values_list("title", "state"))
    assert states == {"first": "failed", "second": "delivered"}
    retry_now()
    dispatch_due()
    assert [embed["title"] for embed in discord.embeds] == ["second"]


@pytest.mark.parametrize("reply", [FakeDiscord.not_found(), FakeDiscord.unauthorized()])
def test_deleted_webhook_marks_channel_broken(discord, reply):
    discord.queue(reply)
    alert()
    dispatch_due()
    channel = Channel.objects.get()
    assert channel.broken_at is not None and "HTTP 40" in channel.broken_reason
    retry_now()
    assert dispatch_due() == 0  # broken channels are not retried
    assert len(discord.requests) == 1
    assert Alert.objects.get().state == "pending"  # kept until the channel is repaired
    Channel.objects.update(broken_at=None)
    dispatch_due()
    assert len(discord.messages) == 1


def test_connection_errors_do_not_leak_the_webhook_secret(settings):
    with RecordingServer() as server:
        closed = server.url
    settings.DISCORD_WEBHOOK_URL = f"{closed}/api/webhooks/1/secret-token-value"
    alert()
    dispatch_due()
    delivery = Delivery.objects.get()
    assert delivery.state == "pending" and "ConnectionError" in delivery.last_error
    assert "secret-token-value" not in delivery.last_error


def test_a_burst_of_hosts_down_arrives_in_few_messages(discord, make_host):
    for i in range(30):
        overdue_host(make_host, f"host{i:02d}")
    assert len(sweep_and_alert(timezone.now())) == 30
    dispatch_due()
    assert len(discord.embeds) == 30
    assert len(discord.messages) == 3


def test_our_own_burst_limit_is_respected(settings, discord):
    """More messages than Discord allows in 2 s: we wait rather than collect 429s."""
    discord_enforcing = FakeDiscord(enforce_rate_limit=True).start()
    try:
        settings.DISCORD_WEBHOOK_URL = discord_enforcing.webhook_url
        for i in range(70):  # 7 messages of 10
            alert(f"alert {i}", description="x" * 100)
        dispatch_due()
        statuses = [r.reply.status for r in discord_enforcing.requests]
        assert statuses.count(429) == 0
        assert len(discord_enforcing.messages) == 7
    finally:
        discord_enforcing.stop()


def test_no_channel_means_unrouted(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    assert alert().state == "unrouted"


def test_min_severity_filters_channels(discord):
    Channel.objects.create(
        name="pager", kind=ChannelKind.WEBHOOK, url="http://127.0.0.1:9/x", min_severity="error"
    )
    info = alert(severity=Severity.INFO)
    assert [d.channel.name for d in info.deliveries.all()] == ["Discord (DISCORD_WEBHOOK_URL)"]


def test_generic_webhook_channel(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    with RecordingServer(Reply(200)) as hook:
        Channel.objects.create(name="ops", kind=ChannelKind.WEBHOOK, url=f"{hook.url}/hook")
        alert("disk full", description="/var at 99%")
        dispatch_due()
        payload = hook.requests[0].json()
    assert payload["source"] == "netmon" and payload["version"] == 1
    assert payload["alerts"][0]["title"] == "disk full"
    assert payload["alerts"][0]["severity"] == "error"
    assert payload["alerts"][0]["description"] == "/var at 99%"


def test_email_channel(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="mail", kind=ChannelKind.EMAIL, email_to="ops@example.com")
    alert("disk full", description="/var at 99%")
    dispatch_due()
    [message] = mail.outbox
    assert message.subject == "disk full" and message.to == ["ops@example.com"]
    assert "/var at 99%" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html" and "/var at 99%" in html


def test_alerts_api_filters_and_ack(discord, api, make_host):
    host = overdue_host(make_host, "web01")
    sweep_and_alert(timezone.now())
    alert("system thing", severity=Severity.WARNING)
    dispatch_due()
    listing = api.get("/api/v1/alerts").json()
    assert listing["count"] == 2
    assert listing["results"][0]["deliveries"][0]["state"] == "sent"
    assert api.get("/api/v1/alerts?host=web01").json()["count"] == 1
    assert api.get("/api/v1/alerts?kind=host_down").json()["count"] == 1
    assert api.get("/api/v1/alerts?state=pending").json()["count"] == 0
    assert api.get("/api/v1/alerts?state=bogus").status_code == 400
    down = Alert.objects.get(host=host)
    response = api.post(f"/api/v1/alerts/{down.pk}/ack")
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "API key tests"
    assert api.get("/api/v1/alerts?acknowledged=true").json()["count"] == 1
    assert api.post("/api/v1/alerts/999999/ack").status_code == 404


def test_discord_messages_are_spaced_evenly(discord, settings):
    settings.DISCORD_MESSAGE_SPACING_SECONDS = 0.3
    for i in range(25):
        alert(f"alert {i}")
    dispatch_due()
    arrivals = [request.received_at for request in discord.requests]
    assert len(arrivals) == 3
    assert all(later - earlier >= 0.29 for earlier, later in pairwise(arrivals))
