from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from hosts.api.serializers import (
    GenerateTokenSerializer,
    HostConfigSerializer,
    HostSerializer,
    PingTokenSerializer,
    StatusHistorySerializer,
    TokenSerializer,
)
from hosts.choices import DISPLAY_STATUSES, LATE, HostStatus, ScheduleType
from hosts.models import Host
from hosts.setup_instructions import client_setup_text
from hosts.uptime import downtimes, uptime_summary
from netmon.api import parse_time_param
from netmon.tokens import generate_token, token_prefix


class HostViewSet(viewsets.ModelViewSet):
    """Hosts: list, get, register, update and delete."""

    serializer_class = HostSerializer
    lookup_field = "host_id"
    lookup_value_regex = "[^/]+"
    queryset = Host.objects.all()

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=[*HostStatus.values, LATE]),
            OpenApiParameter("schedule_type", str, enum=ScheduleType.values),
            OpenApiParameter("search", str, description="part of the name or host_id"),
            OpenApiParameter("tag", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        queryset = Host.objects.select_related("log_source")  # its log_analysis_config
        params = self.request.query_params
        if self.action != "list":
            return queryset
        if wanted := params.get("status"):
            queryset = _filter_status(queryset, wanted)
        if schedule_type := params.get("schedule_type"):
            if schedule_type not in ScheduleType.values:
                raise serializers.ValidationError(
                    {"schedule_type": f"Expected one of {ScheduleType.values}."}
                )
            queryset = queryset.filter(schedule_type=schedule_type)
        if search := params.get("search"):
            queryset = queryset.filter(name__icontains=search) | queryset.filter(
                host_id__icontains=search
            )
        if tag := params.get("tag"):
            queryset = [host for host in queryset if tag in host.tags]
        return queryset

    @extend_schema(
        responses={
            201: inline_serializer(
                "HostCreated",
                {
                    "token": serializers.CharField(),
                    "client_setup": serializers.CharField(
                        help_text="the client's setup for this host, as manage.py add_host "
                        "prints it: download, test, cron line and systemd timer"
                    ),
                },
            )
        }
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        host = serializer.save()
        token = serializer.plain_token
        data = {
            **HostSerializer(host).data,
            "token": token,
            "client_setup": client_setup_text(host, token, settings.NETMON_BASE_URL),
        }
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="All host configurations",
        responses=inline_serializer(
            "HostConfigList",
            {"count": serializers.IntegerField(), "hosts": HostConfigSerializer(many=True)},
        ),
    )
    @action(detail=False, methods=["get"], url_path="config/all", pagination_class=None)
    def config_all(self, request):
        hosts = HostConfigSerializer(Host.objects.all(), many=True).data
        return Response({"count": len(hosts), "hosts": hosts})

    @extend_schema(
        summary="Quick update of the monitoring settings",
        description="Fields may be sent as query parameters, as a JSON body, or both "
        "(the body wins).",
        request=HostConfigSerializer,
        responses=HostConfigSerializer,
        parameters=[
            OpenApiParameter(name, str, required=False)
            for name in ("frequency_seconds", "grace_seconds", "schedule_type")
        ],
    )
    @action(detail=True, methods=["patch"], url_path="config")
    def config(self, request, host_id=None):
        host = self.get_object()
        data = {**request.query_params.dict(), **_as_dict(request.data)}
        serializer = HostConfigSerializer(host, data=data, partial=True)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(HostConfigSerializer(host).data)

    @extend_schema(
        summary="Status changes, downtimes and uptime of a host",
        parameters=[
            OpenApiParameter("since", str, description="ISO 8601; default 30 days ago"),
            OpenApiParameter("until", str, description="ISO 8601; default now"),
        ],
        responses=StatusHistorySerializer,
    )
    @action(detail=True, methods=["get"], url_path="status-history")
    def status_history(self, request, host_id=None):
        host = self.get_object()
        now = timezone.now()
        until = parse_time_param(request.query_params, "until") or now
        since = parse_time_param(request.query_params, "since") or _days_before(until, 30)
        if since >= until:
            raise serializers.ValidationError({"since": "Must be before until."})
        changes = host.status_changes.filter(at__gte=since, at__lt=until).order_by("-at", "-id")
        data = {
            "host_id": host.host_id,
            "status": host.display_status(now),
            "uptime": uptime_summary(host, now),
            "downtimes": [
                {
                    "start": period.start,
                    "end": None if period.end >= now else period.end,
                    "duration_seconds": round(period.seconds),
                }
                for period in downtimes(host, since, min(until, now))
            ],
            "changes": list(changes[:1000]),
        }
        return Response(StatusHistorySerializer(data).data)

    @extend_schema(
        summary="Generate a token, or rotate a host's token",
        request=GenerateTokenSerializer,
        responses={200: TokenSerializer, 404: OpenApiResponse(description="No such host_id.")},
    )
    @action(detail=False, methods=["post"], url_path="generate-token")
    def generate_token(self, request):
        serializer = GenerateTokenSerializer(data=_as_dict(request.data))
        serializer.is_valid(raise_exception=True)
        host_id = serializer.validated_data.get("host_id")
        if host_id is None:
            token = generate_token()
            return Response({"host_id": None, "token": token, "token_prefix": token_prefix(token)})
        host = get_object_or_404(Host, host_id=host_id)
        token = host.rotate_token()
        return Response(
            {"host_id": host.host_id, "token": token, "token_prefix": host.token_prefix}
        )

    @extend_schema(
        summary="Issue or rotate a host's ping URL",
        description="A new secret ping URL (/ping/<ping_token>) for heartbeats sent without "
        "an Authorization header; the previous one stops working. The bearer token is not "
        "changed. The token is shown only in this answer.",
        request=None,
        responses={200: PingTokenSerializer},
    )
    @action(detail=True, methods=["post"], url_path="ping-token")
    def ping_token(self, request, host_id=None):
        host = self.get_object()
        token = host.rotate_ping_token()
        return Response(
            {
                "host_id": host.host_id,
                "ping_token": token,
                "ping_token_prefix": host.ping_token_prefix,
                "ping_url": f"{settings.NETMON_BASE_URL}/ping/{token}",
            }
        )


def _days_before(moment: datetime, days: int) -> datetime:
    """``days`` before ``moment``, or the earliest representable time (until may be in year 1)."""
    earliest = datetime.min.replace(tzinfo=UTC)
    return moment - timedelta(days=days) if moment - earliest > timedelta(days=days) else earliest


def _as_dict(data) -> dict:
    if hasattr(data, "dict"):
        return data.dict()
    if isinstance(data, dict):
        return data
    raise serializers.ValidationError({"detail": "Expected a JSON object."})


def _filter_status(queryset, wanted: str):
    if wanted not in DISPLAY_STATUSES:
        choices = [*HostStatus.values, LATE]
        raise serializers.ValidationError({"status": f"Expected one of {choices}."})
    return queryset.in_display_status(wanted, timezone.now())
