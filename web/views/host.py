"""The page of one host: history, downtimes, alerts and where they go, payloads, token and
client setup."""

from django.conf import settings
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from alerts.models import HOST_KINDS
from alerts.routing import routes_of
from hosts.models import Host
from hosts.setup_instructions import client_setup_text
from web.access import dashboard_access
from web.dashboard import host_detail_context

TOKEN_PLACEHOLDER = "YOUR_TOKEN"


@never_cache
@require_GET
@dashboard_access
def host_detail(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    context = host_detail_context(
        host, request.viewer, timezone.now(), request.GET.get("range", "24h")
    )
    if request.viewer.sees_details:
        context["setup_text"] = client_setup_text(host, TOKEN_PLACEHOLDER, settings.NETMON_BASE_URL)
        context["routes"] = routes_of(host)
        context["host_kind_count"] = len(HOST_KINDS)
    return render(request, "web/host_detail.html", context)
