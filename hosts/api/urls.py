from rest_framework.routers import SimpleRouter

from hosts.api.views import HostViewSet

router = SimpleRouter(trailing_slash=False)
router.register("hosts", HostViewSet, basename="host")
urlpatterns = router.urls
