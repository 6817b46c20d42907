from rest_framework.routers import SimpleRouter

from analysis.api.views import AnalysisRunViewSet, FindingViewSet

router = SimpleRouter(trailing_slash=False)
router.register("analysis/runs", AnalysisRunViewSet, basename="analysis-run")
router.register("analysis/findings", FindingViewSet, basename="analysis-finding")
urlpatterns = router.urls
