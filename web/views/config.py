"""The configuration manager: edit, add, delete hosts, rotate tokens, import and export YAML.

Staff only. Every change goes through the API's serializers (``HostConfigSerializer`` for a
row, ``HostSerializer`` for a new host) or ``hosts.config_io``: one set of rules.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import OPERATE_MONITORING
from hosts.api.serializers import CONFIG_FIELDS, HostConfigSerializer, HostSerializer
from hosts.choices import ScheduleType
from hosts.config_io import ConfigError, apply_import, export_hosts, plan_import
from hosts.models import Host
from hosts.setup_instructions import client_setup_text
from web.access import import_refusal, requires, safe_next, wants_json
from web.config_manager import (
    ADD_FIELDS,
    ConfigRow,
    add_form_fields,
    error_messages,
    host_values,
    log_source_section,
    new_host_values,
    plan_digest,
    read_import,
    submitted,
    timezone_names,
)
from web.dashboard import STATUS_LABELS, UNUSED_HOST_FIELDS

PAGE_SIZE = 100


def render_config(request, *, status=200, failed_row=None, add_form=None):
    """The manager page; ``failed_row`` = (host_id, values, errors) of a rejected row edit,
    ``add_form`` = (values, errors) of a rejected new host."""
    params = request.GET
    if request.method == "POST":  # re-rendered after an error: the page the form came from
        params = QueryDict(urlsplit(safe_next(request, "")).query)
    search = params.get("q", "").replace("\x00", "").strip()[:100]
    hosts = Host.objects.defer(*UNUSED_HOST_FIELDS).order_by("host_id")
    if search:
        hosts = hosts.filter(Q(name__icontains=search) | Q(host_id__icontains=search))
    page = Paginator(hosts, PAGE_SIZE).get_page(params.get("page"))
    now = timezone.now()
    hosts = list(page.object_list)
    rows = []
    for host in hosts:
        row = ConfigRow(host, host_values(host))
        if failed_row and failed_row[0] == host.host_id:
            row.values.update(failed_row[1])
            row.errors = failed_row[2]
        row.status = host.display_status(now)
        row.status_label = STATUS_LABELS[row.status]
        rows.append(row)
    add_values, add_errors = add_form or (new_host_values(), {})
    context = {
        "viewer": request.viewer,
        "rows": rows,
        "page": page,
        "search": search,
        "schedule_choices": ScheduleType.choices,
        "timezones": timezone_names(),
        "add_fields": add_form_fields({**new_host_values(), **add_values}, add_errors),
        "add_errors": add_errors,
        "return_to": reverse("web:config") + (f"?{params.urlencode()}" if params else ""),
        "nav": "config",
        "log_sources": log_source_section(hosts),
    }
    return render(request, "web/config.html", context, status=status)


def render_token(request, host: Host, token: str, created: bool):
    """The token, shown once (never stored in plain), and the client setup using it."""
    context = {
        "host": host,
        "token": token,
        "created": created,
        "setup_text": client_setup_text(host, token, settings.NETMON_BASE_URL),
    }
    return render(request, "web/token.html", context)


@never_cache
@require_GET
@requires(OPERATE_MONITORING)
def config_page(request):
    return render_config(request)


@never_cache
@require_POST
@requires(OPERATE_MONITORING)
def save_host(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    data = submitted(request.POST, CONFIG_FIELDS)
    serializer = HostConfigSerializer(host, data=data, partial=True)
    if serializer.is_valid():
        serializer.save()
        message = f"Saved {host.host_id}."
        if wants_json(request):
            return JsonResponse(
                {"ok": True, "message": message, "host": HostConfigSerializer(host).data}
            )
        messages.success(request, message)
        return redirect(safe_next(request, reverse("web:config")) + f"#host-{host.host_id}")
    errors = error_messages(serializer.errors)
    if wants_json(request):
        return JsonResponse({"ok": False, "errors": errors}, status=400)
    return render_config(request, status=400, failed_row=(host.host_id, data, errors))


@never_cache
@require_POST
@requires(OPERATE_MONITORING)
def add_host(request):
    data = submitted(request.POST, ADD_FIELDS)
    serializer = HostSerializer(data=data)
    if serializer.is_valid():
        host = serializer.save()
        return render_token(request, host, serializer.plain_token, created=True)
    return render_config(request, status=400, add_form=(data, error_messages(serializer.errors)))


@never_cache
@require_http_methods(["GET", "POST"])
@requires(OPERATE_MONITORING)
def delete_host(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    if request.method == "POST":
        host.delete()
        messages.success(request, f"Deleted {host_id}.")
        return redirect(safe_next(request, reverse("web:config")))
    return render(
        request,
        "web/confirm_delete.html",
        {"host": host, "next": safe_next(request, reverse("web:config"))},
    )


@never_cache
@require_POST
@requires(OPERATE_MONITORING)
def rotate_token(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    token = host.rotate_token()
    return render_token(request, host, token, created=False)


@never_cache
@require_POST
@requires(OPERATE_MONITORING)
def import_preview(request):
    text, problem = read_import(request.POST, request.FILES)
    prune = request.POST.get("prune") == "on"
    context = {"yaml": text, "prune": prune, "errors": [problem] if problem else []}
    if not problem:
        try:
            plan = plan_import(text, prune=prune)
        except ConfigError as error:
            context["errors"] = error.errors
        else:
            if refusal := import_refusal(request.viewer, plan):
                return render(
                    request, "web/import.html", {**context, "errors": [refusal]}, status=403
                )
            context.update(plan=plan, digest=plan_digest(plan))
    return render(request, "web/import.html", context, status=400 if context["errors"] else 200)


@never_cache
@require_POST
@requires(OPERATE_MONITORING)
def import_apply(request):
    text, problem = read_import(request.POST, {})  # the same limits as the preview
    prune = request.POST.get("prune") == "on"
    context = {"yaml": text, "prune": prune, "errors": [problem] if problem else []}
    if problem:
        return render(request, "web/import.html", context, status=400)
    try:
        plan = plan_import(text, prune=prune)
    except ConfigError as error:
        context["errors"] = error.errors
        return render(request, "web/import.html", context, status=400)
    if refusal := import_refusal(request.viewer, plan):
        return render(request, "web/import.html", {**context, "errors": [refusal]}, status=403)
    digest = plan_digest(plan)
    context.update(plan=plan, digest=digest)
    if digest != request.POST.get("digest"):
        context["changed"] = True  # the hosts changed since the preview: show the new one
        return render(request, "web/import.html", context, status=409)
    context["tokens"] = sorted(apply_import(plan).items())
    context["applied"] = True
    return render(request, "web/import.html", context)


@never_cache
@require_GET
@requires(OPERATE_MONITORING)
def export(request):
    response = HttpResponse(
        export_hosts(Host.objects.order_by("host_id")), content_type="application/yaml"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="netmon-hosts-{stamp}.yaml"'
    return response
