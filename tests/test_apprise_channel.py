"""Apprise channels, delivered through the outbox to real local servers of four services.

Each server is a RecordingServer on 127.0.0.1 that answers as the service would (200
with an empty body is what ntfy, Gotify, Mattermost and Apprise's JSON expect): Apprise
itself builds and sends the requests, so what is asserted is what the service gets.
Waits (retry_after, probes, spacing) run on an injected clock; only the hanging server's
timeout is real time.
"""

import json
import logging
import re
import sys
import time
from itertools import pairwise

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client
from fakes import RecordingServer, Reply
from fakes.outage import Phase, PhasedServer

from alerts.choices import AlertKind, ChannelKind, DeliveryState, Severity
from alerts.delivery import claim_due_channels, deliver_channel, dispatch_due
from alerts.markup import code, strong
from alerts.models import Alert, Channel, Delivery
from alerts.outbox import queue_alert
from alerts.transports import APPRISE_RETRY_AFTER_SECONDS
from tests.delivery_support import WarpClock, run_monitor

pytestmark = pytest.mark.django_db

HOSTILE = "<@everyone> **x** [a](http://evil)"
TOPIC = "s3cret-topic"  # an ntfy topic is what keeps strangers from reading or posting
TOKEN = "AgotifyS3cretTok"
TOLERANCE = 0.5  # real time a request and its bookkeeping may take

# Every socket the process opens or name it resolves while a test runs (audit events).
_network: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _network is None:
        return
    if event == "socket.connect" and isinstance(args[1], tuple):
        _network.append(str(args[1][0]))
    elif event == "socket.getaddrinfo":
        _network.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture(autouse=True)
def local_network_only(settings):
    """Apprise may reach 127.0.0.1 (our servers) and nothing else: no icon fetch, no DNS."""
    global _network
    settings.DISCORD_WEBHOOK_URL = ""
    _network = []
    yield _network
    seen, _network = _network, None
    assert set(seen) <= {"127.0.0.1"}, seen


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        return "\n".join(f"{r.name} {r.getMessage()}" for r in self.records)


@pytest.fixture
def root_log():
    """What reaches netmon's log handlers (the root logger's), whatever pytest attaches."""
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    level, root.level = root.level, logging.DEBUG
    yield handler
    root.removeHandler(handler)
    root.level = level


@pytest.fixture
def clock() -> WarpClock:
    return WarpClock()


@pytest.fixture
def server():
    with RecordingServer() as recording:
        yield recording


def port(server: RecordingServer) -> str:
    return server.url.rsplit(":", 1)[1]


def apprise_channel(url: str) -> Channel:
    channel = Channel(name="Phones", kind=ChannelKind.APPRISE, url=url)
    channel.full_clean()
    channel.save()
    return channel


def alert(title: str, severity: str = Severity.ERROR, **extra) -> Alert:
    with transaction.atomic():
        return queue_alert(AlertKind.SYSTEM, severity, title, **extra)


def footer_ids(message: str) -> list[int]:
    """The alert ids of a notification's body, in order (each alert ends with its footer)."""
    return [int(i) for i in re.findall(r"^netmon · .* · #(\d+)$", message, re.MULTILINE)]


def ntfy(request) -> tuple[str, str]:
    assert (request.method, request.path) == ("POST", "/")
    payload = request.json()
    assert payload["topic"] == TOPIC
    return payload["title"], payload["message"]


def gotify(request) -> tuple[str, str]:
    assert (request.method, request.path) == ("POST", "/message")
    assert request.headers["x-gotify-key"] == TOKEN
    payload = request.json()
    return payload["title"], payload["message"]


def json_post(request) -> tuple[str, str]:
    assert (request.method, request.path) == ("POST", "/netmon/alerts")
    payload = request.json()
    return payload["title"], payload["message"]


def mattermost(request) -> tuple[str, str]:
    """Mattermost has no title: Apprise puts it on the message's first line."""
    assert (request.method, request.path) == ("POST", f"/hooks/{TOKEN}")
    payload = request.json()
    assert payload["username"] == "netmon"
    title, _, message = payload["text"].partition("\r\n")
    return title, message


