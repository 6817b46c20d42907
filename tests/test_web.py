"""The dashboard, the host page and the configuration manager (``web``): views,
permissions, public mode, CSRF, query counts and bad input."""

import re
from datetime import timedelta

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from alerts.choices import AlertKind, Severity
from alerts.models import Alert, Channel
from alerts.outbox import queue_alert
from heartbeats.models import Heartbeat
from hosts.choices import HostStatus
from hosts.models import Host
from netmon.tokens import token_matches
from tests.monitoring_support import alert_events

DASHBOARD = "/api/v1/dashboard"
DATA = "/api/v1/dashboard/data"
CONFIG = "/api/v1/config"


# Fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, administrator_user) -> Client:
    """A user of the Administrator group: may do everything the pages offer."""
    client.force_login(administrator_user)
    return client


@pytest.fixture
def viewer_client(viewer_user) -> Client:
    """A user of the Viewer group: may look, may not change anything."""
    client = Client()
    client.force_login(viewer_user)
    return client


@pytest.fixture
def public(settings):
    settings.NETMON_PUBLIC_DASHBOARD = True


def up_host(make_host, host_id: str, seen_ago: float = 60, **fields) -> Host:
    """A host registered two days ago (so that recent history counts) and up since then."""
    host, _ = make_host(host_id, **fields)
    Host.objects.filter(pk=host.pk).update(created_at=timezone.now() - timedelta(days=2))
    host.refresh_from_db()
    host.receive_heartbeat(timezone.now() - timedelta(seconds=seen_ago))
    return host


def down_host(make_host, host_id: str, **fields) -> Host:
    host = up_host(make_host, host_id, seen_ago=900, **fields)
    host.change_status(HostStatus.DOWN, timezone.now() - timedelta(minutes=5), "test")
    alert_events()
    return host


@pytest.fixture
def fleet(make_host):
    """One host in every state, with a heartbeat carrying HTML and a down alert."""
    hosts = {
        "up": up_host(make_host, "web01", name="Web <b>01</b>"),
        "late": up_host(make_host, "late01", seen_ago=330, frequency_seconds=300),
        "down": down_host(make_host, "db01"),
        "new": make_host("new01")[0],
    }
    paused = up_host(make_host, "paused01")
    paused.pause()
    hosts["paused"] = paused
    Heartbeat.objects.create(
        host=hosts["up"], body="<script>alert('x')</script> load 0.4", source_ip="10.0.0.7"
    )
    return hosts


def down_alert() -> Alert:
    return Alert.objects.filter(kind=AlertKind.HOST_DOWN).get()


# Access -------------------------------------------------------------------------------------


def test_root_redirects_to_the_dashboard(client):
    response = client.get("/")
    assert response.status_code == 302 and response.url == DASHBOARD


@pytest.mark.parametrize(
    "path", [DASHBOARD, "/api/v1/dashboard/hosts/web01", CONFIG, "/api/v1/config/export"]
)
def test_anonymous_users_are_sent_to_the_login(client, db, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.url == f"/accounts/login/?next={path}"


def test_anonymous_data_requests_get_401_json(client, db):
    response = client.get(DATA)
    assert response.status_code == 401
    assert response.json()["login_url"] == "/accounts/login/"


def test_login_page_logs_in_and_returns_to_the_dashboard(client, viewer_user):
    page = client.get("/accounts/login/?next=/api/v1/dashboard")
    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content
    wrong = client.post("/accounts/login/", {"username": "viewer", "password": "nope"})
    assert wrong.status_code == 200 and b"didn't match" in wrong.content
    response = client.post(
        "/accounts/login/",
        {"username": "viewer", "password": "pw-viewer-1", "next": "/api/v1/dashboard"},
    )
    assert response.status_code == 302 and response.url == DASHBOARD
    assert client.get(DASHBOARD).status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get(DASHBOARD).status_code == 302


def test_login_ignores_a_next_to_another_site(client, viewer_user):
    response = client.post(
        "/accounts/login/",
        {"username": "viewer", "password": "pw-viewer-1", "next": "https://evil.example/"},
    )
    assert response.url == DASHBOARD


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/config/hosts",
        "/api/v1/config/hosts/web01",
        "/api/v1/config/hosts/web01/rotate-token",
        "/api/v1/config/hosts/web01/delete",
        "/api/v1/config/import",
        "/api/v1/config/import/apply",
    ],
)
def test_non_staff_users_cannot_write(viewer_client, client, fleet, path):
    before = {h.host_id: (h.token_hash, h.frequency_seconds) for h in Host.objects.all()}
    data = {"frequency_seconds": "900", "host_id": "x1", "name": "X", "yaml": "hosts: []"}
    assert viewer_client.post(path, data).status_code == 403
    assert client.post(path, data).status_code == 403  # anonymous
    assert {h.host_id: (h.token_hash, h.frequency_seconds) for h in Host.objects.all()} == before


