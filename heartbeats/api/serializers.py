from rest_framework import serializers

from heartbeats.models import Heartbeat, Run


class HeartbeatSerializer(serializers.ModelSerializer):
    class Meta:
        model = Heartbeat
        fields = [
            "id",
            "received_at",
            "source_ip",
            "user_agent",
            "body",
            "kind",
            "exit_status",
            "run_id",
        ]


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = Run
        fields = [
            "id",
            "run_id",
            "started_at",
            "finished_at",
            "duration_seconds",
            "exit_status",
            "failed",
        ]
        extra_kwargs = {
            "finished_at": {"help_text": "null: not finished (yet, or ever)"},
            "duration_seconds": {"help_text": "from the start to its finish"},
        }
