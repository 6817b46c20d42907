from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.generics import ListAPIView

from heartbeats.api.serializers import HeartbeatSerializer, RunSerializer
from heartbeats.models import Heartbeat, Run
from hosts.models import Host
from netmon.api import parse_time_param


@extend_schema(
    summary="Heartbeat history of a host, newest first",
    parameters=[
        OpenApiParameter("since", OpenApiTypes.DATETIME, description="received at or after"),
        OpenApiParameter("until", OpenApiTypes.DATETIME, description="received before"),
    ],
)
class HeartbeatHistoryView(ListAPIView):
    serializer_class = HeartbeatSerializer

    def get_queryset(self):
        host = get_object_or_404(Host, host_id=self.kwargs["host_id"])
        queryset = Heartbeat.objects.filter(host=host).order_by("-received_at", "-id")
        since = parse_time_param(self.request.query_params, "since")
        until = parse_time_param(self.request.query_params, "until")
        if since:
            queryset = queryset.filter(received_at__gte=since)
        if until:
            queryset = queryset.filter(received_at__lt=until)
        return queryset


@extend_schema(
    summary="Runs of a host (start to finish, with durations), newest first",
    parameters=[
        OpenApiParameter("since", OpenApiTypes.DATETIME, description="started at or after"),
        OpenApiParameter("until", OpenApiTypes.DATETIME, description="started before"),
    ],
)
class HeartbeatRunsView(ListAPIView):
    serializer_class = RunSerializer

    def get_queryset(self):
        host = get_object_or_404(Host, host_id=self.kwargs["host_id"])
        queryset = Run.objects.filter(host=host).order_by("-started_at", "-id")
        since = parse_time_param(self.request.query_params, "since")
        until = parse_time_param(self.request.query_params, "until")
        if since:
            queryset = queryset.filter(started_at__gte=since)
        if until:
            queryset = queryset.filter(started_at__lt=until)
        return queryset
