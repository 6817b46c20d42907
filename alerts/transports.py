"""Notification channels: each turns a batch of alerts into one message, in its own format.

An alert stores facts (alerts/models.py); its transport renders them when it sends:
Discord as an embed in escaped markdown, the JSON webhook as a versioned payload of plain
text and typed values, email as plain text plus HTML, Apprise (ntfy, Gotify, Telegram, …)
as a title and a plain-text body. docs/alert-payloads.md documents each format. A
transport also carries its channel kind's limits, which the delivery engine
(alerts/delivery.py) keeps to for every channel of the kind.

A transport never raises for a delivery problem: it returns an ``Outcome`` that
says what the delivery engine should do next.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from html import escape

import apprise
import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from alerts.choices import SEVERITY_COLOURS, AlertKind, ChannelKind, Severity
from alerts.markup import (
    Text,
    as_discord,
    as_html,
    as_inert,
    as_plain,
    discord_escape,
    html_escape,
    times,
    unlinked,
)
from alerts.models import Alert, Channel, mask_url

USER_AGENT = "netmon (self-hosted monitoring)"

# Discord's limits for webhook messages
EMBEDS_PER_MESSAGE = 10
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
MESSAGE_CHARACTERS = 6000


@dataclass(frozen=True)
class Outcome:
    """What happened to one request.

    ``sent``: accepted. ``retry_after``: rate limited, try again then (seconds).
    ``transient``: worth retrying later. ``payload``: the message itself was
    refused; don't retry it. ``broken``: the channel is misconfigured; stop.
    """

    kind: str
    error: str = ""
    retry_after: float = 0.0

    @property
    def sent(self) -> bool:
        return self.kind == "sent"


SENT = Outcome("sent")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def truncate_markdown(text: str, limit: int) -> str:
    """``truncate``, but a code block cut open is closed again (within ``limit``)."""
    if len(text) <= limit:
        return text
    cut = truncate(text, limit)
    if cut.count("```") % 2:
        cut = text[: limit - 5] + "…\n```"
    return cut


class Transport:
    """A channel kind: its message format and its limits.

    The limits, kept by alerts/delivery.py for each channel of the kind: ``max_batch``
    alerts in one message; ``per_minute`` messages in any 60 s; ``burst``, if set, at
    most ``count`` messages in any ``seconds``; and ``spacing``, the least time between
    two messages, which spreads a storm evenly instead of spending the minute's budget at
    once and then stalling. Every attempt counts, failed ones too (the receiver counts
    them), so the spacing also spaces a failing channel's probes.
    """

    max_batch: int
    per_minute: int
    burst: tuple[int, float] | None
    spacing: float

    def __init__(self, channel: Channel):
        self.channel = channel

    @property
    def windows(self) -> list[tuple[int, float]]:
        """The sliding windows as (messages, seconds) that a channel's sends must fit in."""
        return [(self.per_minute, 60.0), *([self.burst] if self.burst else [])]

    def batches(self, alerts: list[Alert]) -> list[list[Alert]]:
        """Split alerts, in order, into messages."""
        size = self.max_batch
        return [alerts[i : i + size] for i in range(0, len(alerts), size)]

    def send(self, alerts: list[Alert]) -> Outcome:
        raise NotImplementedError


class HttpTransport(Transport):
    def payload(self, alerts: list[Alert]) -> dict:
        raise NotImplementedError

    def send(self, alerts: list[Alert]) -> Outcome:
        url = self.channel.target_url
        if not url:
            return Outcome("broken", "no webhook URL configured")
        try:
            response = requests.post(
                url,
                json=self.payload(alerts),
                timeout=self.channel.request_timeout,
                headers={"User-Agent": USER_AGENT},
                allow_redirects=False,
            )
        except requests.RequestException as error:
            # Exception texts carry the URL, i.e. the secret: log the class only.
            return Outcome("transient", f"{error.__class__.__name__} calling {mask_url(url)}")
        return outcome_of(response)


