from rest_framework.routers import SimpleRouter

from alerts.api.views import AlertViewSet, ChannelViewSet

router = SimpleRouter(trailing_slash=False)
router.register("alerts", AlertViewSet, basename="alert")
router.register("channels", ChannelViewSet, basename="channel")
urlpatterns = router.urls