def test_non_staff_users_see_the_dashboard_but_no_write_actions(viewer_client, fleet):
    page = viewer_client.get(DASHBOARD).content.decode()
    assert "db01" in page and 'class="badge badge-down"' in page
    assert "Acknowledge" not in page and 'id="csrf-token"' not in page
    assert "/api/v1/config" not in page
    assert viewer_client.get(CONFIG).status_code == 403
    alert = down_alert()
    assert viewer_client.post(f"/api/v1/dashboard/alerts/{alert.pk}/ack").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None
    detail = viewer_client.get("/api/v1/dashboard/hosts/web01").content.decode()
    assert "Rotate token" not in detail and "Client setup" in detail


# Public read-only mode ----------------------------------------------------------------------


def test_public_mode_shows_a_read_only_dashboard_to_anyone(client, fleet, public):
    Channel.objects.create(
        name="Ops webhook",
        kind="webhook",
        url="https://hooks.example/secret-path",
        broken_at=timezone.now(),
    )
    down_alert().acknowledge(by="alice")
    page = client.get(DASHBOARD)
    assert page.status_code == 200
    html = page.content.decode()
    assert "public read-only view" in html and "db01" in html
    for hidden in ("Acknowledge", "csrf-token", "csrfmiddlewaretoken", "Ops webhook", "alice"):
        assert hidden not in html
    assert "secret-path" not in html
    data = client.get(DATA).json()
    assert data["summary"]["broken_channels"] == {"count": 1}
    assert all("acknowledged_by" not in alert for alert in data["alerts"])
    assert not any(alert["can_acknowledge"] for alert in data["alerts"])


def test_public_mode_hides_tokens_payloads_and_setup_on_the_host_page(client, fleet, public):
    host = fleet["up"]
    html = client.get(f"/api/v1/dashboard/hosts/{host.host_id}").content.decode()
    assert "Heartbeats" in html and "Status changes" in html
    for secret in (host.token_prefix, "Rotate token", "load 0.4", "Client setup", "10.0.0.7"):
        assert secret not in html


