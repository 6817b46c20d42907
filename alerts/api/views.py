from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts.api.serializers import AlertSerializer
from alerts.choices import AlertKind, AlertState, Severity
from alerts.models import Alert, Delivery
from netmon.api import parse_time_param

FILTERS = {"state": AlertState, "kind": AlertKind, "severity": Severity}


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts in the outbox, newest first, with their delivery state per channel."""

    serializer_class = AlertSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=AlertState.values),
            OpenApiParameter("kind", str, enum=AlertKind.values),
            OpenApiParameter("severity", str, enum=Severity.values),
            OpenApiParameter("host", str, description="host_id"),
            OpenApiParameter("acknowledged", bool),
            OpenApiParameter("since", str, description="ISO 8601 date-time"),
            OpenApiParameter("until", str, description="ISO 8601 date-time"),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = Alert.objects.select_related("host").prefetch_related(
            Prefetch("deliveries", queryset=Delivery.objects.select_related("channel"))
        )
        if self.action != "list":
            return queryset
        params = self.request.query_params
        for name, choices in FILTERS.items():
            if value := params.get(name):
                if value not in choices.values:
                    raise serializers.ValidationError({name: f"Expected one of {choices.values}."})
                queryset = queryset.filter(**{name: value})
        if host := params.get("host"):
            queryset = queryset.filter(host__host_id=host)
        if (acknowledged := params.get("acknowledged")) is not None:
            if acknowledged not in ("true", "false"):
                raise serializers.ValidationError({"acknowledged": "Expected true or false."})
            queryset = queryset.filter(acknowledged_at__isnull=acknowledged == "false")
        if since := parse_time_param(params, "since"):
            queryset = queryset.filter(created_at__gte=since)
        if until := parse_time_param(params, "until"):
            queryset = queryset.filter(created_at__lt=until)
        return queryset

    @extend_schema(request=None, responses=AlertSerializer, summary="Acknowledge an alert")
    @action(detail=True, methods=["post"])
    def ack(self, request, pk=None):
        alert = self.get_object()
        alert.acknowledge(by=_actor(request))
        return Response(AlertSerializer(alert).data)


def _actor(request) -> str:
    if request.user is not None and request.user.is_authenticated:
        return request.user.get_username()
    return f"API key {request.auth.name}"
