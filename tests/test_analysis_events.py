"""Log analysis alerts as events: a run marks findings due and records its other events,
the monitor loop's step alerts each once, in order, with several loops at once
(PostgreSQL)."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connections
from django.utils import timezone

from alerts.choices import AlertKind
from alerts.models import Alert
from analysis import log_config
from analysis.events import alert_analysis
from analysis.models import Finding, LogSource, RunEvent
from analysis.runner import run_source
from tests.processes import tests_use_postgres as suite_on_postgres


def brute_force(address: str, count: int = 25) -> list[str]:
    return [
        f"Mar  3 10:00:{i:02d} gw sshd[{4000 + i}]: Failed password for root from {address} "
        f"port {40000 + i} ssh2"
        for i in range(count)
    ]


@pytest.fixture(autouse=True)
def analysis_settings(settings):
    settings.LLM_API_URL = ""
    settings.DISCORD_WEBHOOK_URL = ""
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    settings.ANALYSIS_ALERT_MIN_SEVERITY = "high"
    settings.ANALYSIS_REALERT_HOURS = 24
    settings.ANALYSIS_FAILURE_ALERT_AFTER = 2
    settings.ANALYSIS_MAX_ALERTS_PER_RUN = 10


@pytest.fixture
def log_file(tmp_path) -> Path:
    path = tmp_path / "auth.log"
    path.write_text("")
    return path


@pytest.fixture
def source(make_host, log_file) -> LogSource:
    host, _ = make_host("fw01", name="Edge Firewall")
    return log_config.to_source(host, {"method": "local", "log_path": str(log_file)})


def append(path: Path, lines: list[str]) -> None:
    with path.open("a") as handle:
        handle.writelines(f"{line}\n" for line in lines)


def titles() -> list[str]:
    return list(Alert.objects.order_by("id").values_list("title", flat=True))


@pytest.mark.django_db
def test_a_finding_alerts_nothing_until_the_step_then_once(source, log_file):
    append(log_file, brute_force("203.0.113.7"))
    assert run_source(source.pk).alerts == 1
    assert not Alert.objects.exists()  # the run queued nothing
    finding = Finding.objects.get()
    assert finding.alert_due_at is not None and finding.alert is None

    now = timezone.now()
    assert alert_analysis(now) == 1
    assert alert_analysis(now) == 0
    [alert] = Alert.objects.all()
    assert alert.title == "Edge Firewall: SSH brute force from 203.0.113.7: 25 failed logins"
    finding.refresh_from_db()
    assert (finding.alert, finding.alerted_at, finding.alerted_severity) == (alert, now, "high")
    assert finding.alert_due_at is None


@pytest.mark.django_db
def test_runs_before_the_step_make_one_alert_of_the_finding_as_it_is_then(source, log_file):
    append(log_file, brute_force("203.0.113.7"))
    run_source(source.pk)
    append(log_file, brute_force("203.0.113.7"))
    run_source(source.pk)

    assert alert_analysis(timezone.now()) == 1
    [alert] = Alert.objects.all()
    assert dict(alert.fields)["Seen"] == "2 run(s), 50 event(s)"


@pytest.mark.django_db
def test_a_return_after_the_quiet_hours_alerts_again_with_its_reason(source, log_file):
    append(log_file, brute_force("203.0.113.7"))
    run_source(source.pk)
    alert_analysis(timezone.now())
    Finding.objects.update(last_seen_at=timezone.now() - timedelta(hours=30))
    append(log_file, brute_force("203.0.113.7"))
    run_source(source.pk)

    assert Finding.objects.get().alert_reason == "Seen again after 30 h without it."
    assert alert_analysis(timezone.now()) == 1
    assert "Seen again after 30 h without it." in Alert.objects.order_by("id").last().description
    assert Finding.objects.get().alert_reason == ""


@pytest.mark.django_db
def test_the_summary_of_held_back_findings_comes_after_the_findings(source, log_file, settings):
    settings.ANALYSIS_MAX_ALERTS_PER_RUN = 2
    append(log_file, [line for n in range(1, 6) for line in brute_force(f"203.0.113.{n}")])
    run_source(source.pk)

    assert Finding.objects.filter(alert_due_at__isnull=False).count() == 2
    assert RunEvent.objects.get().details == {"count": 3}
    assert alert_analysis(timezone.now()) == 3
    assert titles()[-1] == "Edge Firewall: 3 more log findings"
    assert alert_analysis(timezone.now()) == 0


@pytest.mark.django_db
def test_a_failing_source_and_its_recovery_are_alerted_once_in_order(source, log_file):
    log_file.unlink()
    for _ in range(3):
        run_source(source.pk)
    log_file.write_text("")
    run_source(source.pk)
    assert not Alert.objects.exists()
    assert list(RunEvent.objects.values_list("kind", "details")) == [
        ("failing", {"streak": 2}),
        ("recovered", {}),
    ]

    assert alert_analysis(timezone.now()) == 2
    assert alert_analysis(timezone.now()) == 0
    assert titles() == [
        "Log collection failing for Edge Firewall",
        "Log analysis working again for Edge Firewall",
    ]
    failing = Alert.objects.get(kind=AlertKind.LOG_ANALYSIS_FAILED)
    assert "The last 2 runs failed" in failing.description  # the streak as the run saw it
    assert not RunEvent.objects.filter(alerted_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not suite_on_postgres(),
    reason="needs PostgreSQL: SQLite runs one writer at a time, so nothing would race",
)
def test_two_monitor_loops_alert_each_finding_and_event_once(source, log_file, settings):
    addresses = 60
    settings.ANALYSIS_MAX_ALERTS_PER_RUN = 50
    append(log_file, [line for n in range(addresses) for line in brute_force(f"198.51.100.{n}")])
    run_source(source.pk)
    log_file.unlink()
    for _ in range(2):
        run_source(source.pk)  # the second failure in a row: one more event
    start = threading.Barrier(2)
    queued: list[int] = []
    errors: list[Exception] = []

    def monitor_loop() -> None:
        try:
            start.wait()
            queued.append(alert_analysis(timezone.now()))
        except Exception as error:  # reported by the assertions below
            errors.append(error)
        finally:
            connections.close_all()  # this thread's own connection

    loops = [threading.Thread(target=monitor_loop) for _ in range(2)]
    for loop in loops:
        loop.start()
    for loop in loops:
        loop.join(60)

    assert errors == []
    # Both read the same pending rows at once and try each: the one behind updates nothing.
    assert sum(queued) == 50 + 2, queued
    findings = Alert.objects.filter(kind=AlertKind.FINDING).exclude(title__contains="more log")
    assert findings.count() == 50
    assert findings.values("title").distinct().count() == 50  # no finding twice
    assert Finding.objects.filter(alert__isnull=False).count() == 50
    assert titles().count("Edge Firewall: 10 more log findings") == 1
    assert titles().count("Log collection failing for Edge Firewall") == 1
    assert not Finding.objects.filter(alert_due_at__isnull=False).exists()