def _retry_after(response: requests.Response) -> float:
    try:
        return float(response.json().get("retry_after"))
    except (ValueError, TypeError, AttributeError):
        pass
    header = response.headers.get("Retry-After", "")
    try:
        return float(header)
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(header) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return 5.0


def outcome_of(response: requests.Response) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return SENT
    kind = refusal_kind(status)
    retry_after = _retry_after(response) if kind == "rate_limited" else 0.0
    return Outcome(kind, f"HTTP {status}: {response.text[:200]}", retry_after=retry_after)


def refusal_kind(status: int) -> str:
    """What a non-2xx HTTP status means for the delivery engine (an ``Outcome`` kind)."""
    if status == 429:
        return "rate_limited"
    if status in (401, 403, 404, 410):
        return "broken"
    if status >= 500 or status == 408:
        return "transient"
    return "payload"


class DiscordTransport(HttpTransport):
    """Discord webhook messages of up to 10 embeds, outside text escaped (alerts/markup.py).

    Discord's limits for a webhook: about 5 requests per 2 s (its rate-limit headers say
    so) and 30 messages a minute per channel. Messages are spaced
    ``DISCORD_MESSAGE_SPACING_SECONDS`` apart, 2 s by default: 30 a minute, evenly.
    """

    max_batch = EMBEDS_PER_MESSAGE
    per_minute = 30
    burst = (5, 2.0)

    @property
    def spacing(self) -> float:
        return settings.DISCORD_MESSAGE_SPACING_SECONDS

    def batches(self, alerts: list[Alert]) -> list[list[Alert]]:
        return discord_batches(alerts)

    def payload(self, alerts: list[Alert]) -> dict:
        embeds: list[dict] = []
        total = 0
        for alert in alerts:
            embed = discord_embed(alert)
            size = embed_characters(embed)
            if embeds and total + size > MESSAGE_CHARACTERS:
                break  # the caller sizes batches; this only guards the limit
            embeds.append(embed)
            total += size
        return {
            "username": "netmon",
            "embeds": embeds,
            "allowed_mentions": {"parse": list(settings.DISCORD_ALLOWED_MENTIONS)},
        }


def markup_texts(alert: Alert) -> tuple[Text, list[tuple[str, Text]]]:
    """The description and field values as alerts/markup.py texts.

    An alert queued before markup existed has only plain text: each of its texts is one
    data part, so every renderer escapes it whole.
    """
    markup = alert.markup or {}
    if "description" not in markup:
        return alert.description, [(str(name), str(value)) for name, value in alert.fields]
    return markup["description"], [(str(name), value) for name, value in markup["fields"]]


def rendered_texts(
    alert: Alert, render: Callable[[Text], str]
) -> tuple[str, list[tuple[str, str]]]:
    description, fields = markup_texts(alert)
    return render(description), [(name, render(value)) for name, value in fields]


def discord_embed(alert: Alert) -> dict:
    description, values = rendered_texts(alert, as_discord)
    fields = [
        {
            "name": truncate(discord_escape(name), FIELD_NAME_LIMIT) or "-",
            "value": truncate(value, FIELD_VALUE_LIMIT) or "-",
            "inline": len(value) <= 40,
        }
        for name, value in values[:FIELDS_LIMIT]
    ]
    embed = {
        "title": truncate(discord_escape(alert.title), TITLE_LIMIT),
        "description": truncate_markdown(description, DESCRIPTION_LIMIT),
        "color": SEVERITY_COLOURS.get(alert.severity, 0x95A5A6),
        "fields": fields,
        "timestamp": alert.created_at.isoformat(),
        "footer": {"text": f"netmon · {alert.get_kind_display()} · #{alert.pk}"},
    }
    if alert.url.startswith(("http://", "https://")):
        embed["url"] = alert.url
    shrink_embed(embed)
    return embed


def embed_characters(embed: dict) -> int:
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("footer", {}).get("text", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    )


