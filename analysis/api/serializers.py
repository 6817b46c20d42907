from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis import log_config
from analysis.models import AnalysisRun, Finding

JSON_TYPES = {bool: "boolean", int: "integer", str: "string"}
CONFIG_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        key: {"type": JSON_TYPES[kind], "default": log_config.DEFAULTS[key]}
        for key, kind in log_config.FIELD_TYPES.items()
    },
}
CONFIG_SCHEMA["properties"]["method"]["enum"] = list(log_config.METHODS)
CONFIG_SCHEMA["properties"]["ssh_key"]["description"] = (
    "Name of a private key file in a key directory (ANALYSIS_SSH_KEY_DIRS), not a path."
)
CONFIG_SCHEMA["properties"][log_config.KEY_PATH] = {
    "type": "string",
    "writeOnly": True,
    "deprecated": True,
    "maxLength": log_config.KEY_PATH_MAX_LENGTH,
    "description": "The product spec's key path: accepted when it names a file directly "
    "inside a key directory (ANALYSIS_SSH_KEY_DIRS), stored and read back as ssh_key.",
}


@extend_schema_field(CONFIG_SCHEMA)
class LogAnalysisConfigField(serializers.JSONField):
    """A host's ``log_analysis_config`` block: read from and written to its LogSource.

    ``{}`` (or null) means no log analysis. Written whole: keys left out get their defaults.
    """

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault(
            "help_text",
            "Log analysis of the host (docs/log-analysis.md); {} for none. Keys left out get "
            "their defaults; the answer leaves out keys that are not set.",
        )
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        return log_config.config_of(instance)

    def to_representation(self, value):
        return value

    def to_internal_value(self, data):
        data = super().to_internal_value(data) or {}
        try:
            return log_config.clean_log_analysis_config(data)
        except DjangoValidationError as error:
            raise serializers.ValidationError(error.messages) from None


class FindingBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Finding
        fields = ["id", "severity", "category", "title", "last_seen_at"]


class AnalysisRunSerializer(serializers.ModelSerializer):
    host_id = serializers.CharField(source="host.host_id")
    error = serializers.CharField(
        source="shown_error",
        read_only=True,
        help_text="why the run failed, in netmon's words (never quoting files, command output "
        "or provider answers)",
    )
    duration_seconds = serializers.FloatField(allow_null=True)
    cost = serializers.DecimalField(max_digits=12, decimal_places=6, allow_null=True)

    class Meta:
        model = AnalysisRun
        fields = [
            "id",
            "host_id",
            "status",
            "trigger",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error",
            "error_stage",
            "error_kind",
            "target",
            "bytes_read",
            "lines_read",
            "lines_analysed",
            "notes",
            "analyzers",
            "model",
            "llm_requests",
            "input_tokens",
            "output_tokens",
            "cost",
            "findings_count",
        ]


class AnalysisRunDetailSerializer(AnalysisRunSerializer):
    findings = FindingBriefSerializer(many=True, read_only=True)

    class Meta(AnalysisRunSerializer.Meta):
        fields = [*AnalysisRunSerializer.Meta.fields, "cross_check", "findings"]


class FindingSerializer(serializers.ModelSerializer):
    host_id = serializers.CharField(source="host.host_id")
    analyzers = serializers.ListField(child=serializers.CharField(), source="analyzer_list")
    evidence = serializers.ListField(child=serializers.CharField())
    source_ips = serializers.ListField(child=serializers.CharField())
    alert_id = serializers.IntegerField(allow_null=True)
    last_run_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "host_id",
            "fingerprint",
            "category",
            "key",
            "severity",
            "title",
            "description",
            "evidence",
            "source_ips",
            "recommended_action",
            "analyzers",
            "count",
            "events",
            "first_seen_at",
            "last_seen_at",
            "last_run_id",
            "alert_id",
            "alerted_at",
            "acknowledged_at",
            "acknowledged_by",
        ]
