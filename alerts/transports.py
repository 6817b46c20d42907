"""Notification channels: each turns a batch of alerts into one request.

A transport never raises for a delivery problem: it returns an ``Outcome`` that
says what the delivery engine should do next.
"""

from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from alerts.choices import SEVERITY_COLOURS, ChannelKind
from alerts.markup import as_discord, discord_escape
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
    max_batch = 1

    def __init__(self, channel: Channel):
        self.channel = channel

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
    summary = f"HTTP {status}: {response.text[:200]}"
    if 200 <= status < 300:
        return SENT
    if status == 429:
        return Outcome("rate_limited", summary, retry_after=_retry_after(response))
    if status in (401, 403, 404, 410):
        return Outcome("broken", summary)
    if status >= 500 or status == 408:
        return Outcome("transient", summary)
    return Outcome("payload", summary)


class DiscordTransport(HttpTransport):
    max_batch = EMBEDS_PER_MESSAGE

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


def discord_texts(alert: Alert) -> tuple[str, list[tuple[str, str]]]:
    """The description and field values as Discord markdown, outside text escaped.

    From the alert's markup; an alert without one (queued before it existed) has only
    plain text, which is escaped whole.
    """
    markup = alert.markup or {}
    if "description" not in markup:
        fields = [(str(name), discord_escape(str(value))) for name, value in alert.fields]
        return discord_escape(alert.description), fields
    fields = [(str(name), as_discord(value)) for name, value in markup["fields"]]
    return as_discord(markup["description"]), fields


def discord_embed(alert: Alert) -> dict:
    description, values = discord_texts(alert)
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


class WebhookTransport(HttpTransport):
    """A generic JSON webhook: ``{"alerts": [...]}``, every text as written (no markdown)."""

    max_batch = 50

    def payload(self, alerts: list[Alert]) -> dict:
        return {
            "source": "netmon",
            "alerts": [
                {
                    "id": alert.pk,
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "title": alert.title,
                    "description": alert.description,
                    "host_id": alert.host.host_id if alert.host else None,
                    "fields": {name: value for name, value in alert.fields},
                    "url": alert.url,
                    "created_at": alert.created_at.isoformat(),
                }
                for alert in alerts
            ],
        }


class EmailTransport(Transport):
    """Plain-text email (no HTML part): texts as written; the subject on one line."""

    max_batch = 50

    def send(self, alerts: list[Alert]) -> Outcome:
        recipients = [a.strip() for a in self.channel.email_to.split(",") if a.strip()]
        subject = alerts[0].title if len(alerts) == 1 else f"{len(alerts)} netmon alerts"
        subject = " ".join(subject.split())  # a CR/LF would be a header injection
        body = "\n\n".join(
            "\n".join(
                [f"{alert.title}", alert.description, ""]
                + [f"{name}: {value}" for name, value in alert.fields]
                + ([alert.url] if alert.url else [])
            )
            for alert in alerts
        )
        try:
            send_mail(truncate(subject, 200), body, None, recipients)
        except (OSError, ValueError) as error:
            return Outcome("transient", f"{error.__class__.__name__}: {error}"[:300])
        return SENT


TRANSPORTS: dict[str, type[Transport]] = {
    ChannelKind.DISCORD: DiscordTransport,
    ChannelKind.WEBHOOK: WebhookTransport,
    ChannelKind.EMAIL: EmailTransport,
}


def transport_for(channel: Channel) -> Transport:
    return TRANSPORTS[channel.kind](channel)


def batches_for(channel: Channel, alerts: list[Alert]) -> list[list[Alert]]:
    if channel.kind == ChannelKind.DISCORD:
        return discord_batches(alerts)
    size = TRANSPORTS[channel.kind].max_batch
    return [alerts[i : i + size] for i in range(0, len(alerts), size)]
