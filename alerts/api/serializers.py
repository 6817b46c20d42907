from copy import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.models import Alert, Channel, Delivery
from hosts.models import Host


class DeliverySerializer(serializers.ModelSerializer):
    channel = serializers.CharField(source="channel.name")

    class Meta:
        model = Delivery
        fields = ["channel", "state", "attempts", "last_error", "next_attempt_at", "sent_at"]


class AlertSerializer(serializers.ModelSerializer):
    host_id = serializers.CharField(source="host.host_id", default=None)
    deliveries = DeliverySerializer(many=True, read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "kind",
            "severity",
            "state",
            "host_id",
            "title",
            "description",
            "fields",
            "url",
            "created_at",
            "acknowledged_at",
            "acknowledged_by",
            "deliveries",
        ]


class ChannelRouteSerializer(serializers.Serializer):
    """One channel that receives some kinds of a host's alerts (read-only: answers only)."""

    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    target = serializers.CharField(help_text="Masked: a channel's URL is a secret.")
    min_severity = serializers.ChoiceField(choices=Severity.choices)
    alert_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=AlertKind.choices),
        help_text="The kinds this channel receives, at or above min_severity.",
    )
    matched_tags = serializers.ListField(
        child=serializers.CharField(),
        help_text="The host's tags that chose this channel.",
    )
    lists_host = serializers.BooleanField(
        help_text="The channel lists the host itself. No tag and not listed: a default channel."
    )
    quiet_hours = serializers.CharField(help_text="Empty: none.")
    reminder_interval_seconds = serializers.IntegerField(
        help_text='Seconds between its "still down" reminders; 0: none.'
    )


class RoutesSerializer(serializers.Serializer):
    host_id = serializers.CharField(allow_null=True, help_text="null: alerts without a host.")
    tags = serializers.ListField(child=serializers.CharField())
    channels = ChannelRouteSerializer(many=True)
    unrouted_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=AlertKind.choices),
        help_text="Kinds that no channel receives, whatever their severity.",
    )


class ChannelSerializer(serializers.ModelSerializer):
    """A channel with its routing rules, quiet hours and delivery state.

    ``url`` is write-only: a channel's URL is a secret, answered only as ``target``, masked.
    Omitted on an update, it stays as it is. The model's checks (``Channel.clean``) decide
    what is valid, as in the admin and on the channels page.
    """

    url = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=500,
        help_text="Webhook URL, or Apprise URL (ntfy://…, tgram://…). Write-only.",
    )
    target = serializers.CharField(source="masked_target", read_only=True)
    hosts = serializers.SlugRelatedField(
        slug_field="host_id",
        queryset=Host.objects.all(),
        many=True,
        required=False,
        help_text="host_ids whose alerts this channel receives, whatever their tags.",
    )
    alert_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=AlertKind.choices),
        required=False,
        help_text="The kinds this channel receives; empty: all kinds.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(trim_whitespace=False),
        required=False,
        help_text="Receives the alerts of hosts with one of these tags.",
    )
    state = serializers.SerializerMethodField(
        help_text="working, failing (since failing_since), broken (since broken_at) or disabled."
    )
    backlog = serializers.IntegerField(read_only=True, help_text="Deliveries pending.")
    last_delivery_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Channel
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "target",
            "email_to",
            "enabled",
            "min_severity",
            "alert_kinds",
            "tags",
            "hosts",
            "default",
            "reminder_interval_seconds",
            "quiet_from",
            "quiet_until",
            "quiet_timezone",
            "quiet_min_severity",
            "from_environment",
            "state",
            "failing_since",
            "broken_at",
            "broken_reason",
            "backlog",
            "last_delivery_at",
            "created_at",
        ]
        read_only_fields = [
            "from_environment",
            "failing_since",
            "broken_at",
            "broken_reason",
            "created_at",
        ]

    def get_state(self, channel: Channel) -> str:
        return channel.health[0]

    def validate(self, attrs: dict) -> dict:
        channel = copy(self.instance) if self.instance is not None else Channel()
        if channel.from_environment and attrs.get("url"):
            raise serializers.ValidationError(
                {"url": "This channel's URL is DISCORD_WEBHOOK_URL: change it there."}
            )
        if "url" in attrs and not attrs["url"] and self.instance is not None:
            attrs.pop("url")  # empty on an update: keep the URL
        for name, value in attrs.items():
            if name != "hosts":
                setattr(channel, name, value)
        hosts = attrs.get("hosts")
        if hosts is None:
            hosts = list(channel.hosts.all()) if channel.pk else []
        try:
            channel.clean()
            Channel.check_receives_something(channel.tags, hosts, channel.default)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        if self.instance is not None and attrs:
            attrs.update(broken_at=None, broken_reason="")  # new settings get another chance
        return attrs


class ChannelTestSerializer(serializers.Serializer):
    delivered = serializers.BooleanField()
    level = serializers.ChoiceField(
        choices=["success", "warning", "error"],
        help_text="warning: not delivered yet, it stays queued and is retried.",
    )
    text = serializers.CharField(help_text="What the channel answered, its URL masked.")
