"""The page of one host: history, runs, downtimes, alerts and where they go, payloads, token
and client setup."""

from django.conf import settings
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from alerts.models import HOST_KINDS
from alerts.routing import routes_of
from heartbeats.querysets import RunState
from hosts.models import Host
from hosts.setup_instructions import client_setup_text
from web.access import dashboard_access
from web.charts import RunBar, run_chart_svg, run_outcome
from web.dashboard import host_detail_context

TOKEN_PLACEHOLDER = "YOUR_TOKEN"
# Runs: the chart shows the finished ones among the last CHART_RUNS, the table the last
# TABLE_RUNS; one query for both.
CHART_RUNS, TABLE_RUNS = 50, 10


@never_cache
@require_GET
@dashboard_access
def host_detail(request, host_id: str):
    host = get_object_or_404(Host, host_id=host_id)
    context = host_detail_context(
        host, request.viewer, timezone.now(), request.GET.get("range", "24h")
    )
    context.update(runs_context(host))
    if request.viewer.sees_details:
        context["setup_text"] = client_setup_text(host, TOKEN_PLACEHOLDER, settings.NETMON_BASE_URL)
        context["routes"] = routes_of(host)
        context["host_kind_count"] = len(HOST_KINDS)
    return render(request, "web/host_detail.html", context)


def runs_context(host: Host) -> dict:
    """The "Runs" section: a chart of the last runs' durations and a table of the newest;
    nothing for a host that never sent a start signal."""
    runs = list(host.runs.with_state().order_by("-started_at", "-id")[:CHART_RUNS])
    if not runs:
        return {}
    finished = [
        RunBar(run.started_at, run.duration_seconds, run.failed, run.exit_status, run.run_id)
        for run in reversed(runs)
        if run.duration_seconds is not None
    ]
    rows = []
    for run in runs[:TABLE_RUNS]:
        if run.state in (RunState.RUNNING, RunState.UNFINISHED):
            outcome = RunState(run.state).label.lower()
        else:
            outcome = run_outcome(run.failed, run.exit_status)
        over = bool(host.max_run_seconds and (run.duration_seconds or 0) > host.max_run_seconds)
        rows.append({"run": run, "outcome": outcome, "over_limit": over})
    return {
        "runs": rows,
        "runs_chart": run_chart_svg(finished, host.max_run_seconds) if finished else None,
    }
