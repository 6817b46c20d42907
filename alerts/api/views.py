from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts.api.serializers import AlertSerializer, RoutesSerializer
from alerts.choices import AlertKind, AlertState, Severity
from alerts.models import HOST_KINDS, HOSTLESS_KINDS, Alert, Channel, Delivery
from hosts.models import Host
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

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "host_id",
                str,
                description="The host whose alerts are meant; without it, alerts without a "
                "host (internet outages, netmon's own problems). An unknown host_id is a 400.",
            )
        ],
        responses=RoutesSerializer,
        summary="Which channels receive which alerts of a host",
        description="Each channel that receives some of the host's alerts, with the kinds "
        "it receives (at or above its min_severity) and the host tags that chose it; and the "
        "kinds that no channel receives. Rules: docs/alert-routing.md.",
    )
    @action(detail=False, methods=["get"])
    def routes(self, request):
        """The routing rules' answer for one host (``Channel.routes_for``), per channel.

        Asked kind by kind at the highest severity, so a channel appears with every kind it
        takes at some severity; its ``min_severity`` says from which. A host_id that names
        no host is a 400 naming the parameter, as the list's filters answer: it is a query
        parameter, not the path of an object.
        """
        host = None
        if host_id := request.query_params.get("host_id"):
            host = Host.objects.filter(host_id=host_id).first()
            if host is None:
                raise serializers.ValidationError({"host_id": "No host has this host_id."})
        kinds = HOST_KINDS if host is not None else HOSTLESS_KINDS
        host_tags = (host.tags or []) if host is not None else []
        channels: dict[int, dict] = {}
        unrouted = []
        for kind in kinds:
            receivers = Channel.routes_for(kind, Severity.CRITICAL, host)
            if not receivers:
                unrouted.append(kind)
            for channel in receivers:
                route = channels.setdefault(
                    channel.pk,
                    {
                        "name": channel.name,
                        "kind": channel.kind,
                        "target": channel.masked_target,
                        "min_severity": channel.min_severity,
                        "alert_kinds": [],
                        "matched_tags": [t for t in host_tags if t in (channel.tags or [])],
                    },
                )
                route["alert_kinds"].append(kind)
        answer = {
            "host_id": host.host_id if host is not None else None,
            "tags": host_tags,
            "channels": list(channels.values()),
            "unrouted_kinds": unrouted,
        }
        return Response(RoutesSerializer(answer).data)


def _actor(request) -> str:
    if request.user is not None and request.user.is_authenticated:
        return request.user.get_username()
    return f"API key {request.auth.name}"