SERVICES = {
    "ntfy": (f"ntfy://127.0.0.1:{{port}}/{TOPIC}", ntfy),
    "gotify": (f"gotify://127.0.0.1:{{port}}/{TOKEN}", gotify),
    "json": ("json://127.0.0.1:{port}/netmon/alerts", json_post),
    "mattermost": (f"mmost://127.0.0.1:{{port}}/{TOKEN}", mattermost),
}


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_the_alert_as_title_and_plain_text(server, service, local_network_only):
    url, read = SERVICES[service]
    apprise_channel(url.format(port=port(server)))
    sent = alert(
        f"web01 {HOSTILE} is down",
        description=[strong("Log line: "), HOSTILE],
        fields=[("Host", [code("web01"), f" {HOSTILE}"]), ("Seen", "never")],
        url="https://monitor.example/hosts/web01",
    )

    assert dispatch_due() == 1

    [request] = server.wait_for(1)
    title, message = read(request)
    # Outside text as written but for a zero-width space after "@" and in "://" (no mention
    # pings, no link to the outsider's URL on services that render markdown in plain text);
    # netmon's formatting left out, no backslashes, Apprise's own markup absent.
    inert = "<@\u200beveryone> **x** [a](http:\u200b//evil)"
    assert title == f"web01 {inert} is down"
    assert message == (
        f"Log line: {inert}\n"
        f"Host: web01 {inert}\n"
        "Seen: never\n"
        "https://monitor.example/hosts/web01\n"
        f"netmon · Error · System problem · #{sent.pk}"
    )
    assert Delivery.objects.get().state == DeliveryState.SENT
    sent.refresh_from_db()
    assert sent.state == "delivered"
    assert local_network_only  # the check sees Apprise's connections (to 127.0.0.1)


def test_a_title_with_line_breaks_stays_one_line(server):
    apprise_channel(f"ntfy://127.0.0.1:{port(server)}/{TOPIC}")
    alert("web01\r\nX-Injected: yes", severity=Severity.INFO)

    dispatch_due()

    title, _ = ntfy(server.wait_for(1)[0])
    assert title == "web01 X-Injected: yes"


def test_a_storm_arrives_in_notifications_of_ten_in_order(server, clock):
    apprise_channel(f"json://127.0.0.1:{port(server)}/netmon/alerts")
    alerts = [alert(f"alert {i}") for i in range(23)]

    run_monitor(clock)

    messages = [json_post(request) for request in server.requests]
    assert [title for title, _ in messages] == [
        "10 netmon alerts",
        "10 netmon alerts",
        "3 netmon alerts",
    ]
    ids = [i for _, message in messages for i in footer_ids(message)]
    assert ids == [a.pk for a in alerts]  # once each, oldest first
    assert messages[2][1].startswith("alert 20\n")  # in a batch, each alert has its title


def test_a_500_is_retried_and_then_all_are_delivered_in_order(server, clock):
    apprise_channel(f"json://127.0.0.1:{port(server)}/netmon/alerts")
    server.set_default(Reply(204))
    server.queue(Reply(500, {"error": "down for maintenance"}))
    alerts = [alert(f"alert {i}") for i in range(3)]

    run_monitor(clock)

    first, probe, rest = server.requests
    assert footer_ids(json_post(first)[1]) == [a.pk for a in alerts]  # refused with a 500
    assert footer_ids(json_post(probe)[1]) == [alerts[0].pk]  # a probe: the oldest alert
    assert footer_ids(json_post(rest)[1]) == [a.pk for a in alerts[1:]]
    assert list(Delivery.objects.values_list("state", "attempts").order_by("alert_id")) == [
        ("sent", 2),
        ("sent", 2),
        ("sent", 2),
    ]
    assert Channel.objects.get().consecutive_failures == 0


