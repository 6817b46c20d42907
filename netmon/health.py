"""``GET /api/v1/health``: is this monitor able to do its job?"""

from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_q.status import Stat
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


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
    warnings = check_configuration()
    healthy = all(c.ok for c in checks.values() if c.critical)
    report = {
        "status": "ok" if healthy and not warnings else ("degraded" if healthy else "error"),
        "time": timezone.now().isoformat(),
        "checks": {name: asdict(check) for name, check in checks.items()},
        "warnings": warnings,
    }
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
                },
            ),
            503: None,
        },
    )
    def get(self, request):
        healthy, report = health_report()
        return Response(report, status=200 if healthy else 503)
