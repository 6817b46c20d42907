from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from analysis.api.serializers import (
    AnalysisRunDetailSerializer,
    AnalysisRunSerializer,
    FindingSerializer,
)
from analysis.choices import SEVERITY_RANK, FindingSeverity, RunStatus
from analysis.models import AnalysisRun, Finding
from netmon.api import actor, parse_time_param


def _choice(params, name: str, choices) -> str | None:
    value = params.get(name)
    if value and value not in choices.values:
        raise serializers.ValidationError({name: f"Expected one of {choices.values}."})
    return value or None


def _time_window(queryset, params, field: str):
    if since := parse_time_param(params, "since"):
        queryset = queryset.filter(**{f"{field}__gte": since})
    if until := parse_time_param(params, "until"):
        queryset = queryset.filter(**{f"{field}__lt": until})
    return queryset


class AnalysisRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Log analysis runs, newest first: what was read, what it cost, how it ended."""

    def get_serializer_class(self):
        return AnalysisRunDetailSerializer if self.action == "retrieve" else AnalysisRunSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("host", str, description="host_id"),
            OpenApiParameter("status", str, enum=RunStatus.values),
            OpenApiParameter("since", str, description="ISO 8601 date-time (start of the run)"),
            OpenApiParameter("until", str, description="ISO 8601 date-time"),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = AnalysisRun.objects.select_related("host")
        if self.action != "list":
            return queryset.prefetch_related(
                Prefetch("findings", queryset=Finding.objects.order_by("-last_seen_at", "-id"))
            )
        params = self.request.query_params
        if host := params.get("host"):
            queryset = queryset.filter(host__host_id=host)
        if status := _choice(params, "status", RunStatus):
            queryset = queryset.filter(status=status)
        return _time_window(queryset, params, "started_at")


class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    """Findings of the log analysis, most recently seen first. A finding is one issue on
    one host; seen again in later runs it is counted, not repeated."""

    serializer_class = FindingSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("host", str, description="host_id"),
            OpenApiParameter("severity", str, enum=FindingSeverity.values),
            OpenApiParameter(
                "min_severity", str, enum=FindingSeverity.values, description="at least"
            ),
            OpenApiParameter("category", str),
            OpenApiParameter("acknowledged", bool),
            OpenApiParameter("since", str, description="ISO 8601 date-time (last seen)"),
            OpenApiParameter("until", str, description="ISO 8601 date-time (last seen)"),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = Finding.objects.select_related("host")
        if self.action != "list":
            return queryset
        params = self.request.query_params
        if host := params.get("host"):
            queryset = queryset.filter(host__host_id=host)
        if severity := _choice(params, "severity", FindingSeverity):
            queryset = queryset.filter(severity=severity)
        if minimum := _choice(params, "min_severity", FindingSeverity):
            wanted = [s for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[minimum]]
            queryset = queryset.filter(severity__in=wanted)
        if category := params.get("category"):
            queryset = queryset.filter(category=category)
        if (acknowledged := params.get("acknowledged")) is not None:
            if acknowledged not in ("true", "false"):
                raise serializers.ValidationError({"acknowledged": "Expected true or false."})
            queryset = queryset.filter(acknowledged_at__isnull=acknowledged == "false")
        return _time_window(queryset, params, "last_seen_at")

    @extend_schema(request=None, responses=FindingSerializer, summary="Acknowledge a finding")
    @action(detail=True, methods=["post"])
    def ack(self, request, pk=None):
        finding = self.get_object()
        finding.acknowledge(by=actor(request))
        return Response(FindingSerializer(finding).data)