def test_a_429_pauses_the_channel_then_delivers(server, clock):
    apprise_channel(f"ntfy://127.0.0.1:{port(server)}/{TOPIC}")
    # What ntfy answers when a visitor is over its limit: the code has a reason appended.
    server.queue(Reply(429, {"code": 42901, "http": 429, "error": "limit reached"}))
    alert("web01 is down")

    for channel_id, token in claim_due_channels(clock):
        deliver_channel(channel_id, token, clock)

    delivery = Delivery.objects.get()
    channel = Channel.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.PENDING, 1)
    assert delivery.last_error == "ntfy://**** answered HTTP 429"
    assert channel.broken_at is None
    assert channel.consecutive_failures == 0  # the service answered: it works
    pause = (channel.send_after - clock.now()).total_seconds()
    assert APPRISE_RETRY_AFTER_SECONDS - TOLERANCE <= pause <= APPRISE_RETRY_AFTER_SECONDS

    started = clock.now()
    run_monitor(clock)

    assert len(server.requests) == 2
    assert (clock.now() - started).total_seconds() >= pause
    assert Delivery.objects.get().state == DeliveryState.SENT


def test_a_401_marks_the_channel_broken_without_naming_its_secret(server, root_log):
    apprise_channel(f"gotify://127.0.0.1:{port(server)}/{TOKEN}")
    server.set_default(Reply(401, {"error": "Unauthorized", "errorCode": 401}))
    alert("web01 is down")

    dispatch_due()

    channel = Channel.objects.get()
    assert channel.broken_at is not None
    assert channel.broken_reason == "gotify://**** answered HTTP 401"
    assert Delivery.objects.get().state == DeliveryState.PENDING  # kept for the fixed channel
    assert dispatch_due() == 0  # a broken channel is not retried
    assert len(server.requests) == 1
    assert TOKEN not in root_log.text()
    assert not [r for r in root_log.records if r.name.startswith("apprise")]


def test_a_refused_message_is_not_retried(server, clock):
    apprise_channel(f"mmost://127.0.0.1:{port(server)}/{TOKEN}")
    server.queue(Reply(400, "bad request"))
    alert("web01 is down")

    run_monitor(clock)

    delivery = Delivery.objects.get()
    assert delivery.state == DeliveryState.FAILED
    assert delivery.last_error == "refused: mmost://**** answered HTTP 400"
    assert len(server.requests) == 1


@pytest.mark.serial
def test_a_hanging_service_times_out_within_the_channels_timeout(server, settings, clock):
    settings.ALERT_HTTP_TIMEOUT_SECONDS = 0.5
    # The URL's own timeouts and retries would hang for minutes: netmon's apply.
    apprise_channel(f"ntfy://127.0.0.1:{port(server)}/{TOPIC}?rto=30&cto=30&retry=3")
    server.queue(Reply(hang=True))
    alert("web01 is down")

    started = time.monotonic()
    run_monitor(clock)  # the wait for the next probe is skipped, not slept
    took = time.monotonic() - started

    hung, accepted = server.requests
    assert 0.5 <= accepted.received_at - hung.received_at <= 0.5 + TOLERANCE
    assert took <= 0.5 + TOLERANCE
    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 2)
    assert Channel.objects.get().consecutive_failures == 0


def test_a_service_that_is_not_there_is_retried_and_its_url_never_logged(clock, root_log):
    apprise_channel(f"json://127.0.0.1:9/{TOPIC}")  # the discard port: nothing listens
    alert("web01 is down")

    for channel_id, token in claim_due_channels(clock):
        deliver_channel(channel_id, token, clock)

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.last_error) == (
        DeliveryState.PENDING,
        "json://**** did not answer",
    )
    assert "channel Phones is failing (json://**** did not answer)" in root_log.text()
    # Apprise's own lines name the service's host, some services' more of the URL.
    assert not [r for r in root_log.records if r.name.startswith("apprise")]
    assert TOPIC not in root_log.text()


@pytest.mark.parametrize(
    "url",
    [
        "ntfy://127.0.0.1:8123/alerts",
        "gotify://gotify.example/AbCdEf123456",
        "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-1001234567890",
        "matrix://netmon:password@matrix.example/#ops",
        "json://127.0.0.1:8080/hook",
    ],
)
def test_apprise_urls_are_valid_channel_urls(url):
    Channel(name="Phones", kind=ChannelKind.APPRISE, url=url).full_clean()


@pytest.mark.parametrize("url", ["", "nosuchservice://x/y", "https://example.com/hook"])
def test_what_apprise_does_not_know_is_refused(url):
    with pytest.raises(ValidationError) as refused:
        Channel(name="Phones", kind=ChannelKind.APPRISE, url=url).full_clean()
    assert list(refused.value.message_dict) == ["url"]


