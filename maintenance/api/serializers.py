from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework import serializers

from hosts.models import Host
from maintenance.models import MaintenanceWindow
from maintenance.windows import create_window


def window_state(window: MaintenanceWindow) -> str:
    now = timezone.now()
    if window.closed_at is not None or (not window.is_recurring and window.ends_at <= now):
        return "ended"
    return "open" if window.starts_at <= now < window.ends_at else "upcoming"


class MaintenanceWindowSerializer(serializers.ModelSerializer):
    """A window: one-off (``starts_at`` and ``ends_at``, or ``duration_seconds`` from the
    start) or recurring (``recurrence``, a cron expression in ``timezone``, and
    ``duration_seconds``; ``starts_at``/``ends_at`` then answer its current or next time).
    """

    hosts = serializers.SlugRelatedField(
        slug_field="host_id", queryset=Host.objects.all(), many=True, required=False
    )
    tags = serializers.ListField(child=serializers.CharField(trim_whitespace=False), required=False)
    starts_at = serializers.DateTimeField(required=False, help_text="Default: now.")
    ends_at = serializers.DateTimeField(required=False)
    state = serializers.SerializerMethodField(help_text="upcoming, open or ended.")

    class Meta:
        model = MaintenanceWindow
        fields = [
            "id",
            "reason",
            "everything",
            "tags",
            "hosts",
            "starts_at",
            "ends_at",
            "recurrence",
            "duration_seconds",
            "timezone",
            "state",
            "closed_at",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["closed_at", "created_by", "created_at"]

    def get_state(self, window: MaintenanceWindow) -> str:
        return window_state(window)

    def validate(self, attrs: dict) -> dict:
        if attrs.get("recurrence") and attrs.get("ends_at"):
            raise serializers.ValidationError(
                {"ends_at": "A recurring window has duration_seconds instead."}
            )
        if not any(attrs.get(name) for name in ("recurrence", "ends_at", "duration_seconds")):
            raise serializers.ValidationError(
                {"ends_at": "Give ends_at, or duration_seconds from the start."}
            )
        return attrs

    def create(self, validated: dict) -> MaintenanceWindow:
        seconds = validated.get("duration_seconds")
        try:
            return create_window(
                reason=validated["reason"],
                starts_at=validated.get("starts_at") or timezone.now(),
                ends_at=validated.get("ends_at"),
                length=timedelta(seconds=seconds) if seconds else None,
                recurrence=validated.get("recurrence", ""),
                timezone=validated.get("timezone", "UTC"),
                everything=validated.get("everything", False),
                tags=validated.get("tags", []),
                hosts=validated.get("hosts", []),
                by=self.context.get("actor", ""),
            )
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None


class ExtendSerializer(serializers.Serializer):
    ends_at = serializers.DateTimeField()
