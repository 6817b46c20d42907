"""Each channel kind keeps its own limits: Discord's, a JSON webhook's, an inbox's.

Alerts arrive in a steady stream, as in a storm, and the monitor loop dispatches them
with an injected clock: the deliverer's waits are skipped, so minutes run in seconds,
while requests and the database still take their real time. Each message's time is when
the deliverer recorded its alerts as sent (``Delivery.sent_at``), by that clock.
"""

import re
from datetime import timedelta
from itertools import pairwise

import pytest
from django.core import mail
from django.db import transaction
from fakes import FakeDiscord, RecordingServer, Reply

from alerts.choices import AlertKind, ChannelKind, DeliveryState, Severity
from alerts.models import Channel, Delivery
from alerts.outbox import queue_alert
from tests.delivery_support import WarpClock, dispatch

pytestmark = pytest.mark.django_db(transaction=True)

TOLERANCE = 0.5  # real time between a message's start and its alerts' sent_at


@pytest.fixture
def clock() -> WarpClock:
    return WarpClock()


def stream(clock: WarpClock, count: int, every: float) -> None:
    """``count`` alerts ``every`` seconds apart, dispatched as they come, then the rest."""
    for i in range(count):
        with transaction.atomic():
            queue_alert(AlertKind.SYSTEM, Severity.ERROR, f"alert {i}")
        dispatch(clock)
        clock.sleep(every)
    stop_at = clock.now() + timedelta(minutes=5)
    while Delivery.objects.filter(state=DeliveryState.PENDING).exists():
        assert clock.now() < stop_at, "alerts still pending"
        dispatch(clock)
        clock.sleep(1.0)


def message_times(messages: list[list[str]]) -> list[float]:
    """Seconds from the first message to each, given each message's alert titles."""
    sent_at = {d.alert.title: d.sent_at for d in Delivery.objects.select_related("alert").all()}
    times = [min(sent_at[title] for title in titles) for titles in messages]
    return [(at - times[0]).total_seconds() for at in times]


def send_starts() -> list[float]:
    """Seconds from the first kept send to each, by when each message *started*: what the
    limits count (``recent_sends`` keeps as many as the kind's largest window). Building a
    mail of 100 alerts can take seconds on a loaded machine, so the times of the
    deliveries' ``sent_at`` would show the limits plus that."""
    starts = Channel.objects.get().recent_sends
    return [at - starts[0] for at in starts]


def most_in_any(times: list[float], seconds: float) -> int:
    """The most messages that any window of ``seconds`` holds."""
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


def in_order_once(messages: list[list[str]], count: int) -> bool:
    return [title for titles in messages for title in titles] == [
        f"alert {i}" for i in range(count)
    ]


def test_discord_is_held_to_30_messages_a_minute(settings, clock):
    with FakeDiscord() as discord:
        settings.DISCORD_WEBHOOK_URL = discord.webhook_url
        stream(clock, 60, every=1.0)
        messages = [[embed["title"] for embed in m["embeds"]] for m in discord.messages]

    assert in_order_once(messages, 60)
    times = message_times(messages)
    assert most_in_any(times, 60 - TOLERANCE) == 30
    assert times[30] >= 60 - TOLERANCE  # the 31st waited for the minute to pass
    assert len(messages) < 60  # what came meanwhile shared messages
    assert max(len(titles) for titles in messages) == 10  # Discord's embeds per message


def test_a_json_webhook_is_not_held_to_discords_30_a_minute(settings, clock):
    settings.DISCORD_WEBHOOK_URL = ""
    with RecordingServer(Reply(200)) as hook:
        Channel.objects.create(name="ops", kind=ChannelKind.WEBHOOK, url=f"{hook.url}/hook")
        stream(clock, 150, every=0.15)
        messages = [[a["title"] for a in r.json()["alerts"]] for r in hook.requests]

    assert in_order_once(messages, 150)
    times = message_times(messages)
    # One message per alert as they came, far beyond 30 a minute, up to its own 120 …
    assert [len(titles) for titles in messages[:120]] == [1] * 120
    # … and then the minute's budget is spent: the rest waits for it, in one message.
    assert most_in_any(times, 60 - TOLERANCE) == 120
    assert times[120] >= 60 - TOLERANCE
    assert [len(titles) for titles in messages[120:]] == [30]


def test_a_json_webhook_keeps_its_own_burst_limit(settings, clock):
    settings.DISCORD_WEBHOOK_URL = ""
    with RecordingServer(Reply(200)) as hook:
        Channel.objects.create(name="ops", kind=ChannelKind.WEBHOOK, url=f"{hook.url}/hook")
        stream(clock, 40, every=0.0)  # as fast as the alerts can be written
        messages = [[a["title"] for a in r.json()["alerts"]] for r in hook.requests]

    assert in_order_once(messages, 40)
    times = message_times(messages)
    assert most_in_any(times, 1 - TOLERANCE / 10) <= 10
    # Written in a fraction of a second, 40 messages took the burst limit's 3 s and more.
    assert times[-1] >= 3 - TOLERANCE / 10


def mail_titles(message: mail.EmailMessage) -> list[str]:
    return re.findall(r"^alert \d+$", message.body, re.MULTILINE)


@pytest.fixture
def inbox(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="mail", kind=ChannelKind.EMAIL, email_to="ops@example.com")


def test_an_inbox_gets_a_few_mails_each_with_many_alerts(inbox, clock):
    stream(clock, 60, every=1.0)

    messages = [mail_titles(message) for message in mail.outbox]
    assert in_order_once(messages, 60)
    assert messages[0] == ["alert 0"]  # the first alert is not held back
    starts = send_starts()
    assert all(b - a >= 15 for a, b in pairwise(starts)), starts
    # Four a minute: the spacing above says it for the kept starts; the deliveries' times
    # (later than the starts by the building of each mail) say it for all of them.
    assert most_in_any(message_times(messages), 55) <= 4
    assert len(messages) <= 6
    assert all(len(titles) >= 10 for titles in messages[1:-1])
    assert mail.outbox[1].subject == f"{len(messages[1])} netmon alerts"


def test_an_inbox_gets_at_most_100_alerts_a_mail(inbox, clock):
    with transaction.atomic():
        for i in range(250):
            queue_alert(AlertKind.SYSTEM, Severity.ERROR, f"alert {i}")
    stream(clock, 0, every=0.0)

    messages = [mail_titles(message) for message in mail.outbox]
    assert in_order_once(messages, 250)
    assert [len(titles) for titles in messages] == [100, 100, 50]
    starts = send_starts()
    assert len(starts) == 3 and all(b - a >= 15 for a, b in pairwise(starts)), starts
