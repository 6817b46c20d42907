from rest_framework import serializers

from heartbeats.models import Heartbeat, Run
from heartbeats.querysets import RunState


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
    state = serializers.ChoiceField(
        choices=RunState.choices,
        read_only=True,
        help_text="unfinished: started and never closed (its host went down as "
        '"started but never finished", or a later start replaced it)',
    )

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
            "state",
        ]
        extra_kwargs = {
            "finished_at": {"help_text": "null: not finished (yet, or ever)"},
            "duration_seconds": {"help_text": "from the start to its finish"},
        }