def test_public_mode_keeps_writes_and_the_manager_closed(client, fleet, public):
    alert = down_alert()
    assert client.post(f"/api/v1/dashboard/alerts/{alert.pk}/ack").status_code == 403
    assert client.get(CONFIG).status_code == 302
    assert (
        client.post("/api/v1/config/hosts/web01", {"frequency_seconds": "900"}).status_code == 403
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# The dashboard ------------------------------------------------------------------------------


def test_dashboard_shows_every_state_with_colour_and_text(staff_client, fleet):
    html = staff_client.get(DASHBOARD).content.decode()
    for status, label in [
        ("up", "Up"),
        ("late", "Late"),
        ("down", "Down"),
        ("new", "New"),
        ("paused", "Paused"),
    ]:
        assert f'<span class="badge badge-{status}" data-field="status">{label}</span>' in html
    assert "Web &lt;b&gt;01&lt;/b&gt;" in html  # names are escaped
    assert '<th scope="col" class="col-status" aria-sort="ascending">' in html
    assert '<th scope="row"' in html
    assert html.count('<svg class="timeline"') == 5
    assert 'aria-live="polite"' in html and 'id="stale-banner"' in html
    assert re.search(r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"', html)


def test_dashboard_summary_counts_match_the_json(staff_client, fleet):
    data = staff_client.get(DATA).json()
    assert data["summary"]["hosts"] == {
        "total": 5,
        "up": 1,
        "late": 1,
        "down": 1,
        "paused": 1,
        "new": 1,
    }
    assert data["summary"]["alerts"] == {"pending": 0, "failed": 0}
    rows = {row["host_id"]: row for row in data["hosts"]["rows"]}
    assert rows["db01"]["status"] == "down" and rows["late01"]["status"] == "late"
    assert rows["web01"]["last_seen"] is not None and rows["new01"]["last_seen"] is None
    assert rows["db01"]["uptime"]["24h"] < 100
    assert data["alerts"][0]["title"] == down_alert().title
    assert data["alerts"][0]["can_acknowledge"] is True


def test_dashboard_sorts_filters_searches_and_pages(staff_client, make_host):
    for number in range(30):
        up_host(make_host, f"node{number:02d}", name=f"Node {number:02d}")
    down_host(make_host, "zz-down", name="Zulu down")
    rows = staff_client.get(DATA).json()["hosts"]["rows"]
    assert rows[0]["host_id"] == "zz-down"  # problems first
    by_name = staff_client.get(DATA, {"sort": "-name"}).json()["hosts"]["rows"]
    assert by_name[0]["name"] == "Zulu down" and by_name[1]["name"] == "Node 29"
    down = staff_client.get(DATA, {"status": "down"}).json()["hosts"]
    assert [row["host_id"] for row in down["rows"]] == ["zz-down"] and down["count"] == 1
    found = staff_client.get(DATA, {"q": "node 1"}).json()["hosts"]
    assert found["count"] == 10
    paged = staff_client.get(DATA, {"per_page": 25, "page": 2, "sort": "host_id"}).json()["hosts"]
    assert paged["pages"] == 2 and paged["page"] == 2 and len(paged["rows"]) == 6
    html = staff_client.get(DASHBOARD, {"per_page": 25}).content.decode()
    assert 'rel="next"' in html and "Page 1 of 2" in html


def test_dashboard_marks_business_hours_hosts_outside_their_window(
    staff_client, make_host, settings
):
    now = timezone.now()
    settings.BUSINESS_HOURS_DAYS = (now.isoweekday(),)
    settings.BUSINESS_HOURS_START = (
        (now + timedelta(hours=2)).time().replace(second=0, microsecond=0)
    )
    settings.BUSINESS_HOURS_END = (now + timedelta(hours=3)).time().replace(second=0, microsecond=0)
    make_host("office", schedule_type="business_hours", timezone="UTC")
    make_host("always01")
    rows = {r["host_id"]: r for r in staff_client.get(DATA).json()["hosts"]["rows"]}
    assert rows["office"]["outside_window"] is True and rows["always01"]["outside_window"] is False
    assert "outside window" in staff_client.get(DASHBOARD).content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"page": "abc", "per_page": "-4", "sort": "drop table", "status": "exploded"},
        {"page": "999999999999999999999", "per_page": "1e9", "q": "\x00' OR 1=1 --"},
        {"q": "x" * 5000, "sort": "-", "status": ""},
        {"range": "forever"},
    ],
)
def test_bad_query_strings_fall_back_to_defaults(staff_client, fleet, params):
    assert staff_client.get(DASHBOARD, params).status_code == 200
    assert staff_client.get(DATA, params).status_code == 200
    assert staff_client.get("/api/v1/dashboard/hosts/web01", params).status_code == 200
    assert staff_client.get(CONFIG, params).status_code == 200


def test_unknown_hosts_and_alerts_are_404(staff_client, db):
    assert staff_client.get("/api/v1/dashboard/hosts/nope").status_code == 404
    assert staff_client.post("/api/v1/dashboard/alerts/999/ack").status_code == 404
    assert staff_client.post("/api/v1/config/hosts/nope", {"grace_seconds": "5"}).status_code == 404
    assert staff_client.get("/api/v1/config/hosts/nope/delete").status_code == 404


def test_staff_acknowledge_an_alert_from_the_dashboard(staff_client, fleet):
    alert = down_alert()
    html = staff_client.get(DASHBOARD).content.decode()
    assert f'action="/api/v1/dashboard/alerts/{alert.pk}/ack"' in html
    response = staff_client.post(
        f"/api/v1/dashboard/alerts/{alert.pk}/ack", {"next": "/api/v1/dashboard?status=down"}
    )
    assert response.status_code == 302 and response.url == "/api/v1/dashboard?status=down"
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by == "administrator"
    assert (
        f'action="/api/v1/dashboard/alerts/{alert.pk}/ack"'
        not in staff_client.get(DASHBOARD).content.decode()
    )
    again = staff_client.post(
        f"/api/v1/dashboard/alerts/{alert.pk}/ack", HTTP_ACCEPT="application/json"
    )
    assert (
        again.json()["acknowledged"] is True and again.json()["acknowledged_by"] == "administrator"
    )


