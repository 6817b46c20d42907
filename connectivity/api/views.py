from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from connectivity.api.serializers import CheckSerializer, OutageSerializer, StatusSerializer
from connectivity.loop import stale_after
from connectivity.models import ConnectivityCheck, LinkState, Outage
from connectivity.uptime import uptime_summary
from netmon.api import parse_time_param

TIME_FILTERS = [
    OpenApiParameter("since", str, description="ISO 8601 date-time"),
    OpenApiParameter("until", str, description="ISO 8601 date-time"),
]


def time_range(params):
    since, until = parse_time_param(params, "since"), parse_time_param(params, "until")
    if since and until and since > until:
        raise serializers.ValidationError({"until": "Must not be before since."})
    return since, until


class StatusView(APIView):
    """The link now: last check, open outage, uptime over 24 h, 7 d and 30 d."""

    @extend_schema(summary="State of our own internet link", responses=StatusSerializer)
    def get(self, request):
        now = timezone.now()
        state = (
            LinkState.objects.filter(pk=1).select_related("last_check", "open_outage").first()
            or LinkState()
        )
        stale = state.last_check_at is None or now - state.last_check_at > stale_after()
        link = "unknown" if stale or state.link_up is None else "up" if state.link_up else "down"
        data = {
            "enabled": settings.CONNECTIVITY_ENABLED,
            "link": link,
            "stale": stale,
            "failure_streak": state.failure_streak,
            "success_streak": state.success_streak,
            "last_check": state.last_check,
            "open_outage": state.open_outage,
            "uptime": uptime_summary(now),
            "monitored_since": state.first_check_at,
            "check_interval_minutes": settings.CONNECTIVITY_CHECK_INTERVAL_MINUTES,
            "targets": list(settings.CONNECTIVITY_TARGETS),
        }
        return Response(StatusSerializer(data).data)


class CheckViewSet(viewsets.ReadOnlyModelViewSet):
    """Connectivity checks, newest first, each with its per-target results."""

    serializer_class = CheckSerializer

    @extend_schema(parameters=[*TIME_FILTERS, OpenApiParameter("link", str, enum=["up", "down"])])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = ConnectivityCheck.objects.all()
        if self.action != "list":
            return queryset
        params = self.request.query_params
        since, until = time_range(params)
        if since:
            queryset = queryset.filter(checked_at__gte=since)
        if until:
            queryset = queryset.filter(checked_at__lt=until)
        if (link := params.get("link")) is not None:
            if link not in ("up", "down"):
                raise serializers.ValidationError({"link": "Expected up or down."})
            queryset = queryset.filter(link_up=link == "up")
        return queryset


class OutageViewSet(viewsets.ReadOnlyModelViewSet):
    """Outages of our own link, newest first; ``since``/``until`` select those overlapping."""

    serializer_class = OutageSerializer

    @extend_schema(
        parameters=[*TIME_FILTERS, OpenApiParameter("ongoing", bool)],
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = Outage.objects.all()
        if self.action != "list":
            return queryset
        params = self.request.query_params
        since, until = time_range(params)
        if since:
            queryset = queryset.exclude(ended_at__lt=since)
        if until:
            queryset = queryset.filter(started_at__lt=until)
        if (ongoing := params.get("ongoing")) is not None:
            if ongoing not in ("true", "false"):
                raise serializers.ValidationError({"ongoing": "Expected true or false."})
            queryset = queryset.filter(ended_at__isnull=ongoing == "true")
        return queryset
