from django.urls import path

from heartbeats import views
from heartbeats.api.views import HeartbeatHistoryView

urlpatterns = [
    path("api/v1/heartbeat/<str:host_id>", views.receive, name="heartbeat"),
    path(
        "api/v1/heartbeat/<str:host_id>/history",
        HeartbeatHistoryView.as_view(),
        name="heartbeat-history",
    ),
    path("scripts/client-heartbeat.sh", views.client_script, name="client-script"),
]
