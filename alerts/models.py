import logging
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, available_timezones

import apprise
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.utils.timezone import now

from alerts.choices import AlertKind, AlertState, ChannelKind, DeliveryState, Severity
from alerts.querysets import ChannelQuerySet
from alerts.quiet_hours import quiet_end
from hosts.models import Host
from hosts.validators import tags_problem, validate_single_line

ENVIRONMENT_CHANNEL_NAME = "Discord (DISCORD_WEBHOOK_URL)"

# Alerts about the network and netmon itself: they have no host, so no tags to route by.
HOSTLESS_KINDS = (AlertKind.OUTAGE_STARTED, AlertKind.OUTAGE_ENDED, AlertKind.SYSTEM)
HOST_KINDS = tuple(kind for kind in AlertKind if kind not in HOSTLESS_KINDS)
SEVERITY_RANK = {value: rank for rank, value in enumerate(Severity.values)}

# Apprise's own log lines name the URL it sends to, and an Apprise URL is the channel's
# secret (a token, a topic): they must not reach netmon's logs. Apprise still hands them
# to the caller of each notify() (alerts/transports.py reads the status codes there).
_apprise_log = logging.getLogger(apprise.logger.name)
_apprise_log.propagate = False
_apprise_log.addHandler(logging.NullHandler())

http_url = URLValidator(schemes=["http", "https"])


def mask_url(url: str) -> str:
    """A webhook URL with its secret parts hidden, for logs and pages.

    Discord's ``/api/webhooks/<id>/<token>`` keeps its id; any other URL shows
    only scheme and host, as its secret may sit anywhere in path or query.
    """
    if not url:
        return ""
    parts = urlsplit(url)
    head, marker, rest = parts.path.partition("/webhooks/")
    shown = f"{head}{marker}{rest.split('/')[0]}/" if marker and "/" in rest else "/"
    return f"{parts.scheme}://{parts.netloc}{shown}****"


def mask_apprise_url(url: str) -> str:
    """Only the scheme (the service) of an Apprise URL: its secret may be anywhere after it."""
    scheme, marker, _ = url.partition("://")
    return f"{scheme.lower()}://****" if marker and scheme.isalnum() else "****"


def apprise_accepts(url: str) -> bool:
    """Whether Apprise knows the URL's service and can parse what the service needs.

    Nothing is sent: Apprise only parses the URL and builds its notifier.
    """
    return apprise.Apprise().add(url)