def shrink_embed(embed: dict) -> None:
    """Fit one embed into a message's 6000 characters: drop fields, then cut the text."""
    while embed_characters(embed) > MESSAGE_CHARACTERS and embed["fields"]:
        embed["fields"].pop()
    excess = embed_characters(embed) - MESSAGE_CHARACTERS
    if excess > 0:
        limit = len(embed["description"]) - excess
        embed["description"] = truncate_markdown(embed["description"], limit)


def discord_batches(alerts: list[Alert]) -> list[list[Alert]]:
    """Split alerts, in order, into messages within Discord's embed and character limits."""
    batches: list[list[Alert]] = []
    current: list[Alert] = []
    total = 0
    for alert in alerts:
        size = embed_characters(discord_embed(alert))
        if current and (len(current) == EMBEDS_PER_MESSAGE or total + size > MESSAGE_CHARACTERS):
            batches.append(current)
            current, total = [], 0
        current.append(alert)
        total += size
    if current:
        batches.append(current)
    return batches


PAYLOAD_VERSION = 1


class WebhookTransport(HttpTransport):
    """A generic JSON webhook: ``{"source": "netmon", "version": 1, "alerts": [...]}``.

    Every text as written (no markdown, no escapes); moments also typed, as ISO 8601 UTC
    (``created_at``, a field's ``at``). ``version`` changes only when a key changes
    meaning or goes away; keys may be added within a version. docs/alert-payloads.md
    has the schema.

    The receiver is the user's own service: much more than Discord's 30 a minute, still
    bounded so that a storm cannot hammer it.
    """

    max_batch = 50
    per_minute = 120
    burst = (10, 1.0)
    spacing = 0.0

    def payload(self, alerts: list[Alert]) -> dict:
        return {
            "source": "netmon",
            "version": PAYLOAD_VERSION,
            "alerts": [webhook_alert(alert) for alert in alerts],
        }


def webhook_alert(alert: Alert) -> dict:
    _, fields = markup_texts(alert)
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
        "description": alert.description,
        "host_id": alert.host.host_id if alert.host else None,
        # Kept from the unversioned payload: a name may repeat, and then the last wins.
        "fields": {name: value for name, value in alert.fields},
        "field_list": [webhook_field(name, value) for name, value in fields],
        "url": alert.url,
        "created_at": alert.created_at.isoformat(),
    }


def webhook_field(name: str, value: Text) -> dict:
    field = {"name": name, "value": as_plain(value)}
    if moments := times(value):
        field["at"] = moments[0].isoformat()
    return field


class EmailTransport(Transport):
    """Email: plain text and HTML (multipart/alternative), one mail per batch.

    The text part has the texts as written; the HTML part renders the markup with every
    outside text escaped (alerts/markup.py ``as_html``). The subject stays on one line: a
    CR/LF in a title would be a header injection.

    An inbox is read by a person: at most one mail every 15 s (4 a minute), each with
    every alert due, up to 100. A storm of alerts becomes a few long mails, not hundreds.
    """

    max_batch = 100
    per_minute = 4
    burst = None
    spacing = 15.0

    def send(self, alerts: list[Alert]) -> Outcome:
        recipients = [a.strip() for a in self.channel.email_to.split(",") if a.strip()]
        subject = email_subject(alerts)
        message = EmailMultiAlternatives(subject, email_text(alerts), None, recipients)
        message.attach_alternative(email_html(alerts, subject), "text/html")
        try:
            message.send()
        except (OSError, ValueError) as error:
            return Outcome("transient", f"{error.__class__.__name__}: {error}"[:300])
        return SENT


def email_subject(alerts: list[Alert]) -> str:
    subject = alerts[0].title if len(alerts) == 1 else f"{len(alerts)} netmon alerts"
    return truncate(" ".join(subject.split()), 200)


def email_text(alerts: list[Alert]) -> str:
    return "\n\n".join(
        "\n".join(
            [f"{alert.title}", alert.description, ""]
            + [f"{name}: {value}" for name, value in alert.fields]
            + ([alert.url] if alert.url else [])
        )
        for alert in alerts
    )


