"""The status dashboard, its JSON twin, and acknowledging alerts from it."""

from django.conf import settings
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import OPERATE_MONITORING
from alerts.models import Alert
from web.access import dashboard_access, requires, safe_next, wants_json
from web.dashboard import TableQuery, alert_json, dashboard_context, dashboard_json


@never_cache
@require_GET
@dashboard_access
def dashboard(request):
    query = TableQuery.from_params(request.GET)
    context = dashboard_context(query, request.viewer, timezone.now())
    refresh_ms = int(1000 * settings.NETMON_DASHBOARD_REFRESH_SECONDS)
    return render(
        request, "web/dashboard.html", {**context, "nav": "dashboard", "refresh_ms": refresh_ms}
    )


@never_cache
@require_GET
@dashboard_access
def dashboard_data(request):
    query = TableQuery.from_params(request.GET)
    context = dashboard_context(query, request.viewer, timezone.now(), timelines=False)
    return JsonResponse(dashboard_json(context))


@never_cache
@require_POST
@requires(OPERATE_MONITORING)
def acknowledge(request, pk: int):
    alert = get_object_or_404(Alert.objects.select_related("host"), pk=pk)
    alert.acknowledge(by=request.user.get_username())
    if wants_json(request):
        return JsonResponse(alert_json(alert, request.viewer, timezone.now()))
    messages.success(request, f"Acknowledged: {alert.title}")
    return redirect(safe_next(request, reverse("web:dashboard")))
