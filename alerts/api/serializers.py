from rest_framework import serializers

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
