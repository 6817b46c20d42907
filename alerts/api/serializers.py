from rest_framework import serializers

from alerts.choices import AlertKind, ChannelKind, Severity
from alerts.models import Alert, Delivery


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
        help_text="The host's tags that chose this channel; empty: a default channel.",
    )


class RoutesSerializer(serializers.Serializer):
    host_id = serializers.CharField(allow_null=True, help_text="null: alerts without a host.")
    tags = serializers.ListField(child=serializers.CharField())
    channels = ChannelRouteSerializer(many=True)
    unrouted_kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=AlertKind.choices),
        help_text="Kinds that no channel receives, whatever their severity.",
    )
