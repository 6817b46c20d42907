from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from netmon.health import HealthView
from netmon.metrics import metrics_view

handler404 = "netmon.api.not_found"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("heartbeats.urls")),
    path("api/v1/", include("hosts.api.urls")),
    path("api/v1/", include("alerts.api.urls")),
    path("api/v1/", include("maintenance.api.urls")),
    path("api/v1/", include("analysis.api.urls")),
    path("api/v1/", include("connectivity.api.urls")),
    path("api/v1/health", HealthView.as_view(), name="health"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("web.urls")),  # dashboard, configuration manager, login
]
