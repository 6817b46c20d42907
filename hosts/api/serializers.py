import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import MANAGE_LOG_SOURCES
from accounts.permissions import require_capability
from analysis import log_config
from analysis.api.serializers import LogAnalysisConfigField
from hosts.choices import DISPLAY_STATUSES
from hosts.models import Host, StatusChange

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-.~]{32,128}$")

CONFIG_FIELDS = [
    "frequency_seconds",
    "grace_seconds",
    "schedule_type",
    "cron_expression",
    "timezone",
    "max_run_seconds",
    "paused",
]


class HostSerializer(serializers.ModelSerializer):
    """Reads and writes hosts; every write goes through ``Host.clean`` and the field rules."""

    status = serializers.SerializerMethodField()
    paused = serializers.BooleanField(required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    token = serializers.RegexField(
        TOKEN_PATTERN,
        write_only=True,
        required=False,
        error_messages={"invalid": "Use 32–128 URL-safe characters."},
        help_text="Optional token to use (32–128 URL-safe characters); generated when omitted.",
    )
    log_analysis_config = LogAnalysisConfigField(required=False)

    class Meta:
        model = Host
        fields = [
            "host_id",
            "name",
            "status",
            "paused",
            *CONFIG_FIELDS[:-1],
            "notes",
            "tags",
            "log_analysis_config",
            "token",
            "token_prefix",
            "last_heartbeat_at",
            "next_expected_at",
            "next_deadline",
            "status_changed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["token_prefix", "created_at", "updated_at"]
        # Not trimmed: "nl1\n" is refused (as by the model and the import), not made "nl1".
        extra_kwargs = {"host_id": {"trim_whitespace": False}}

    @extend_schema_field(serializers.ChoiceField(choices=DISPLAY_STATUSES))
    def get_status(self, host: Host) -> str:
        return host.display_status()

    # Read-only fields sent back unchanged (a GET body used for a PUT) are ignored.
    ignore_read_only_input = True

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            # A log source makes the server open SSH connections and run commands: writing
            # one (even {}) needs an admin key or the permission. Callers without a request
            # (the YAML import, whose web view checks the plan) are trusted.
            if "log_analysis_config" in data and "request" in self.context:
                require_capability(
                    self.context["request"], MANAGE_LOG_SOURCES, "log_analysis_config"
                )
            accepted = {
                name
                for name, field in self.fields.items()
                if self.ignore_read_only_input or not field.read_only
            }
            unknown = sorted(set(data.keys()) - accepted)
            if unknown:
                raise serializers.ValidationError(
                    {name: "Unknown field." for name in unknown}, code="unknown"
                )
        return super().to_internal_value(data)

    def validate_token(self, value: str) -> str:
        if self.instance is not None:
            raise serializers.ValidationError("Use generate-token to rotate a token.")
        if not TOKEN_PATTERN.match(value):
            raise serializers.ValidationError("Use 32–128 URL-safe characters.")
        return value

    def validate_host_id(self, value: str) -> str:
        if self.instance is not None and value != self.instance.host_id:
            raise serializers.ValidationError("host_id cannot be changed.")
        return value

    def validate(self, attrs):
        candidate = Host(**{**self._current_values(), **_model_attrs(attrs)})
        try:
            candidate.clean()
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.message_dict) from None
        return attrs

    def _current_values(self) -> dict:
        if self.instance is None:
            return {}
        names = ["schedule_type", "cron_expression", "timezone", "tags"]
        return {name: getattr(self.instance, name) for name in names}

    @transaction.atomic
    def create(self, validated_data):
        paused = validated_data.pop("paused", False)
        token = validated_data.pop("token", None)
        config = validated_data.pop("log_analysis_config", None)
        host = Host(**validated_data)
        self.plain_token = host.set_new_token(token)
        host.save()
        if config:
            log_config.to_source(host, config)
        if paused:
            host.pause("created paused")
        return host

    @transaction.atomic
    def update(self, instance: Host, validated_data):
        paused = validated_data.pop("paused", None)
        config = validated_data.pop("log_analysis_config", None)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        if config is not None:
            log_config.to_source(instance, config)
        instance.set_paused(paused, "through the API")
        return instance


def _model_attrs(attrs: dict) -> dict:
    return {k: v for k, v in attrs.items() if k not in ("paused", "token", "log_analysis_config")}


class HostConfigSerializer(HostSerializer):
    """The monitoring settings of a host, for the quick config endpoints."""

    ignore_read_only_input = False

    class Meta(HostSerializer.Meta):
        fields = ["host_id", "name", "status", *CONFIG_FIELDS, "next_deadline"]
        read_only_fields = ["host_id", "name", "next_deadline"]


class GenerateTokenSerializer(serializers.Serializer):
    host_id = serializers.CharField(
        required=False,
        help_text="Rotate this host's token. Without it, a fresh token is returned "
        "for use in POST /hosts.",
    )


class TokenSerializer(serializers.Serializer):
    host_id = serializers.CharField(allow_null=True)
    token = serializers.CharField()
    token_prefix = serializers.CharField()


class PingTokenSerializer(serializers.Serializer):
    host_id = serializers.CharField()
    ping_token = serializers.CharField()
    ping_token_prefix = serializers.CharField()
    ping_url = serializers.URLField()


class StatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatusChange
        fields = ["from_status", "to_status", "at", "reason"]


class DowntimeSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(allow_null=True, help_text="null while still down")
    duration_seconds = serializers.IntegerField()


class StatusHistorySerializer(serializers.Serializer):
    host_id = serializers.CharField()
    status = serializers.CharField()
    uptime = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="percent of monitored time up over 24h, 7d and 30d (null: not monitored)",
    )
    downtimes = DowntimeSerializer(many=True)
    changes = StatusChangeSerializer(many=True)
