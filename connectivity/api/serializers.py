from django.utils import timezone
from rest_framework import serializers

from connectivity.models import ConnectivityCheck, Outage


class TargetResultSerializer(serializers.Serializer):
    target = serializers.CharField()
    kind = serializers.ChoiceField(choices=["http", "tcp", "dns"])
    ok = serializers.BooleanField()
    address = serializers.CharField()
    dns_ms = serializers.IntegerField(allow_null=True)
    tcp_ms = serializers.IntegerField(allow_null=True)
    http_ms = serializers.IntegerField(allow_null=True)
    http_status = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    failed_step = serializers.CharField()
    error = serializers.CharField()


class CheckSerializer(serializers.ModelSerializer):
    results = TargetResultSerializer(many=True, read_only=True)

    class Meta:
        model = ConnectivityCheck
        fields = [
            "id",
            "checked_at",
            "link_up",
            "targets_total",
            "targets_failed",
            "duration_ms",
            "summary",
            "outage",
            "results",
        ]


class FailingTargetSerializer(serializers.Serializer):
    target = serializers.CharField()
    failures = serializers.IntegerField()
    error = serializers.CharField()


class OutageSerializer(serializers.ModelSerializer):
    ongoing = serializers.BooleanField(read_only=True)
    duration_seconds = serializers.SerializerMethodField()
    failing_targets = FailingTargetSerializer(many=True, read_only=True)

    class Meta:
        model = Outage
        fields = [
            "id",
            "started_at",
            "ended_at",
            "ongoing",
            "duration_seconds",
            "opened_at",
            "failed_checks",
            "failing_targets",
        ]

    def get_duration_seconds(self, outage: Outage) -> int:
        """Until now for an ongoing outage."""
        return int(outage.duration(timezone.now()).total_seconds())


class StatusSerializer(serializers.Serializer):
    enabled = serializers.BooleanField()
    link = serializers.ChoiceField(
        choices=["up", "down", "unknown"], help_text="verdict of the last recent check"
    )
    stale = serializers.BooleanField(help_text="the last check is too old to say anything")
    failure_streak = serializers.IntegerField()
    success_streak = serializers.IntegerField()
    last_check = CheckSerializer(allow_null=True)
    open_outage = OutageSerializer(allow_null=True)
    uptime = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text='"24h", "7d", "30d": percent of the monitored time the link was up',
    )
    monitored_since = serializers.DateTimeField(allow_null=True)
    check_interval_minutes = serializers.IntegerField()
    targets = serializers.ListField(child=serializers.CharField())
