"""``GET /api/v1/health``: is this monitor able to do its job?"""

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.status import Stat
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from alerts.choices import DeliveryState
from alerts.models import Channel, Delivery
from connectivity.health import link_health
from hosts.models import MonitorState
from hosts.reception import pause_threshold
from netmon.supervisor import STATE_VARIABLE


@dataclass
class Check:
    ok: bool
    detail: str
    critical: bool = True


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # any driver error means the same thing here
        return Check(False, f"database unreachable: {error.__class__.__name__}")
    return Check(True, f"{connection.vendor} reachable")


def check_task_cluster() -> Check:
    try:
        clusters = Stat.get_all()
    except Exception as error:
        return Check(False, f"cannot read cluster status: {error.__class__.__name__}")
    alive = [c for c in clusters if c.status not in ("Stopped", "Stopping")]
    if not alive:
        return Check(False, "no task cluster is running (start it with `manage.py serve`)")
    workers = sum(len(c.workers) for c in alive)
    return Check(True, f"{len(alive)} cluster(s), {workers} worker(s)")


def check_monitor_loop() -> Check:
    last = MonitorState.objects.filter(pk=1).values_list("last_sweep_at", flat=True).first()
    if last is None:
        return Check(False, "the monitor loop has never run (start it with `manage.py serve`)")
    age = (timezone.now() - last).total_seconds()
    if age > pause_threshold().total_seconds():
        return Check(False, f"the monitor loop last swept {age:.0f} s ago")
    return Check(True, f"last sweep {age:.1f} s ago")


def check_alert_channels() -> Check:
    broken = list(Channel.objects.filter(broken_at__isnull=False).values_list("name", flat=True))
    stuck = Delivery.objects.filter(
        state=DeliveryState.PENDING, alert__created_at__lt=timezone.now() - timedelta(minutes=5)
    ).count()
    problems = [f"broken channel: {name}" for name in broken]
    if stuck:
        problems.append(f"{stuck} alert deliveries pending for over 5 minutes")
    detail = "; ".join(problems) or "all channels working"
    return Check(not problems, detail, critical=False)


def supervised_children() -> dict | None:
    """What ``serve`` reports of its children, if this process runs under ``serve``.

    Running or not, restarts and last exit per role; no process ids: the report is public.
    """
    path = os.environ.get(STATE_VARIABLE)
    if not path:
        return None
    try:
        children = json.loads(Path(path).read_text())["children"]
    except (OSError, ValueError, KeyError):
        return {}
    return {
        role: {key: value for key, value in child.items() if key != "pid"}
        for role, child in children.items()
    }


def web_server_down_since(now: datetime) -> datetime | None:
    """Under ``serve``: since when its web server is not running, or None when it is (or
    when this process does not run under a ``serve`` that has a web server)."""
    web = (supervised_children() or {}).get("web")
    if web is None or web["running"]:
        return None
    stopped = web.get("last_exit_at")
    return min(datetime.fromisoformat(stopped), now) if stopped else now


def check_supervisor(children: dict) -> Check:
    # Stable texts: the hourly self-check alerts once a day per distinct text.
    if not children:
        return Check(False, "cannot read the state of serve's processes", critical=False)
    down = [role for role, child in children.items() if not child["running"]]
    if down:
        return Check(False, f"not running, restarting: {', '.join(down)}", critical=False)
    restarts = [f"{role} {child['restarts']}" for role, child in children.items()]
    return Check(True, f"all running; restarts: {', '.join(restarts)}", critical=False)


def check_configuration() -> list[str]:
    warnings = []
    if settings.DEBUG:
        warnings.append("DEBUG is on")
    if not settings.DISCORD_WEBHOOK_URL:
        warnings.append("DISCORD_WEBHOOK_URL is not set: alerts go only to channels in the admin")
    return warnings


def health_report() -> tuple[bool, dict]:
    checks = {"database": check_database()}
    if checks["database"].ok:
        checks["task_cluster"] = check_task_cluster()
        checks["monitor_loop"] = check_monitor_loop()
        checks["alert_channels"] = check_alert_channels()
        checks["connectivity"] = Check(*link_health(), critical=False)
    children = supervised_children()
    if children is not None:
        checks["supervisor"] = check_supervisor(children)
    warnings = check_configuration()
    healthy = all(c.ok for c in checks.values() if c.critical)
    degraded = warnings or not all(c.ok for c in checks.values())
    report = {
        "status": "error" if not healthy else ("degraded" if degraded else "ok"),
        "time": timezone.now().isoformat(),
        "checks": {name: asdict(check) for name, check in checks.items()},
        "warnings": warnings,
    }
    if children:
        report["supervisor"] = children
    return healthy, report


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        summary="Health of the monitor (200 healthy, 503 not)",
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {
                    "status": serializers.ChoiceField(choices=["ok", "degraded", "error"]),
                    "time": serializers.DateTimeField(),
                    "checks": serializers.DictField(),
                    "warnings": serializers.ListField(child=serializers.CharField()),
                    "supervisor": serializers.DictField(
                        required=False,
                        help_text="Under `manage.py serve`: per role running, started_at, "
                        "restarts, last_exit, last_exit_at",
                    ),
                },
            ),
            503: None,
        },
    )
    def get(self, request):
        healthy, report = health_report()
        return Response(report, status=200 if healthy else 503)
