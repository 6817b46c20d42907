"""The host page's "Runs" section: a server-drawn SVG chart of the last runs' durations
(failed runs marked by colour and by a cross, each bar titled) and a table of the last 10,
from runs sent through the real ping URLs on a travelling clock."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosts.models import Host

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
PAGE = "/api/v1/dashboard/hosts/backup"


@pytest.fixture
def staff(client, administrator_user):
    client.force_login(administrator_user)
    return client


@pytest.fixture
def job(make_host):
    host, _ = make_host("backup", frequency_seconds=86400, grace_seconds=7200)
    return host, host.rotate_ping_token()


def run(client, token: str, start: datetime, minutes: float, finish: str = "0", rid=""):
    """A run through the ping URLs: start, then ``finish`` (an exit status, or '' for a
    plain success) ``minutes`` later."""
    query = {"rid": rid} if rid else {}
    with time_machine.travel(start, tick=False):
        assert client.get(f"/ping/{token}/start", query).status_code == 200
    with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
        path = f"/ping/{token}/{finish}" if finish else f"/ping/{token}"
        assert client.get(path, query).status_code == 200


def page(client) -> str:
    response = client.get(PAGE)
    assert response.status_code == 200
    return response.content.decode()


def runs_section(html: str) -> str:
    match = re.search(r'<section[^>]*aria-labelledby="runs-title">.*?</section>', html, re.S)
    assert match, "no Runs section"
    return match.group(0)


def test_a_host_without_runs_has_no_runs_section(staff, job):
    _, token = job
    assert staff.get(f"/ping/{token}").status_code == 200
    assert 'id="runs-title"' not in page(staff)


def test_the_chart_and_table_show_durations_and_mark_failures(staff, job):
    host, token = job
    run(staff, token, T0, 12)
    run(staff, token, T0 + timedelta(days=1), 15, finish="3", rid="nightly-2")
    run(staff, token, T0 + timedelta(days=2), 9, finish="")
    Host.objects.filter(pk=host.pk).update(max_run_seconds=840)
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        staff.get(f"/ping/{token}/start")  # still running

    section = runs_section(page(staff))
    svg = re.search(r'<svg class="chart".*?</svg>', section, re.S).group(0)
    assert 'role="img"' in svg
    label = re.search(r'aria-label="([^"]*)"', svg).group(1)
    assert label.startswith("3 runs started between 2026-03-02 01:00 and 2026-03-04 01:00 UTC")
    assert "longest 15 min; 1 failed; 1 longer than the maximum of 14 min" in label
    assert f"<title>{label}</title>" in svg
    bars = re.findall(r'<rect class="(tl-up|tl-down)"[^>]*><title>([^<]*)</title></rect>', svg)
    assert bars == [
        ("tl-up", "2026-03-02 01:00:00 UTC: 12 min, succeeded"),
        ("tl-down", "2026-03-03 01:00:00 UTC: 15 min, failed (exit status 3), run id nightly-2"),
        ("tl-up", "2026-03-04 01:00:00 UTC: 9 min, succeeded"),
    ]
    assert svg.count("✕") == 1  # the failed run, marked by shape as well as colour
    assert 'class="chart-deadline"' in svg  # the maximum run time
    assert "<script" not in section and "http" not in svg  # nothing loaded from elsewhere

    rows = re.findall(r"<tr>\s*<td>.*?</tr>", section, re.S)
    assert len(rows) == 4
    cells = [re.sub(r"<[^>]+>", "", row).split("\n") for row in rows]
    texts = [[cell.strip() for cell in row if cell.strip()] for row in cells]
    assert texts[0][1:] == ["—", "running", "none"]
    assert texts[1][1:] == ["9 min", "succeeded", "none"]
    assert texts[2][1:] == ["15 min over the maximum", "✕ failed (exit status 3)", "nightly-2"]
    assert texts[3][1:] == ["12 min", "succeeded (0)", "none"]
    assert '<th scope="col">Exit status</th>' in section
    assert '<caption class="visually-hidden">The last 4 runs, newest first</caption>' in section


def test_the_table_shows_the_last_ten_and_queries_do_not_grow(staff, job):
    _, token = job
    run(staff, token, T0, 5)
    with CaptureQueriesContext(connection) as few:
        page(staff)
    for day in range(1, 30):
        finish = "1" if day % 5 == 0 else "0"
        run(staff, token, T0 + timedelta(days=day), 5 + day % 7, finish=finish)
    with CaptureQueriesContext(connection) as many:
        html = page(staff)
    assert len(many.captured_queries) == len(few.captured_queries)
    section = runs_section(html)
    assert len(re.findall(r"<tr>\s*<td>", section)) == 10
    assert section.count('<rect class="tl-') == 30
    assert "; 5 failed" in section  # days 5, 10, … 25


def test_a_run_that_never_finished_says_so(staff, job):
    _, token = job
    with time_machine.travel(T0, tick=False):
        staff.get(f"/ping/{token}/start", {"rid": "a"})
        staff.get(f"/ping/{token}/start", {"rid": "b"})  # a is no longer the host's run
    section = runs_section(page(staff))
    assert "No run has finished yet." in section
    assert "never finished" in section and "running" in section
