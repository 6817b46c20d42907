"""Outages as events: a check opens or closes an outage, the monitor loop's step alerts it,
once per start and end, with several loops at once (PostgreSQL), and never the outages the
previous version had alerted already."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor

from alerts.models import Alert
from connectivity.checks import run_check
from connectivity.events import alert_outages
from connectivity.models import Outage
from tests.connectivity_support import (
    all_up,
    link_settings_fixture,  # noqa: F401
    majority_down,
    minutes,
    no_public_dns_fixture,  # noqa: F401
    servers_fixture,  # noqa: F401
    target,
)
from tests.processes import tests_use_postgres as suite_on_postgres


@pytest.fixture
def three_targets(link_settings, servers):
    link_settings.CONNECTIVITY_TARGETS = [target(server) for server in servers]
    return servers


def kinds() -> list[str]:
    return list(Alert.objects.order_by("id").values_list("kind", flat=True))


@pytest.mark.django_db
def test_an_outage_alerts_nothing_until_the_step_then_its_start_and_end_once(three_targets):
    majority_down(three_targets)
    run_check(minutes(0))
    assert run_check(minutes(5))[1] == "opened"
    assert kinds() == []  # recording the check queued nothing

    assert alert_outages(minutes(5.1)) == 1
    assert kinds() == ["outage_started"]
    outage = Outage.objects.get()
    assert (outage.start_alerted_at, outage.end_alerted_at) == (minutes(5.1), None)
    started = Alert.objects.get()
    assert started.title == "Internet down since 14:02 UTC"
    assert "2 connectivity checks in a row failed, 2 target(s) failing" in started.description
    assert alert_outages(minutes(5.2)) == 0  # the next cycle: nothing more

    all_up(three_targets)
    assert run_check(minutes(10))[1] == "closed"
    assert kinds() == ["outage_started"]
    assert alert_outages(minutes(10.1)) == 1
    assert alert_outages(minutes(10.2)) == 0
    assert kinds() == ["outage_started", "outage_ended"]
    outage.refresh_from_db()
    assert outage.end_alerted_at == minutes(10.1)


@pytest.mark.django_db
def test_an_outage_over_before_the_step_alerts_its_start_then_its_end(three_targets):
    """E.g. the monitor loop was down the whole time."""
    majority_down(three_targets)
    run_check(minutes(0))
    run_check(minutes(5))
    all_up(three_targets)
    run_check(minutes(10))
    majority_down(three_targets)
    run_check(minutes(15))
    run_check(minutes(20))  # a second outage, still open

    assert alert_outages(minutes(21)) == 3
    alerts = list(Alert.objects.order_by("id").values_list("kind", "title"))
    assert alerts == [
        ("outage_started", "Internet down since 14:02 UTC"),
        ("outage_ended", "Internet was down 14:02–14:12 UTC (10 min)"),
        ("outage_started", "Internet down since 14:17 UTC"),
    ]
    assert alert_outages(minutes(22)) == 0


@pytest.mark.django_db(transaction=True)
def test_outages_alerted_before_the_migration_are_not_alerted_again():
    """The migration marks the outages on record as alerted: the previous version queued
    their alerts with the check. The end of one still open is alerted when it ends."""
    before, after = (
        [("connectivity", "0001_initial")],
        [("connectivity", "0002_outage_alert_markers")],
    )
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    executor.loader.build_graph()
    old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
    OldOutage = old.get_model("connectivity", "Outage")
    ended = OldOutage.objects.create(
        started_at=minutes(0), opened_at=minutes(5), ended_at=minutes(10), failed_checks=2
    )
    ongoing = OldOutage.objects.create(started_at=minutes(60), opened_at=minutes(65))

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor.loader.build_graph()
    executor.migrate(latest)  # the rest of the suite needs every migration

    marks = dict(Outage.objects.values_list("pk", "start_alerted_at"))
    assert marks == {ended.pk: minutes(5), ongoing.pk: minutes(65)}
    assert Outage.objects.get(pk=ended.pk).end_alerted_at == minutes(10)
    assert alert_outages(minutes(70)) == 0 and kinds() == []

    Outage.objects.filter(pk=ongoing.pk).update(ended_at=minutes(80), failed_checks=4)
    assert alert_outages(minutes(81)) == 1
    assert list(Alert.objects.values_list("title", flat=True)) == [
        "Internet was down 15:02–15:22 UTC (20 min)"
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    not suite_on_postgres(),
    reason="needs PostgreSQL: SQLite runs one writer at a time, so nothing would race",
)
def test_two_monitor_loops_alert_each_start_and_end_once():
    count = 150
    Outage.objects.bulk_create(
        Outage(
            started_at=minutes(30 * n),
            opened_at=minutes(30 * n + 5),
            ended_at=minutes(30 * n + 20),
            failed_checks=2,
        )
        for n in range(count)
    )
    start = threading.Barrier(2)
    queued: list[int] = []
    errors: list[Exception] = []

    def monitor_loop() -> None:
        try:
            start.wait()
            queued.append(alert_outages(minutes(30 * count) + timedelta(seconds=1)))
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
    assert sum(queued) == 2 * count, queued
    alerts = list(Alert.objects.order_by("id").values_list("id", "kind", "url"))
    assert len(alerts) == 2 * count
    by_outage: dict[str, list[tuple[int, str]]] = {}
    for pk, kind, url in alerts:
        by_outage.setdefault(url, []).append((pk, kind))
    assert len(by_outage) == count
    assert all(
        [kind for _, kind in sent] == ["outage_started", "outage_ended"]
        for sent in by_outage.values()
    )  # once each, the start first
    assert not Outage.objects.filter(end_alerted_at__isnull=True).exists()