def email_html(alerts: list[Alert], subject: str) -> str:
    body = "\n".join(alert_html(alert) for alert in alerts)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html_escape(subject)}</title></head>\n"
        '<body style="font-family: sans-serif; line-height: 1.4">\n'
        f"{body}\n</body></html>\n"
    )


def alert_html(alert: Alert) -> str:
    description, fields = rendered_texts(alert, as_html)
    colour = SEVERITY_COLOURS.get(alert.severity, 0x95A5A6)
    rows = "".join(
        f'<tr><th style="text-align: left; vertical-align: top; padding-right: 12px">'
        f"{html_escape(name)}</th><td>{value}</td></tr>\n"
        for name, value in fields
    )
    link = ""
    if alert.url.startswith(("http://", "https://")):
        link = f'<p><a href="{escape(alert.url)}">Open in netmon</a></p>\n'
    return (
        f'<div style="border-left: 4px solid #{colour:06x}; padding-left: 12px; '
        'margin-bottom: 24px">\n'
        f'<h2 style="margin: 0 0 4px">{html_escape(alert.title)}</h2>\n'
        f'<p style="margin: 0 0 8px; color: #666">{alert.get_severity_display()} · '
        f"{alert.get_kind_display()} · #{alert.pk} · "
        f'<time datetime="{alert.created_at.isoformat()}">'
        f"{alert.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC</time></p>\n"
        f"<div>{description}</div>\n"
        + (f"<table>\n{rows}</table>\n" if rows else "")
        + link
        + "</div>"
    )


APPRISE_BATCH = 10
# Services show the sender's name (Mattermost's username, for one) as Apprise's app id.
APPRISE_ASSET = apprise.AppriseAsset(app_id="netmon", app_desc="netmon")
# Apprise does not pass a 429's Retry-After on: wait this long instead.
APPRISE_RETRY_AFTER_SECONDS = 30.0
# The status Apprise's plugins log for a refused request: "…, error=429." Some pass on
# the service's own code instead, ntfy's five digits (42901: HTTP 429, reason 01).
APPRISE_STATUS = re.compile(r"\berror=(\d{3})(\d\d)?\b")
# Most severe first: one target of a URL that is broken decides, even if another only
# failed for now; a refusal of the message decides only when nothing else went wrong.
APPRISE_PRECEDENCE = ("broken", "rate_limited", "transient", "payload")
RECOVERY_KINDS = {
    AlertKind.HOST_UP,
    AlertKind.HOST_STABLE,
    AlertKind.OUTAGE_ENDED,
    AlertKind.LOG_ANALYSIS_OK,
}


