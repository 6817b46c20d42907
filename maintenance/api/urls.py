from rest_framework.routers import SimpleRouter

from maintenance.api.views import MaintenanceWindowViewSet

router = SimpleRouter(trailing_slash=False)
router.register("maintenance", MaintenanceWindowViewSet, basename="maintenance")
urlpatterns = router.urls
