from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import ManagesChannels
from alerts.api.serializers import (
    AlertSerializer,
    ChannelSerializer,
    ChannelTestSerializer,
    RoutesSerializer,
)
from alerts.channel_test import send_test_notification
from alerts.choices import AlertKind, AlertState, Severity
from alerts.models import Alert, Channel, Delivery
from alerts.routing import routes_of
from hosts.models import Host
from netmon.api import actor, parse_time_param

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
        alert.acknowledge(by=actor(request))
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
        """The routing rules' answer for one host (alerts/routing.py).

        A host_id that names no host is a 400 naming the parameter, as the list's filters
        answer: it is a query parameter, not the path of an object.
        """
        host = None
        if host_id := request.query_params.get("host_id"):
            host = Host.objects.filter(host_id=host_id).first()
            if host is None:
                raise serializers.ValidationError({"host_id": "No host has this host_id."})
        answer = routes_of(host)
        return Response(RoutesSerializer(answer).data)


class ChannelViewSet(viewsets.ModelViewSet):
    """Alert channels: where alerts go, with their routing rules and delivery state.

    Admin-level only (an admin API key, or the Administrator group), reading too: a
    channel is a URL the server sends to, and its settings say who is told what.
    """

    serializer_class = ChannelSerializer
    permission_classes = [ManagesChannels]
    pagination_class = None  # a handful of channels: the whole list, always

    def get_queryset(self):
        return Channel.objects.with_delivery_state()

    def perform_create(self, serializer) -> None:
        serializer.save()
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_update(self, serializer) -> None:
        self.perform_create(serializer)  # answered with its delivery state, as when read

    def perform_destroy(self, instance: Channel) -> None:
        if instance.from_environment:
            raise serializers.ValidationError(
                {
                    "from_environment": "This channel is DISCORD_WEBHOOK_URL: unset that "
                    "variable, or disable the channel instead."
                }
            )
        instance.delete()

    @extend_schema(
        request=None,
        responses=ChannelTestSerializer,
        summary="Send a test notification to the channel",
        description="Sends at once, to this channel alone (routing aside, even while it is "
        "disabled), and answers what the channel said: delivered, refused, broken, "
        "rate limited or failing (then it stays queued for retry).",
    )
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        result = send_test_notification(self.get_object(), actor(request), "the API")
        return Response(ChannelTestSerializer(result).data)

    @extend_schema(
        request=None,
        responses=ChannelSerializer,
        summary="Mark a broken channel as repaired",
        description="Its pending alerts are retried at once.",
    )
    @action(detail=True, methods=["post"])
    def repair(self, request, pk=None):
        channel = self.get_object()
        Channel.objects.filter(pk=channel.pk).update(
            broken_at=None, broken_reason="", send_after=None
        )
        return Response(ChannelSerializer(self.get_queryset().get(pk=channel.pk)).data)
