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
        return _between(queryset, self.request.query_params, "received_at")


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
        queryset = Run.objects.filter(host=host).with_state().order_by("-started_at", "-id")
        return _between(queryset, self.request.query_params, "started_at")


def _between(queryset, params, field: str):
    """``since`` (included) and ``until`` (excluded) applied to ``field``."""
    if since := parse_time_param(params, "since"):
        queryset = queryset.filter(**{f"{field}__gte": since})
    if until := parse_time_param(params, "until"):
        queryset = queryset.filter(**{f"{field}__lt": until})
    return queryset