def test_acknowledge_does_not_redirect_to_other_sites(staff_client, fleet):
    alert = down_alert()
    response = staff_client.post(
        f"/api/v1/dashboard/alerts/{alert.pk}/ack", {"next": "https://evil.example/"}
    )
    assert response.url == DASHBOARD


def test_writes_need_the_csrf_token(operator_user, fleet):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_user)
    client.get(DASHBOARD)
    token = client.cookies["csrftoken"].value
    alert = down_alert()
    url = f"/api/v1/dashboard/alerts/{alert.pk}/ack"
    assert client.post(url).status_code == 403
    assert client.post("/api/v1/config/hosts/web01", {"grace_seconds": "0"}).status_code == 403
    assert client.post("/api/v1/config/hosts/web01/rotate-token").status_code == 403
    assert client.post("/api/v1/config/hosts/db01/delete").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None and Host.objects.filter(host_id="db01").exists()
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None


def test_pages_are_never_cached(staff_client, fleet):
    for path in (DASHBOARD, DATA, CONFIG, "/api/v1/dashboard/hosts/web01"):
        assert "no-store" in staff_client.get(path)["Cache-Control"]


# Query counts -------------------------------------------------------------------------------


def _queries(client, path, **params) -> int:
    with CaptureQueriesContext(connection) as context:
        assert client.get(path, params).status_code == 200
    return len(context.captured_queries)


def _grow_fleet(make_host, start: int, count: int) -> None:
    now = timezone.now()
    for number in range(start, start + count):
        host = up_host(make_host, f"h{number:03d}", seen_ago=30)
        if number % 3 == 0:
            host.change_status(HostStatus.DOWN, now - timedelta(minutes=20), "test")
            host.change_status(HostStatus.UP, now - timedelta(minutes=10), "test")
        Heartbeat.objects.bulk_create(
            Heartbeat(host=host, received_at=now - timedelta(minutes=m)) for m in range(0, 600, 45)
        )


@pytest.mark.parametrize("path", [DASHBOARD, DATA])
def test_query_count_does_not_grow_with_the_hosts(staff_client, make_host, path):
    _grow_fleet(make_host, 0, 3)
    queries_for_3 = _queries(staff_client, path)
    _grow_fleet(make_host, 3, 45)
    queries_for_48 = _queries(staff_client, path)
    assert queries_for_48 == queries_for_3
    assert 6 <= queries_for_3 <= 14  # 2 of them read the user's and its groups' permissions
    assert _queries(staff_client, path, per_page=200) == queries_for_3


def test_host_page_and_manager_query_counts_are_bounded(staff_client, make_host):
    _grow_fleet(make_host, 0, 3)
    host = Host.objects.get(host_id="h000")  # ten payloads to show
    Heartbeat.objects.bulk_create(Heartbeat(host=host, body=f"b{n}") for n in range(12))
    detail, manager = (
        _queries(staff_client, "/api/v1/dashboard/hosts/h000"),
        _queries(staff_client, CONFIG),
    )
    _grow_fleet(make_host, 3, 30)
    # 13, and the channels with their hosts for "Where its alerts go".
    assert _queries(staff_client, "/api/v1/dashboard/hosts/h000") == detail <= 15
    assert _queries(staff_client, CONFIG) == manager <= 8


# Host page ----------------------------------------------------------------------------------


def test_host_page_shows_history_downtimes_and_escaped_payloads(staff_client, fleet):
    host = fleet["up"]
    host.change_status(HostStatus.DOWN, timezone.now() - timedelta(minutes=30), "no heartbeat")
    host.change_status(HostStatus.UP, timezone.now() - timedelta(minutes=20), "heartbeat received")
    response = staff_client.get(f"/api/v1/dashboard/hosts/{host.host_id}")
    html = response.content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; load 0.4" in html
    assert "<script>alert" not in html
    assert '<svg class="chart"' in html and 'class="chart-down"' in html
    assert "Up → Down" in html and "no heartbeat" in html
    assert "10 min" in html  # the downtime's length
    assert f"<code>{host.token_prefix}…</code>" in html
    assert "Rotate token" in html
    assert f"./client-heartbeat.sh {host.host_id} YOUR_TOKEN http://" in html
    assert staff_client.get(f"/api/v1/dashboard/hosts/{host.host_id}?range=7d").status_code == 200


# Configuration manager ----------------------------------------------------------------------


