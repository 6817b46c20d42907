"""``GET /api/v1/health``: open to anyone, honest about the task cluster, free of secrets."""

import re
import signal
import sys

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from tests.processes import (
    health_report,
    process_database,
    process_env,
    running,
    tagged_processes,
    wait_for_exit,
    wait_until,
)

WEBHOOK = "https://discord.com/api/webhooks/123456/hEaLtH-sEcReT-tOkEn"


@pytest.fixture
def health(db):
    def get():
        return APIClient().get("/api/v1/health")

    return get


def test_no_task_cluster_is_unhealthy_without_authentication(health):
    response = health()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["checks"]["database"]["ok"] is True
    cluster = body["checks"]["task_cluster"]
    assert cluster["ok"] is False
    assert "no task cluster is running" in cluster["detail"]
    assert "manage.py serve" in cluster["detail"]


def test_an_unhealthy_report_is_not_logged_as_a_server_error(health, caplog):
    """Container engines ask every few seconds; each start answers 503 until all roles
    run. Django's "ERROR Service Unavailable" line for it is dropped, and only it."""
    with caplog.at_level("INFO", logger="django.request"):
        assert health().status_code == 503
        assert APIClient().get("/api/v1/no-such-endpoint").status_code == 404

    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "django.request"]
    assert logged == [("WARNING", "Not Found: /api/v1/no-such-endpoint")]


@override_settings(DISCORD_WEBHOOK_URL="")
def test_warns_when_no_discord_webhook_is_configured(health):
    warnings = health().json()["warnings"]

    assert any("DISCORD_WEBHOOK_URL" in warning for warning in warnings)


@override_settings(DISCORD_WEBHOOK_URL=WEBHOOK, DEBUG=False)
def test_no_warning_with_a_webhook(health):
    assert health().json()["warnings"] == []


@override_settings(DEBUG=True, DISCORD_WEBHOOK_URL=WEBHOOK)
def test_warns_about_debug(health):
    assert health().json()["warnings"] == ["DEBUG is on"]


@override_settings(DISCORD_WEBHOOK_URL=WEBHOOK)
def test_never_shows_secrets(health):
    text = health().content.decode()

    assert settings.SECRET_KEY not in text
    assert WEBHOOK not in text
    assert "hEaLtH-sEcReT" not in text


def cluster_alive(env: dict[str, str]) -> dict | None:
    """The health report of a fresh process, if it sees a running task cluster."""
    _, report = health_report(env)
    return report if report["checks"]["task_cluster"]["ok"] else None


@pytest.mark.process
def test_running_task_cluster_is_reported_alive(tmp_path):
    """A real ``manage.py qcluster``: reported alive while it runs, and not after it stops."""
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path, database_url)
        assert cluster_alive(env) is None

        log = tmp_path / "qcluster.log"
        with running([sys.executable, "manage.py", "qcluster"], env, log) as cluster:
            report = wait_until(
                lambda: cluster_alive(env), 30, "the task cluster to be reported alive", 0.5
            )
            assert re.fullmatch(
                r"1 cluster\(s\), \d+ worker\(s\)", report["checks"]["task_cluster"]["detail"]
            )
            assert report["checks"]["database"]["ok"] is True
            assert any("DISCORD_WEBHOOK_URL" in warning for warning in report["warnings"])

            assert cluster.pid in {proc.pid for proc in tagged_processes(env)}

            cluster.send_signal(signal.SIGTERM)

            assert wait_for_exit(cluster, timeout=30) == 0, log.read_text()
            assert tagged_processes(env) == []
            wait_until(
                lambda: cluster_alive(env) is None,
                15,
                "the stopped cluster to be reported as not running",
                0.5,
            )
