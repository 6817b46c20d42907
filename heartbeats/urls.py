from django.urls import path, re_path

from heartbeats import ping, views
from heartbeats.api.views import HeartbeatHistoryView, HeartbeatRunsView

urlpatterns = [
    path("api/v1/heartbeat/<str:host_id>", views.receive, name="heartbeat"),
    path(
        "api/v1/heartbeat/<str:host_id>/history",
        HeartbeatHistoryView.as_view(),
        name="heartbeat-history",
    ),
    path("api/v1/heartbeat/<str:host_id>/runs", HeartbeatRunsView.as_view(), name="heartbeat-runs"),
    re_path(
        r"^api/v1/heartbeat/(?P<host_id>[^/]+)/(?P<signal>start|fail|log|[0-9]{1,3})$",
        views.receive_signal,
        name="heartbeat-signal",
    ),
    re_path(r"^ping/(?P<path>.+)$", ping.ping, name="ping"),
    path("api/push/<str:token>", ping.kuma_push, name="kuma-push"),
    path("scripts/client-heartbeat.sh", views.client_script, name="client-script"),
]