def test_manager_lists_hosts_with_labelled_inputs(staff_client, fleet):
    html = staff_client.get(CONFIG).content.decode()
    for host_id in ("web01", "db01", "late01", "new01", "paused01"):
        assert f'<form id="cfg-{host_id}"' in html
        for field in ("frequency_seconds", "grace_seconds", "schedule_type", "cron_expression"):
            assert f'<label class="visually-hidden" for="f-{host_id}-{field}">' in html
    assert html.count('name="csrfmiddlewaretoken"') >= 5


def test_manager_saves_a_row_through_the_api_rules(staff_client, api, fleet):
    response = staff_client.post(
        "/api/v1/config/hosts/web01",
        {
            "frequency_seconds": "600",
            "grace_seconds": "30",
            "schedule_type": "business_hours",
            "cron_expression": "",
            "timezone": "Europe/Berlin",
            "paused": ["false"],
            "next": "/api/v1/config?q=web",
        },
    )
    assert response.status_code == 302 and response.url == "/api/v1/config?q=web#host-web01"
    data = api.get("/api/v1/hosts/web01").json()
    assert (data["frequency_seconds"], data["grace_seconds"]) == (600, 30)
    assert (data["schedule_type"], data["timezone"]) == ("business_hours", "Europe/Berlin")
    assert "Saved web01." in staff_client.get(CONFIG).content.decode()


def test_manager_sets_and_clears_a_maximum_run_time(staff_client, fleet):
    staff_client.post("/api/v1/config/hosts/web01", {"max_run_seconds": "900"})
    assert Host.objects.get(host_id="web01").max_run_seconds == 900
    html = staff_client.get(CONFIG).content.decode()
    assert 'id="f-web01-max_run_seconds" name="max_run_seconds"' in html
    assert 'value="900"' in html

    staff_client.post("/api/v1/config/hosts/web01", {"max_run_seconds": " "})
    assert Host.objects.get(host_id="web01").max_run_seconds is None
    html = staff_client.get(CONFIG).content.decode()
    assert 'placeholder="no limit" value=""' in html  # not "None"


def test_manager_pauses_and_resumes(staff_client, fleet):
    staff_client.post("/api/v1/config/hosts/web01", {"paused": ["false", "true"]})
    assert Host.objects.get(host_id="web01").status == HostStatus.PAUSED
    staff_client.post("/api/v1/config/hosts/web01", {"paused": ["false"]})
    host = Host.objects.get(host_id="web01")  # watched again, with a deadline from now
    assert host.status == HostStatus.UP and host.next_deadline > timezone.now()