class AppriseTransport(Transport):
    """Any service Apprise speaks (ntfy, Gotify, Telegram, Slack, Matrix, …), by its URL.

    One notification per batch of up to 10 alerts: a title (the alert's, or "N netmon
    alerts") and a plain-text body. Apprise turns plain text into what the service
    renders, escaping it on the way (text to markdown or HTML) where it knows the service
    renders markup; some render markdown and mentions even in plain text (Mattermost,
    Rocket.Chat), so outside text also gets a zero-width space after each ``@`` and in
    ``://`` (``markup.unlinked``): no mention pings, no outsider's URL is linked.

    The services behind Apprise are chat apps and push services read by people, with
    limits of their own that netmon cannot ask about: 30 messages a minute, 2 s apart,
    as for Discord. Apprise retries nothing here (the delivery engine does) and reports a
    refusal only in its log lines, which name the URL: the outcome is read from the status
    code in them, and its error is netmon's own sentence.
    """

    max_batch = APPRISE_BATCH
    per_minute = 30
    burst = (5, 2.0)
    spacing = 2.0

    def send(self, alerts: list[Alert]) -> Outcome:
        service = self.service()
        if service is None:
            return Outcome("broken", f"{self.target()} is not a valid Apprise URL")
        notifier = apprise.Apprise()
        notifier.add(service)
        result = notifier.notify(
            body=apprise_body(alerts),
            title=apprise_title(alerts),
            notify_type=apprise_type(alerts),
            body_format=apprise.NotifyFormat.TEXT,
        )
        if result:
            return SENT
        return self.refusal([entry.message for entry in result.logs()])

    def service(self) -> apprise.NotifyBase | None:
        """The URL's notifier, on netmon's terms whatever the URL's arguments say.

        netmon's timeouts (``cto``/``rto`` would decide how long a probe hangs), no retries
        of Apprise's own (``retry`` would resend behind the engine's back), a failure is one
        (``optional`` reports it as success), and a message too long for the service is cut
        (``overflow=split`` would send several, and a retry after a half-sent one repeats
        the half that arrived).
        """
        service = apprise.Apprise.instantiate(self.channel.url, asset=APPRISE_ASSET)
        if not service:
            return None
        timeout = self.channel.request_timeout
        service.socket_connect_timeout = service.socket_read_timeout = timeout
        service.retry = 0
        service.optional = False
        service.overflow_mode = apprise.OverflowMode.TRUNCATE
        return service

    def target(self) -> str:
        return self.channel.masked_target

    def refusal(self, log_lines: list[str]) -> Outcome:
        """The outcome of a failed notification, from the log lines Apprise captured."""
        statuses = [int(m[1]) for line in log_lines for m in APPRISE_STATUS.finditer(line)]
        if not statuses:
            # No status: no answer (refused, timed out, name not resolved), or a failure
            # Apprise gives no status for. Retrying loses nothing; the engine probes.
            return Outcome("transient", f"{self.target()} did not answer")
        by_kind = {refusal_kind(status): status for status in reversed(statuses)}
        kind = next(kind for kind in APPRISE_PRECEDENCE if kind in by_kind)
        status = by_kind[kind]
        error = f"{self.target()} answered HTTP {status}"
        retry_after = APPRISE_RETRY_AFTER_SECONDS if kind == "rate_limited" else 0.0
        return Outcome(kind, error, retry_after=retry_after)


def apprise_title(alerts: list[Alert]) -> str:
    """One line, as an email's subject: a line break in a title is no new field."""
    return unlinked(email_subject(alerts))


def apprise_body(alerts: list[Alert]) -> str:
    return "\n\n".join(apprise_text(alert, with_title=len(alerts) > 1) for alert in alerts)


def apprise_text(alert: Alert, with_title: bool) -> str:
    description, fields = rendered_texts(alert, as_inert)
    lines = [unlinked(alert.title)] if with_title else []
    lines += [description] if description else []
    lines += [f"{name}: {value}" for name, value in fields]
    lines += [alert.url] if alert.url else []
    lines.append(
        f"netmon · {alert.get_severity_display()} · {alert.get_kind_display()} · #{alert.pk}"
    )
    return "\n".join(lines)


def apprise_type(alerts: list[Alert]) -> apprise.NotifyType:
    """The service's colour or icon: the batch's most severe alert, green for recoveries."""
    severities = {alert.severity for alert in alerts}
    if severities & {Severity.ERROR, Severity.CRITICAL}:
        return apprise.NotifyType.FAILURE
    if Severity.WARNING in severities:
        return apprise.NotifyType.WARNING
    if all(alert.kind in RECOVERY_KINDS for alert in alerts):
        return apprise.NotifyType.SUCCESS
    return apprise.NotifyType.INFO


TRANSPORTS: dict[str, type[Transport]] = {
    ChannelKind.DISCORD: DiscordTransport,
    ChannelKind.WEBHOOK: WebhookTransport,
    ChannelKind.EMAIL: EmailTransport,
    ChannelKind.APPRISE: AppriseTransport,
}


def transport_for(channel: Channel) -> Transport:
    return TRANSPORTS[channel.kind](channel)
