from rest_framework import serializers

from heartbeats.models import Heartbeat


class HeartbeatSerializer(serializers.ModelSerializer):
    class Meta:
        model = Heartbeat
        fields = ["id", "received_at", "source_ip", "user_agent", "body"]
