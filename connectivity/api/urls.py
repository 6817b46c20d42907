from django.urls import path
from rest_framework.routers import SimpleRouter

from connectivity.api.views import CheckViewSet, OutageViewSet, StatusView

router = SimpleRouter(trailing_slash=False)
router.register("connectivity/checks", CheckViewSet, basename="connectivity-check")
router.register("connectivity/outages", OutageViewSet, basename="connectivity-outage")
urlpatterns = [
    path("connectivity/status", StatusView.as_view(), name="connectivity-status"),
    *router.urls,
]