@pytest.mark.parametrize(
    "data",
    [
        {"schedule_type": "custom", "cron_expression": "61 * * * *"},
        {"schedule_type": "custom", "cron_expression": ""},
        {"frequency_seconds": "5", "grace_seconds": "-1"},
        {"frequency_seconds": "abc", "timezone": "Mars/Olympus"},
        {"frequency_seconds": "99999999999999999999", "schedule_type": "sometimes"},
        {"timezone": "../../etc/passwd", "cron_expression": "* * * * * *"},
        {"max_run_seconds": "-5"},
        {"max_run_seconds": "ten minutes"},
    ],
)
def test_manager_rejects_what_the_api_rejects_with_the_same_messages(
    staff_client, api, fleet, data
):
    before = Host.objects.get(host_id="web01")
    api_errors = api.patch("/api/v1/hosts/web01/config", data, format="json").json()
    response = staff_client.post("/api/v1/config/hosts/web01", data, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json() == {"ok": False, "errors": api_errors}
    html_response = staff_client.post("/api/v1/config/hosts/web01", data)
    assert html_response.status_code == 400
    html = html_response.content.decode()
    for field, messages in api_errors.items():
        assert f'id="e-web01-{field}"' in html
        assert f'aria-describedby="e-web01-{field}"' in html
        for message in messages:
            assert escape(message) in html
    after = Host.objects.get(host_id="web01")
    assert (after.frequency_seconds, after.schedule_type, after.timezone) == (
        before.frequency_seconds,
        before.schedule_type,
        before.timezone,
    )


def test_an_invalid_cron_expression_is_shown_next_to_its_field(staff_client, fleet):
    response = staff_client.post(
        "/api/v1/config/hosts/web01",
        {"schedule_type": "custom", "cron_expression": "61 * * * *", "next": "/api/v1/config"},
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert re.search(
        r'id="f-web01-cron_expression"[^>]*value="61 \* \* \* \*" aria-invalid="true"', html
    )
    assert "invalid minute field" in html and "web01 was not saved" in html


def test_adding_a_host_shows_its_token_once_with_the_setup(staff_client, db):
    response = staff_client.post(
        "/api/v1/config/hosts",
        {
            "name": "Backup NAS",
            "host_id": "nas01",
            "frequency_seconds": "3600",
            "grace_seconds": "300",
            "schedule_type": "always",
            "cron_expression": "",
            "timezone": "UTC",
            "paused": ["false"],
            "notes": "",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = response.content.decode()
    token = re.search(r'id="token" class="token" type="text" value="([^"]+)"', html)[1]
    host = Host.objects.get(host_id="nas01")
    assert token_matches(token, host.token_hash) and host.frequency_seconds == 3600
    assert f"./client-heartbeat.sh nas01 {token} http://" in html
    assert "data-copy=" in html
    assert token not in staff_client.get(CONFIG).content.decode()
    assert token not in staff_client.get("/api/v1/dashboard/hosts/nas01").content.decode()


def test_adding_an_invalid_host_keeps_the_input_and_names_the_problems(staff_client, fleet):
    response = staff_client.post(
        "/api/v1/config/hosts",
        {"name": "", "host_id": "Web01!", "frequency_seconds": "3", "schedule_type": "always"},
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="add-e-host_id"' in html and 'id="add-e-name"' in html
    assert 'id="add-e-frequency_seconds"' in html and 'value="Web01!"' in html
    duplicate = staff_client.post("/api/v1/config/hosts", {"name": "W", "host_id": "web01"})
    assert duplicate.status_code == 400 and "already exists" in duplicate.content.decode()
    assert Host.objects.count() == 5


def test_rotating_a_token_shows_the_new_one_once(staff_client, fleet):
    old_hash = fleet["up"].token_hash
    response = staff_client.post("/api/v1/config/hosts/web01/rotate-token")
    token = re.search(r'value="([^"]+)" readonly', response.content.decode())[1]
    host = Host.objects.get(host_id="web01")
    assert host.token_hash != old_hash and token_matches(token, host.token_hash)
    assert host.token_prefix == token[:8]
    assert "The old token no longer works" in response.content.decode()


def test_deleting_asks_first(staff_client, fleet):
    confirm = staff_client.get("/api/v1/config/hosts/db01/delete?next=/api/v1/config%3Fq%3Ddb")
    assert confirm.status_code == 200 and "Delete db01" in confirm.content.decode()
    assert Host.objects.filter(host_id="db01").exists()
    response = staff_client.post("/api/v1/config/hosts/db01/delete", {"next": "/api/v1/config"})
    assert response.status_code == 302 and response.url == CONFIG
    assert not Host.objects.filter(host_id="db01").exists()


def test_export_downloads_all_hosts_as_yaml(staff_client, fleet):
    response = staff_client.get("/api/v1/config/export")
    assert response["Content-Type"] == "application/yaml"
    assert response["Content-Disposition"].startswith('attachment; filename="netmon-hosts-')
    hosts = yaml.safe_load(response.content)["hosts"]
    assert sorted(h["host_id"] for h in hosts) == ["db01", "late01", "new01", "paused01", "web01"]
    assert "token" not in response.content.decode()


IMPORT = """
hosts:
  - host_id: web01
    name: Web 01
    frequency_seconds: 120
  - host_id: nas01
    name: NAS
    schedule_type: custom
    cron_expression: "0 * * * *"
"""


def test_import_previews_then_applies(staff_client, fleet):
    upload = SimpleUploadedFile("hosts.yaml", IMPORT.encode(), content_type="application/yaml")
    preview = staff_client.post("/api/v1/config/import", {"file": upload, "prune": "on"})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "1 to create, 1 to update, 4 to delete" in html
    assert "<del>300</del>" in html and "<ins>120</ins>" in html
    assert not Host.objects.filter(host_id="nas01").exists()  # nothing changed yet
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', html)[1]
    yaml_text = re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', html, re.S)[1]
    assert yaml_text.strip() == IMPORT.strip().replace('"', "&quot;")
    applied = staff_client.post(
        "/api/v1/config/import/apply", {"yaml": IMPORT, "prune": "on", "digest": digest}
    )
    assert applied.status_code == 200
    token = re.search(r'<code class="token">([^<]+)</code>', applied.content.decode())[1]
    assert token_matches(token, Host.objects.get(host_id="nas01").token_hash)
    assert Host.objects.get(host_id="web01").frequency_seconds == 120
    assert sorted(Host.objects.values_list("host_id", flat=True)) == ["nas01", "web01"]


def test_import_refuses_to_apply_a_plan_that_changed_since_the_preview(staff_client, fleet):
    response = staff_client.post(
        "/api/v1/config/import/apply", {"yaml": IMPORT, "digest": "0" * 64}
    )
    assert response.status_code == 409
    assert "changed since the preview" in response.content.decode()
    assert not Host.objects.filter(host_id="nas01").exists()


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (b"hosts: [", "line 1"),
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"hosts:\n  - host_id: BAD!\n    name: x\n", "hosts[0] (BAD!).host_id"),
        (b"", "Choose a YAML file"),
        (b"just text", "Expected a mapping"),
        (b"hosts:\n  - host_id: a1\n    name: a\n    frequency_seconds: true\n", "whole number"),
    ],
)
def test_import_reports_bad_files_and_changes_nothing(staff_client, fleet, upload, message):
    file = SimpleUploadedFile("hosts.yaml", upload)
    response = staff_client.post("/api/v1/config/import", {"file": file})
    assert response.status_code == 400
    assert message in response.content.decode()
    bad_apply = staff_client.post("/api/v1/config/import/apply", {"yaml": upload.decode("latin-1")})
    assert bad_apply.status_code in (400, 409)
    assert Host.objects.count() == 5


def test_import_accepts_pasted_yaml(staff_client, fleet):
    response = staff_client.post("/api/v1/config/import", {"yaml": IMPORT})
    assert response.status_code == 200 and "1 to create, 1 to update" in response.content.decode()


def test_oversized_imports_are_refused(staff_client, db):
    file = SimpleUploadedFile("hosts.yaml", b"#" * 1_000_001)
    response = staff_client.post("/api/v1/config/import", {"file": file})
    assert response.status_code == 400 and "larger than" in response.content.decode()


# Optional panels ------------------------------------------------------------------------------


def test_connectivity_panel_shows_the_link_and_an_open_outage(staff_client, db, settings):
    from connectivity.models import LinkState, Outage

    now = timezone.now()
    panel = staff_client.get(DATA).json()["summary"]["connectivity"]
    assert (panel["text"], panel["detail"]) == ("not checked", "monitoring off")
    settings.CONNECTIVITY_ENABLED = True
    panel = staff_client.get(DATA).json()["summary"]["connectivity"]
    assert panel["text"] == "unknown" and panel["detail"] == "no check yet"
    LinkState.objects.create(pk=1, last_check_at=now, link_up=True, first_check_at=now)
    panel = staff_client.get(DATA).json()["summary"]["connectivity"]
    assert (panel["state"], panel["text"]) == ("ok", "up")
    outage = Outage.objects.create(started_at=now - timedelta(minutes=7), opened_at=now)
    LinkState.objects.filter(pk=1).update(link_up=False, open_outage=outage)
    panel = staff_client.get(DATA).json()["summary"]["connectivity"]
    assert (panel["state"], panel["text"]) == ("problem", "down")
    assert "outage since" in panel["detail"] and "7 min" in panel["detail"]
    assert "outage since" in staff_client.get(DASHBOARD).content.decode()


def test_severity_of_alerts_is_shown(staff_client, db):
    queue_alert(AlertKind.SYSTEM, Severity.CRITICAL, "Database is full")
    html = staff_client.get(DASHBOARD).content.decode()
    assert '<span class="sev sev-critical">Critical</span>' in html


def test_findings_panel_counts_open_findings_by_severity(staff_client, make_host):
    from analysis.models import Finding, fingerprint

    host, _ = make_host("fw01")
    panel = staff_client.get(DATA).json()["summary"]["findings"]
    assert (panel["state"], panel["text"]) == ("ok", "0")
    for number, severity in enumerate(["medium", "high", "high", "low"]):
        Finding.objects.create(
            host=host,
            fingerprint=fingerprint("fw01", "ssh_brute_force", str(number)),
            category="ssh_brute_force",
            severity=severity,
            title=f"Brute force {number}",
            analyzers="rules",
        )
    Finding.objects.filter(severity="low").update(acknowledged_at=timezone.now())
    panel = staff_client.get(DATA).json()["summary"]["findings"]
    assert (panel["state"], panel["text"], panel["detail"]) == ("problem", "3", "2 high, 1 medium")
    assert "open findings" in staff_client.get(DASHBOARD).content.decode()


# Log sources (the analysis app) -------------------------------------------------------------

LOG_FORM = {
    "enabled": "true",
    "method": "ssh",
    "ssh_host": "fw.lan",
    "ssh_port": "2222",
    "ssh_user": "netmon",
    "ssh_key": "id_ed25519",
    "log_path": "",
    "log_command": "tail -n 200 /var/log/auth.log",
    "analysis_frequency": "900",
    "model": "",
    "analysis_prompt": "Flag <script> tags",
    "ssh_key_passphrase_env": "",
}
LOG_SOURCE = "/api/v1/config/hosts/web01/log-source"


def test_log_source_is_saved_through_the_host_api(staff_client, api, fleet):
    page = staff_client.get(LOG_SOURCE)
    assert page.status_code == 200 and 'id="ls-ssh_host"' in page.content.decode()
    assert staff_client.post(LOG_SOURCE, LOG_FORM).status_code == 302
    config = api.get("/api/v1/hosts/web01").json()["log_analysis_config"]
    assert (config["ssh_host"], config["ssh_port"], config["analysis_frequency"]) == (
        "fw.lan",
        2222,
        900,
    )
    assert config["analysis_prompt"] == "Flag <script> tags"
    html = staff_client.get(CONFIG).content.decode()
    assert "netmon@fw.lan:2222: tail -n 200 /var/log/auth.log" in html
    assert 'action="/api/v1/config/hosts/web01/log-source/test"' in html
    assert "Flag &lt;script&gt; tags" in staff_client.get(LOG_SOURCE).content.decode()
    staff_client.post(LOG_SOURCE, {"remove": "1"})
    assert api.get("/api/v1/hosts/web01").json()["log_analysis_config"] == {}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"ssh_host": ""}, "ssh_host", "'ssh_host' is required for method ssh"),
        ({"ssh_port": "twenty-two"}, "ssh_port", "'ssh_port' must be of type int"),
        ({"analysis_frequency": "5"}, "analysis_frequency", "'analysis_frequency' must be 60"),
        ({"method": "telnet"}, "method", "'method' must be one of ssh, local, command"),
    ],
)
def test_log_source_problems_are_the_apis_next_to_their_fields(
    staff_client, admin_api, fleet, changes, field, message
):
    from analysis.models import LogSource
    from web.config_manager import log_source_block

    form = {**LOG_FORM, **changes}
    response = staff_client.post(LOG_SOURCE, form)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="ls-e-{field}"' in html and escape(message) in html
    block = log_source_block(form)
    api_error = admin_api.patch(
        "/api/v1/hosts/web01", {"log_analysis_config": block}, format="json"
    )
    assert message in api_error.json()["log_analysis_config"][0]
    assert not LogSource.objects.exists()