class Channel(models.Model):
    """Where alerts go. Delivery bookkeeping (lease, rate limit, breakage) lives here too."""

    name = models.CharField(max_length=100, validators=[validate_single_line])
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    # Not a URLField: an Apprise URL has its service's scheme (ntfy://, tgram://, …).
    # ``clean`` validates the URL for the channel's kind.
    url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Webhook URL, or Apprise URL for Apprise channels (a secret: shown masked)",
    )
    email_to = models.CharField(
        max_length=500, blank=True, help_text="Comma-separated addresses for email channels"
    )
    from_environment = models.BooleanField(default=False, editable=False)
    enabled = models.BooleanField(default=True)
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.INFO)
    # Routing rules, applied by ``routes_for``.
    alert_kinds = models.JSONField(
        default=list, blank=True, help_text="Alert kinds this channel receives; none: all kinds"
    )
    tags = models.JSONField(
        default=list, blank=True, help_text="Receives the alerts of hosts with one of these tags"
    )
    hosts = models.ManyToManyField(
        Host,
        blank=True,
        related_name="channels",
        help_text="Receives the alerts of these hosts, as if they had one of the tags",
    )
    default = models.BooleanField(
        default=True,
        help_text="Receives the alerts of hosts whose tags name no channel, and alerts "
        "without a host (internet outages, netmon's own problems)",
    )
    reminder_interval_seconds = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text='Seconds between "still down" reminders here; empty: '
        "REMINDER_INTERVAL_SECONDS; 0: no reminders",
    )
    # Quiet hours: a daily period (channel's time zone) in which alerts below
    # ``quiet_min_severity`` wait for its end instead of going out (``held_until``).
    quiet_from = models.TimeField(null=True, blank=True, help_text="Quiet hours start, e.g. 22:00")
    quiet_until = models.TimeField(null=True, blank=True, help_text="Quiet hours end, e.g. 07:00")
    quiet_timezone = models.CharField(
        max_length=64, blank=True, help_text="IANA time zone of the quiet hours; empty: UTC"
    )
    quiet_min_severity = models.CharField(
        max_length=10,
        choices=Severity.choices,
        default=Severity.CRITICAL,
        help_text="During quiet hours, alerts of at least this severity still go out at once",
    )
    broken_at = models.DateTimeField(null=True, blank=True)
    broken_reason = models.CharField(max_length=300, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    lease_token = models.CharField(max_length=32, blank=True, editable=False)
    send_after = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    recent_sends = models.JSONField(default=list, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChannelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        """Validate the URL for the kind. Messages never repeat the URL: it is a secret."""
        if self.kind in (ChannelKind.DISCORD, ChannelKind.WEBHOOK):
            if not (self.url or self.from_environment):
                raise ValidationError({"url": "A webhook URL is required."})
            if self.url:
                try:
                    http_url(self.url)
                except ValidationError:
                    raise ValidationError({"url": "Enter a valid http(s) URL."}) from None
        if self.kind == ChannelKind.APPRISE:
            if not self.url:
                raise ValidationError({"url": "An Apprise URL is required."})
            if not apprise_accepts(self.url):
                raise ValidationError(
                    {"url": "Apprise does not know this URL's service, or the URL is incomplete."}
                )
        if self.kind == ChannelKind.EMAIL:
            addresses = [a.strip() for a in self.email_to.split(",") if a.strip()]
            if not addresses:
                raise ValidationError({"email_to": "At least one address is required."})
            for address in addresses:
                try:
                    validate_email(address)
                except ValidationError:
                    raise ValidationError(
                        {"email_to": "Enter addresses like ops@example.com, separated by commas."}
                    ) from None
        self.clean_routing()

    def clean_routing(self) -> None:
        """The routing rules: known kinds, tags as hosts may have them (hosts/validators.py),
        quiet hours that are a period in a known time zone."""
        errors: dict[str, str] = {}
        kinds = self.alert_kinds
        if not isinstance(kinds, list) or any(kind not in AlertKind.values for kind in kinds):
            errors["alert_kinds"] = f"A list of alert kinds, from {AlertKind.values}."
        if problem := tags_problem(self.tags):
            errors["tags"] = problem
        if (self.quiet_from is None) != (self.quiet_until is None):
            field = "quiet_until" if self.quiet_until is None else "quiet_from"
            errors[field] = "Quiet hours need both a start and an end."
        elif self.quiet_from is not None and self.quiet_from == self.quiet_until:
            errors["quiet_until"] = "Quiet hours must end at another time than they start."
        if self.quiet_timezone and self.quiet_timezone not in available_timezones():
            errors["quiet_timezone"] = "An IANA time zone such as Europe/Berlin."
        if errors:
            raise ValidationError(errors)

    @staticmethod
    def check_receives_something(tags: list, hosts: list, default: bool) -> None:
        """A channel with neither tags nor hosts that is not a default channel would never
        receive anything: a mistake rather than a wish, since ``enabled`` is the switch for
        "nothing". Checked by the forms and the API, which know the hosts being saved (the
        model's ``clean`` runs before a form has saved them)."""
        if not tags and not hosts and not default:
            raise ValidationError(
                {
                    "default": "A channel without tags or hosts receives only what default "
                    "channels receive: give it tags or hosts, or make it a default channel."
                }
            )

    @property
    def reminder_interval(self) -> int:
        """Seconds between reminders on this channel (0: none)."""
        if self.reminder_interval_seconds is None:
            return settings.REMINDER_INTERVAL_SECONDS
        return self.reminder_interval_seconds

    def held_until(self, severity: str, at: datetime) -> datetime | None:
        """When an alert of ``severity`` made at ``at`` may go out, if quiet hours hold it."""
        if self.quiet_from is None or self.quiet_until is None:
            return None
        if SEVERITY_RANK[severity] >= SEVERITY_RANK[self.quiet_min_severity]:
            return None
        zone = ZoneInfo(self.quiet_timezone or "UTC")
        return quiet_end(at, self.quiet_from, self.quiet_until, zone)

    @property
    def health(self) -> tuple[str, datetime | None]:
        """What the channels page shows: (state, since) with state one of disabled,
        broken, failing and working."""
        if not self.enabled:
            return "disabled", None
        if self.broken_at is not None:
            return "broken", self.broken_at
        if self.consecutive_failures:
            return "failing", self.failing_since
        return "working", None

    @property
    def target_url(self) -> str:
        return settings.DISCORD_WEBHOOK_URL if self.from_environment else self.url

    @property
    def masked_target(self) -> str:
        if self.kind == ChannelKind.EMAIL:
            return self.email_to
        if self.kind == ChannelKind.APPRISE:
            return mask_apprise_url(self.url)
        return mask_url(self.target_url)

    @property
    def request_timeout(self) -> float:
        """Seconds a request to this channel may take to connect, and to answer.

        While the channel fails, each request is a probe: one that hangs longer than the
        probe interval would only delay noticing that the channel is back.
        """
        if self.consecutive_failures:
            return min(settings.ALERT_HTTP_TIMEOUT_SECONDS, settings.ALERT_PROBE_INTERVAL_SECONDS)
        return settings.ALERT_HTTP_TIMEOUT_SECONDS

    @classmethod
    def routing_targets(cls) -> list["Channel"]:
        """Channels that new alerts are queued for (broken ones too: they get fixed)."""
        channels = cls.objects.filter(enabled=True).list_with_host_ids()
        if not settings.DISCORD_WEBHOOK_URL:
            return [c for c in channels if not c.from_environment]
        if not any(c.from_environment for c in channels):  # first use, or disabled
            environment, _ = cls.objects.get_or_create(
                from_environment=True,
                defaults={"name": ENVIRONMENT_CHANNEL_NAME, "kind": ChannelKind.DISCORD},
            )
            if environment.enabled:
                environment.host_ids = set()
                channels.append(environment)
        return channels

    @classmethod
    def routes_for(
        cls, kind: str, severity: str, host: Host | None, channels: list["Channel"] | None = None
    ) -> list["Channel"]:
        """The channels that receive an alert: the one place that decides it.

        1. Tags and hosts choose the channels of a host's alerts: every channel with a
           tag the host has, or that lists the host. A host no channel chose, and an
           alert without a host, go to the default channels (``default``) instead.
        2. Each chosen channel then takes the alert if it is of one of its ``alert_kinds``
           (none listed: all kinds) and at least its ``min_severity``.

        Tags choose before the filters apply, and there is no second choice: when a
        host's channels filter an alert out, it is not passed on to the default channels.
        That keeps a route what the tags say (the routes API shows it, with the kinds no
        channel takes for a host), and a team's channel that wants only some kinds does
        not spill the rest of its hosts' alerts onto everyone else's.

        Only enabled channels count (``routing_targets``, or ``channels`` when the caller
        has them already): a host whose only tagged channel is disabled goes to the
        default channels while it is off.
        """
        if channels is None:
            channels = cls.routing_targets()
        host_tags = set(host.tags or []) if host is not None else set()
        host_pk = host.pk if host is not None else None
        chosen = [c for c in channels if host_tags & set(c.tags or []) or host_pk in c.host_ids]
        if not chosen:
            chosen = [c for c in channels if c.default]
        return [
            c
            for c in chosen
            if (not c.alert_kinds or kind in c.alert_kinds)
            and SEVERITY_RANK[severity] >= SEVERITY_RANK[c.min_severity]
        ]

    def mark_broken(self, reason: str) -> None:
        self.broken_at = now()
        self.broken_reason = reason[:300]
        Channel.objects.filter(pk=self.pk).update(
            broken_at=self.broken_at, broken_reason=self.broken_reason
        )


class Alert(models.Model):
    """An alert in the outbox, written in the same transaction as the change it reports."""

    kind = models.CharField(max_length=20, choices=AlertKind.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts"
    )
    title = models.CharField(max_length=300)
    description = models.TextField(blank=True)
    fields = models.JSONField(default=list, blank=True, help_text="[[name, value], …]")
    url = models.CharField(max_length=500, blank=True)
    # Description and fields as alerts/markup.py texts: netmon's formatting as structure,
    # outside text as data, rendered by each transport. ``description`` and ``fields``
    # hold the same as plain text.
    markup = models.JSONField(default=dict, blank=True, editable=False)
    state = models.CharField(
        max_length=10, choices=AlertState.choices, default=AlertState.PENDING, db_index=True
    )
    created_at = models.DateTimeField(default=now, db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def refresh_state(self) -> None:
        states = set(self.deliveries.values_list("state", flat=True))
        if not states:
            state = AlertState.UNROUTED
        elif DeliveryState.PENDING in states:
            state = AlertState.PENDING
        elif DeliveryState.FAILED in states:
            state = AlertState.FAILED
        else:
            state = AlertState.DELIVERED
        if state != self.state:
            self.state = state
            Alert.objects.filter(pk=self.pk).update(state=state)

    def acknowledge(self, by: str) -> None:
        """Someone saw it: a host's "still down" reminders stop (hosts/alerting.py)."""
        if self.acknowledged_at is None:
            self.acknowledged_at = now()
            self.acknowledged_by = by[:150]
            self.save(update_fields=["acknowledged_at", "acknowledged_by"])


class Delivery(models.Model):
    """One alert on its way to one channel."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="deliveries")
    state = models.CharField(
        max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["alert__created_at", "alert_id"]
        constraints = [
            models.UniqueConstraint(fields=["alert", "channel"], name="one_delivery_per_channel")
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["channel", "state"], name="delivery_channel_state_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.alert} → {self.channel}"
