"""A host's log source (the analysis app): settings, connection test, analysis on demand.

Staff only. Settings are saved as the host's ``log_analysis_config`` through
``HostSerializer``: the API's validation, nothing of its own.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_q.tasks import async_task

from accounts.models import MANAGE_LOG_SOURCES
from analysis.choices import Method, Trigger
from analysis.collection import collect
from analysis.host_keys import endpoint_host
from analysis.log_config import DEFAULTS, config_of
from analysis.models import AnalysisRun, LogSource, SSHHostKey
from analysis.runner import lease_seconds
from analysis.ssh import CollectionError
from hosts.api.serializers import HostSerializer
from hosts.models import Host
from web.access import requires
from web.config_manager import error_messages, log_source_block, log_source_fields

RECENT_RUNS = 5


def _source(host: Host) -> LogSource | None:
    return LogSource.objects.filter(host=host).first()


def _source_or_complain(request, host: Host) -> LogSource | None:
    source = _source(host)
    if source is None:
        messages.error(request, f"{host.host_id} has no log source yet: save one first.")
    return source


def _pinned_host_keys(source: LogSource | None) -> list[SSHHostKey]:
    """The host keys netmon trusts for the source's SSH server, to be checked there."""
    if source is None or source.method != Method.SSH or not source.ssh_host:
        return []
    return list(
        SSHHostKey.objects.filter(ssh_host=endpoint_host(source.ssh_host), port=source.ssh_port)
    )


def _render(request, host: Host, values: dict, problems: list[str], status: int = 200):
    fields, advanced, other = log_source_fields(values, problems)
    source = _source(host)
    context = {
        "host": host,
        "source": source,
        "host_keys": _pinned_host_keys(source),
        "fields": fields,
        "advanced": advanced,
        "problems": other,
        "any_problem": bool(problems),
        "methods": Method.choices,
        "runs": list(AnalysisRun.objects.filter(host=host).order_by("-started_at")[:RECENT_RUNS]),
        "nav": "config",
    }
    return render(request, "web/log_source.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
@requires(MANAGE_LOG_SOURCES)
def log_source(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    if request.method == "GET":
        return _render(request, host, {**DEFAULTS, **config_of(host)}, [])
    block = {} if "remove" in request.POST else log_source_block(request.POST)
    serializer = HostSerializer(
        host, data={"log_analysis_config": block}, partial=True, context={"request": request}
    )
    if not serializer.is_valid():
        problems = error_messages(serializer.errors).get("log_analysis_config", [])
        # The API joins the problems of a block with "; ": one message per problem here.
        problems = [part for message in problems for part in message.split("; ")]
        return _render(request, host, block, problems, status=400)
    serializer.save()
    done = "Log analysis removed" if not block else "Log source saved"
    messages.success(request, f"{done} for {host.host_id}.")
    return redirect(reverse("web:log-source", args=[host.host_id]))


@never_cache
@require_POST
@requires(MANAGE_LOG_SOURCES)
def test_connection(request, host_id: str):
    """Read the source once, as a run would, and store nothing."""
    host = get_object_or_404(Host, host_id=host_id)
    source = _source_or_complain(request, host)
    if source is not None:
        try:
            collected = collect(source)
        except CollectionError as error:
            messages.error(request, f"Connection test failed: {error}")
        else:
            count = len(collected.lines)
            messages.success(
                request,
                f"Connection test passed: {source.target} gave {count} new "
                f"line{'' if count == 1 else 's'} ({collected.bytes_read} bytes). "
                "Nothing was stored.",
            )
    return redirect(reverse("web:log-source", args=[host.host_id]))


@never_cache
@require_POST
@requires(MANAGE_LOG_SOURCES)
def run_now(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    source = _source_or_complain(request, host)
    if source is not None:
        async_task(
            "analysis.tasks.run_source_task",
            source.pk,
            Trigger.ADMIN,
            task_name=f"log analysis {host.host_id} (from the web)",
            timeout=lease_seconds(),
        )
        messages.success(
            request,
            f"Analysis of {host.host_id} queued: the run shows below once the task cluster "
            "has done it (reload the page).",
        )
    return redirect(reverse("web:log-source", args=[host.host_id]))


@never_cache
@require_http_methods(["GET"])
@requires(MANAGE_LOG_SOURCES)
def choose_host(request):
    """The "set up log analysis for …" form: on to that host's page."""
    host = get_object_or_404(Host, host_id=request.GET.get("host", ""))
    return redirect(reverse("web:log-source", args=[host.host_id]))
