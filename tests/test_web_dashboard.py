"""The numbers behind the dashboard (``web.dashboard``, ``web.charts``, ``web.formatting``)
and the batched uptime functions of ``hosts.uptime``."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from heartbeats.models import Heartbeat
from hosts.choices import HostStatus
from hosts.models import Host, StatusChange
from hosts.uptime import periods, periods_for_hosts, uptime_summaries, uptime_summary
from web import formatting
from web.charts import heartbeat_chart_svg
from web.dashboard import (
    DEFAULT_PAGE_SIZE,
    TableQuery,
    host_counts,
    host_rows,
    timeline_start,
)

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


def _history(host: Host, rng: random.Random, now: datetime) -> None:
    """Random transitions over the last 40 days, some sharing a timestamp."""
    status = HostStatus.NEW
    at = now - timedelta(days=40)
    rows = []
    while True:
        at += timedelta(minutes=rng.choice([0, 1, 7, 90, 600, 3000, 9000]))
        if at >= now:
            break
        to = rng.choice(
            [s for s in (HostStatus.UP, HostStatus.DOWN, HostStatus.PAUSED) if s != status]
        )
        rows.append(StatusChange(host=host, from_status=status, to_status=to, at=at, reason="t"))
        status = to
    StatusChange.objects.bulk_create(rows)
    Host.objects.filter(pk=host.pk).update(status=status)


@pytest.mark.parametrize("seed", range(4))
def test_batched_uptime_equals_the_single_host_functions(make_host, seed):
    rng = random.Random(seed)
    hosts = []
    for number in range(8):
        host, _ = make_host(f"h{number}")
        # Registered at various times: before the history, inside the 30 days, a minute ago.
        created = NOW - timedelta(days=rng.choice([60, 20, 3, 0.5, 0.0007]))
        Host.objects.filter(pk=host.pk).update(created_at=created)
        if number % 4 != 3:  # some hosts have no history at all
            _history(host, rng, NOW)
        host.refresh_from_db()
        hosts.append(host)
    batched = uptime_summaries(hosts, NOW)
    for host in hosts:
        assert batched[host.pk] == uptime_summary(host, NOW), host.host_id
    start = NOW - timedelta(days=9)
    assert periods_for_hosts(hosts, start, NOW) == {h.pk: periods(h, start, NOW) for h in hosts}


def test_batched_uptime_is_one_query(make_host, django_assert_num_queries):
    hosts = [make_host(f"h{n}")[0] for n in range(20)]
    with django_assert_num_queries(1):
        uptime_summaries(hosts, timezone.now())
    with django_assert_num_queries(0):
        assert uptime_summaries([], timezone.now()) == {}


def test_host_rows_take_two_queries_for_any_number_of_hosts(make_host, django_assert_num_queries):
    hosts = [make_host(f"h{n}")[0] for n in range(30)]
    with django_assert_num_queries(2):
        rows = host_rows(hosts, timezone.now())
    assert len(rows) == 30


def test_timeline_shows_down_hours_and_hours_with_heartbeats(make_host):
    now = timezone.now()
    host, _ = make_host("web01")
    Host.objects.filter(pk=host.pk).update(created_at=now - timedelta(days=3))
    host.refresh_from_db()
    start = timeline_start(now)
    host.receive_heartbeat(now - timedelta(hours=20))
    host.change_status(HostStatus.DOWN, start + timedelta(hours=10, minutes=10), "test")
    host.change_status(HostStatus.UP, start + timedelta(hours=11, minutes=5), "test")
    Heartbeat.objects.bulk_create(
        Heartbeat(host=host, received_at=start + timedelta(hours=h, minutes=m))
        for h in (3, 12)
        for m in (1, 30)
    )
    svg = str(host_rows([host], now)[0].timeline)
    bars = svg.split("<rect")[1:]
    assert len(bars) == 24
    assert 'class="tl-down"' in bars[10] and 'class="tl-down"' in bars[11]
    assert 'height="16"' in bars[3] and 'height="16"' in bars[12]  # heartbeats: full height
    assert 'height="8"' in bars[5]
    assert "4 heartbeats" in svg and "down 55 min" in svg


def test_summary_counts_agree_with_display_status(make_host):
    now = timezone.now()
    states = []
    for number, seen_ago in enumerate([10, 200, 400, 4000, None]):
        host, _ = make_host(f"h{number}", frequency_seconds=300, grace_seconds=3600)
        if seen_ago is not None:
            host.receive_heartbeat(now - timedelta(seconds=seen_ago))
        states.append(host.display_status(now))
    paused, _ = make_host("p1")
    paused.pause()
    states.append("paused")
    counts = host_counts(now)
    assert counts["total"] == len(states)
    for state in ("up", "late", "down", "paused", "new"):
        assert counts[state] == states.count(state), state


def test_table_query_reads_leniently_and_writes_links():
    query = TableQuery.from_params(
        QueryDict("status=down&q=%20web%20&sort=-last_seen&page=3&per_page=100")
    )
    assert (query.status, query.search, query.sort, query.descending) == (
        "down",
        "web",
        "last_seen",
        True,
    )
    assert (query.page, query.per_page) == (3, 100)
    assert query.url(page=4) == "?status=down&q=web&sort=-last_seen&page=4&per_page=100"
    assert query.url(status="") == "?q=web&sort=-last_seen&per_page=100"  # back to page 1
    assert query.sort_url("last_seen").endswith("sort=last_seen&per_page=100")
    assert query.sort_url("name") == "?status=down&q=web&sort=name&per_page=100"
    assert query.aria_sort("last_seen") == "descending" and query.aria_sort("name") == "none"
    bad = TableQuery.from_params(QueryDict("status=x&sort=-nope&page=-1&per_page=7&q=%00"))
    assert bad == TableQuery(per_page=DEFAULT_PAGE_SIZE)
    assert TableQuery().url() == "?"


@pytest.mark.parametrize(
    ("seconds_ago", "text"),
    [
        (None, "never"),
        (2, "just now"),
        (42, "42 s ago"),
        (330, "5 min ago"),
        (7300, "2 h ago"),
        (3 * 86400 + 5, "3 d ago"),
        (-90, "in 1 min"),
    ],
)
def test_relative_time(seconds_ago, text):
    at = None if seconds_ago is None else NOW - timedelta(seconds=seconds_ago)
    assert formatting.relative_time(at, NOW) == text


def test_uptime_text_never_rounds_an_outage_away():
    assert formatting.uptime_text(None) == "—"
    assert formatting.uptime_text(100.0) == "100 %"
    assert formatting.uptime_text(99.9999) == "99.99 %"
    assert formatting.uptime_text(87.5) == "87.50 %"


def test_heartbeat_chart_handles_no_data_and_escapes_nothing_unsafe():
    empty = str(heartbeat_chart_svg([], [], NOW - timedelta(hours=24), NOW, 300, 360))
    assert empty.startswith('<svg class="chart"') and "0 heartbeats" in empty
    beats = [NOW - timedelta(minutes=5 * n) for n in range(50)]
    week = str(heartbeat_chart_svg(beats, [], NOW - timedelta(days=7), NOW, None, None))
    assert week.count('class="chart-point"') == 49 and "chart-expected" not in week
    assert "<script" not in week and "Mar 03" in week


def test_heartbeat_chart_keeps_normal_gaps_visible_next_to_an_outage():
    beats = [NOW - timedelta(minutes=5 * n) for n in range(20)] + [NOW - timedelta(hours=9)]
    svg = str(heartbeat_chart_svg(beats, [], NOW - timedelta(hours=24), NOW, 300, 360))
    assert svg.count("chart-offscale") == 1 and "1 longer than the scale" in svg
    assert ">12 min<" in svg  # the scale's top: twice the deadline, not the 7 h gap