def test_a_webhook_channel_still_needs_an_http_url():
    with pytest.raises(ValidationError) as refused:
        Channel(name="Hook", kind=ChannelKind.WEBHOOK, url=f"ntfy://x/{TOPIC}").full_clean()
    assert TOPIC not in json.dumps(refused.value.message_dict)
    Channel(name="Hook", kind=ChannelKind.WEBHOOK, url="https://hooks.example/x").full_clean()


@pytest.fixture
def admin_browser(db) -> Client:
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-1234567"))
    return client


def test_the_admin_refuses_an_unknown_apprise_url_without_repeating_it(admin_browser):
    response = admin_browser.post(
        "/admin/alerts/channel/add/",
        {
            "name": "Phones",
            "kind": "apprise",
            "url": f"nosuchservice://{TOPIC}",
            "min_severity": "info",
            "quiet_min_severity": "critical",
        },
    )

    assert response.status_code == 200  # the form again, with the error
    assert "url" in response.context["adminform"].form.errors
    assert TOPIC not in response.content.decode()
    assert not Channel.objects.exists()


def test_the_admin_shows_only_the_service_of_an_apprise_url(admin_browser):
    client = admin_browser
    url = f"ntfy://127.0.0.1:8123/{TOPIC}"

    response = client.post(
        "/admin/alerts/channel/add/",
        {
            "name": "Phones",
            "kind": "apprise",
            "url": url,
            "min_severity": "info",
            "quiet_min_severity": "critical",
            "enabled": "on",
            "default": "on",
        },
        follow=True,
    )

    assert Channel.objects.get().url == url
    assert Channel.objects.get().masked_target == "ntfy://****"
    listing = client.get("/admin/alerts/channel/").content.decode()
    assert "ntfy://****" in listing
    change = client.get(f"/admin/alerts/channel/{Channel.objects.get().pk}/change/")
    for page in (response.content.decode(), listing, change.content.decode()):
        assert TOPIC not in page


@pytest.mark.django_db(transaction=True)
def test_500_then_429_then_hang_then_recovery(clock, settings):
    """The engine's fault sequence, against an Apprise channel: nothing lost, nothing
    twice, in order; probes at the probe interval while it fails and hangs, the fixed
    pause after a 429."""
    phases = [
        Phase("500", 60, Reply(500, {"error": "down"})),
        Phase("429", 5, Reply(429, {"error": "slow down"})),
        # Apprise's 429 pauses the channel for 30 s: the first request after it hangs.
        Phase("hang", 35, Reply(hang=True)),
    ]
    with PhasedServer(clock, phases, default=Reply(200)) as server:
        apprise_channel(f"json://127.0.0.1:{port(server)}/netmon/alerts")
        alerts = [alert(f"alert {i}") for i in range(30)]

        run_monitor(clock, settings.SWEEP_INTERVAL_SECONDS, until=600)

    accepted = [r for r in server.requests if r.reply.status == 200 and not r.reply.hang]
    delivered = [pk for r in accepted for pk in footer_ids(json_post(r)[1])]
    assert delivered == [a.pk for a in alerts]  # once each, in order
    assert set(Alert.objects.values_list("state", flat=True)) == {"delivered"}
    assert server.times("recovered")[-1] - server.phase_start("recovered") <= 15.0

    failing = [r for r in server.requests if r.reply.status != 200 or r.reply.hang]
    assert all(len(footer_ids(json_post(r)[1])) == 1 for r in failing[1:])  # probes
    probes = server.times("500")
    assert len(probes) > 20
    assert max(b - a for a, b in pairwise(probes)) <= settings.ALERT_PROBE_INTERVAL_SECONDS + 1
    limited = server.times("429")
    hung = server.times("hang")
    assert len(limited) == 1 and hung[0] - limited[0] >= APPRISE_RETRY_AFTER_SECONDS
    assert len(hung) >= 2
    assert max(b - a for a, b in pairwise(hung)) <= settings.ALERT_PROBE_INTERVAL_SECONDS + 1