def test_connection_test_and_analysis_on_demand(staff_client, fleet, settings):
    from analysis.models import AnalysisRun, LogSource

    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    form = {**LOG_FORM, "method": "command", "log_command": "printf 'one\\ntwo\\n'"}
    assert staff_client.post(LOG_SOURCE, form).status_code == 302
    tested = staff_client.post(f"{LOG_SOURCE}/test", follow=True).content.decode()
    assert "Connection test passed" in tested and "gave 2 new lines" in tested
    assert LogSource.objects.get().cursor == {}  # a test stores nothing
    ran = staff_client.post(f"{LOG_SOURCE}/run", follow=True).content.decode()
    assert "Analysis of web01 queued" in ran
    run = AnalysisRun.objects.get()  # the test settings run tasks inline
    assert (run.trigger, run.status, run.lines_read) == ("admin", "ok", 2)
    staff_client.post(LOG_SOURCE, {**form, "log_command": "echo nope >&2; exit 3"})
    failed = staff_client.post(f"{LOG_SOURCE}/test", follow=True).content.decode()
    assert "Connection test failed" in failed


def test_log_source_actions_need_a_source_and_staff(staff_client, viewer_client, fleet):
    response = staff_client.post(f"{LOG_SOURCE}/test", follow=True)
    assert "has no log source yet" in response.content.decode()
    for path in (LOG_SOURCE, f"{LOG_SOURCE}/test", f"{LOG_SOURCE}/run"):
        assert viewer_client.post(path, LOG_FORM).status_code == 403
    assert viewer_client.get(LOG_SOURCE).status_code == 403
    assert staff_client.get("/api/v1/config/log-source?host=web01").url == LOG_SOURCE
    assert staff_client.get("/api/v1/config/log-source?host=nope").status_code == 404
