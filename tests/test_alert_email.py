"""Alert mails: plain text and HTML (multipart/alternative) rendered from the alert's markup.

From the outbox through the deliverer to Django's local-memory mail backend. What the
HTML part does with outside text is in test_alert_neutralisation.py.
"""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.delivery import dispatch_due
from alerts.models import Alert, Channel
from alerts.outbox import queue_alert
from tests.monitoring_support import host_goes_down

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def inbox(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Channel.objects.create(name="mail", kind=ChannelKind.EMAIL, email_to="a@example.com, b@x")


def test_a_host_down_mail_has_a_text_and_an_html_part(inbox, make_host, settings):
    settings.NETMON_BASE_URL = "https://monitor.example"
    host, _ = make_host("web01", name="Web Server 01")
    last_seen = timezone.now() - timedelta(minutes=10)
    host_goes_down(host, last_seen, last_seen + timedelta(minutes=2))
    dispatch_due()

    [message] = mail.outbox
    assert message.subject == "Web Server 01 is down" and message.to == ["a@example.com", "b@x"]
    mime = message.message()
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.get_payload()] == [
        "text/plain",
        "text/html",
    ]
    stamp = f"{last_seen:%Y-%m-%d %H:%M:%S} UTC"
    assert message.body.startswith(
        "Web Server 01 is down\nNo heartbeat from web01 before its deadline.\n\n"
        f"Host: Web Server 01 (web01)\nLast seen: {stamp}\n"
    )
    assert message.body.endswith("\nhttps://monitor.example/api/v1/dashboard/hosts/web01")

    [(html, _)] = message.alternatives
    alert = Alert.objects.get()
    assert ">Web Server 01 is down</h2>" in html
    assert "No heartbeat from <code>web01</code> before its deadline." in html
    rows = re.findall(r"<tr><th[^>]*>(.*?)</th><td>(.*?)</td></tr>", html)
    assert [name for name, _ in rows] == [
        "Host",
        "Last seen",
        "Expected every",
        "Grace",
        "Schedule",
        "Down since",
    ]
    assert rows[0][1] == "Web Server 01 (<code>web01</code>)"
    assert rows[1][1] == (
        f'<time datetime="{last_seen.replace(microsecond=0).isoformat()}">{stamp}</time>'
    )
    assert f'<a href="{alert.url}">Open in netmon</a>' in html
    assert f"Error · Host down · #{alert.pk}" in html
    assert "border-left: 4px solid #e74c3c" in html  # the severity's colour


def test_a_batch_is_one_mail_with_every_alert_in_order(inbox):
    with transaction.atomic():
        for i in range(3):
            queue_alert(AlertKind.SYSTEM, Severity.WARNING, f"alert {i}", f"text {i}")
    dispatch_due()

    [message] = mail.outbox
    assert message.subject == "3 netmon alerts"
    [(html, _)] = message.alternatives
    titles = ["alert 0", "alert 1", "alert 2"]
    assert re.findall(r">(alert \d)</h2>", html) == titles
    assert re.findall(r"^alert \d$", message.body, re.MULTILINE) == titles
    assert "<table>" not in html  # no fields, no empty table


def test_evidence_is_preformatted_and_only_http_links_are_links(inbox):
    with transaction.atomic():
        queue_alert(
            AlertKind.SYSTEM,
            Severity.ERROR,
            "evidence",
            ["two\nlines", {"block": ["a  b", "c"]}],
            url="javascript:alert(1)",
        )
    dispatch_due()

    [(html, _)] = mail.outbox[0].alternatives
    assert "two<br>\nlines<pre><code>a  b\nc</code></pre>" in html
    assert "<a " not in html and "javascript" not in html.split("</title>")[1]
