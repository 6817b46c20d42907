"""The dashboard and the configuration manager in a real browser (Debian's Chromium through
Playwright) against the live test server. Screenshots go to ``test-artifacts/``.

Run only these: ``pytest -m browser``; skip them: ``pytest -m "not browser"``.
"""

import re
from datetime import timedelta

import pytest
from browser_fixtures import *  # noqa: F403 - Playwright fixtures for Debian's Chromium
from browser_fixtures import ARTIFACTS
from django.contrib.auth import get_user_model
from django.utils import timezone
from playwright.sync_api import Page, expect

from alerts.models import Alert
from heartbeats.models import Heartbeat
from hosts.choices import HostStatus
from hosts.models import Host
from hosts.uptime import downtimes
from tests.monitoring_support import alert_events, sweep_and_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UP, DOWN = HostStatus.UP, HostStatus.DOWN
PASSWORD = "pw-admin-1"


@pytest.fixture
def staff(transactional_db):
    return get_user_model().objects.create_superuser("admin", password=PASSWORD)


def login(page: Page, username: str = "admin") -> None:
    page.goto("/api/v1/dashboard")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Status", exact=True)).to_be_visible()


def seed_host(host_id, name, *, changes=(), last_seen=None, beats_every=None, **fields) -> Host:
    """A host registered 30 days ago with the given (status, how long ago) transitions."""
    now = timezone.now()
    host = Host(host_id=host_id, name=name, **fields)
    host.set_new_token()
    host.save()
    Host.objects.filter(pk=host.pk).update(created_at=now - timedelta(days=30))
    host.refresh_from_db()
    for status, ago in changes:
        host.change_status(
            status, now - ago, "heartbeat received" if status == UP else "no heartbeat"
        )
    alert_events(now)  # what the monitor's next cycle does with these transitions
    if last_seen is not None:
        host.last_heartbeat_at = now - last_seen
        host.save()
    if beats_every:  # a day of heartbeats, a little jittery, none while down
        downs = [(p.start, p.end) for p in downtimes(host, now - timedelta(days=2), now)]
        times = [
            now - last_seen - beats_every * n for n in range(int(timedelta(days=1) / beats_every))
        ]
        times = [at + timedelta(seconds=(n * 7919) % 23 - 8) for n, at in enumerate(times)]
        Heartbeat.objects.bulk_create(
            Heartbeat(
                host=host,
                received_at=at,
                body=f"load average: 0.{n % 9}2 0.31 0.28",
                source_ip="192.168.1.20",
                user_agent="netmon-client/1.0 curl/7.88",
            )
            for n, at in enumerate(times[:600])
            if not any(start <= at <= end for start, end in downs)
        )
    return host


def test_a_host_going_down_appears_without_a_reload(page, live_server, staff, settings):
    settings.NETMON_DASHBOARD_REFRESH_SECONDS = 0.5
    host = seed_host(
        "web01", "Web 01", changes=[(UP, timedelta(days=1))], last_seen=timedelta(seconds=20)
    )
    login(page)
    badge = page.locator('tr[data-host-id="web01"] .badge')
    expect(badge).to_have_text("Up")
    page.evaluate("window.stillTheSamePage = true")

    # The deadline passes and the monitor's sweep marks the host down, as in production.
    Host.objects.filter(pk=host.pk).update(next_deadline=timezone.now() - timedelta(seconds=1))
    assert sweep_and_alert(timezone.now()) == ["web01"]

    expect(badge).to_have_text("Down")
    expect(badge).to_have_class(re.compile(r"\bbadge-down\b"))
    expect(page.locator('[data-summary="hosts.down"]')).to_have_text("1")
    expect(page.locator('[data-summary="hosts.up"]')).to_have_text("0")
    expect(page.locator("#alerts-list")).to_contain_text("Web 01 is down")
    expect(page.locator("#live-announcer")).to_contain_text("Web 01 is now down")
    assert page.evaluate("window.stillTheSamePage") is True

    # The server stops answering: the page says that its numbers are stale, then recovers.
    page.route("**/api/v1/dashboard/data*", lambda route: route.abort())
    banner = page.locator("#stale-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Stale — server unreachable since")
    page.unroute("**/api/v1/dashboard/data*")
    expect(banner).to_be_hidden()


def test_acknowledging_an_alert(page, live_server, staff):
    seed_host("db01", "Database", changes=[(UP, timedelta(days=2)), (DOWN, timedelta(minutes=9))])
    alert = Alert.objects.get()
    login(page)
    item = page.locator(f'#alerts-list [data-alert-id="{alert.pk}"]')
    expect(item).to_contain_text("Database is down")
    item.get_by_role("button", name="Acknowledge: Database is down").click()
    expect(page.get_by_role("status")).to_contain_text("Acknowledged: Database is down")
    expect(item).to_contain_text("acknowledged by admin")
    expect(item.get_by_role("button")).to_have_count(0)
    alert.refresh_from_db()
    assert alert.acknowledged_by == "admin" and alert.acknowledged_at is not None


def test_config_manager_edits_a_host_and_refuses_a_bad_cron(page, live_server, staff):
    seed_host("web01", "Web 01", changes=[(UP, timedelta(days=1))], last_seen=timedelta(seconds=5))
    login(page)
    page.get_by_role("link", name="Configuration").click()
    row = page.locator("#host-web01")
    page.get_by_label("Frequency in seconds of web01").fill("600")
    page.get_by_label("Schedule of web01").select_option("business_hours")
    row.get_by_role("button", name="Save web01").click()
    expect(row.locator(".row-status")).to_have_text("Saved.")
    host = page.request.get("/api/v1/hosts/web01").json()
    assert (host["frequency_seconds"], host["schedule_type"]) == (600, "business_hours")

    page.get_by_label("Schedule of web01").select_option("custom")
    cron = page.get_by_label("Cron expression of web01")
    cron.fill("61 * * * *")
    row.get_by_role("button", name="Save web01").click()
    expect(row.locator("#e-web01-cron_expression")).to_contain_text("invalid minute field '61'")
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(cron).to_be_focused()
    expect(row.locator(".row-status")).to_have_text("Not saved.")
    assert page.request.get("/api/v1/hosts/web01").json()["schedule_type"] == "business_hours"

    cron.fill("*/10 * * * 1-5")
    row.get_by_role("button", name="Save web01").click()
    expect(row.locator(".row-status")).to_have_text("Saved.")
    expect(row.locator(".field-error")).to_have_count(0)
    host = page.request.get("/api/v1/hosts/web01").json()
    assert (host["schedule_type"], host["cron_expression"]) == ("custom", "*/10 * * * 1-5")


def test_config_manager_works_without_javascript(new_context, live_server, staff):
    page = new_context(java_script_enabled=False).new_page()
    seed_host("web01", "Web 01")
    login(page)
    page.goto("/api/v1/config")
    page.get_by_label("Grace in seconds of web01").fill("30")
    page.get_by_role("button", name="Save web01").click()
    expect(page.get_by_role("status")).to_contain_text("Saved web01.")
    assert Host.objects.get(host_id="web01").grace_seconds == 30
    page.get_by_label("Time zone of web01").fill("Mars/Olympus_Mons")
    page.get_by_role("button", name="Save web01").click()
    expect(page.locator("#e-web01-timezone")).to_contain_text("is not an IANA time zone")
    expect(page.get_by_role("alert")).to_contain_text("web01 was not saved")


def test_adding_a_host_shows_its_token_once(page, live_server, staff):
    login(page)
    page.goto("/api/v1/config#add-host")
    form = page.locator("#add-host")
    form.get_by_label("Name").fill("Backup NAS")
    form.get_by_label("Host ID").fill("nas01")
    form.get_by_label("Frequency (seconds)").fill("3600")
    form.get_by_role("button", name="Add host").click()
    expect(page.get_by_role("heading", name="Host nas01 registered")).to_be_visible()
    token = page.get_by_label("Token").input_value()
    assert len(token) >= 32
    expect(page.locator("#setup-text")).to_contain_text(f"./client-heartbeat.sh nas01 {token}")
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator(".token-row .copy-status")).not_to_be_empty()
    response = page.request.post(
        "/api/v1/heartbeat/nas01", headers={"Authorization": f"Bearer {token}"}, data="ok"
    )
    assert response.status == 200
    page.goto("/api/v1/config")
    assert token not in page.content()


def test_public_mode_hides_write_actions_and_secrets(page, live_server, settings):
    settings.NETMON_PUBLIC_DASHBOARD = True
    host = seed_host(
        "db01",
        "Database",
        changes=[(UP, timedelta(days=2)), (DOWN, timedelta(minutes=9))],
        last_seen=timedelta(minutes=12),
        beats_every=timedelta(minutes=5),
    )
    page.goto("/api/v1/dashboard")
    expect(page.get_by_text("public read-only view")).to_be_visible()
    expect(page.locator("#alerts-list")).to_contain_text("Database is down")
    expect(page.get_by_role("button", name=re.compile("Acknowledge"))).to_have_count(0)
    expect(page.get_by_role("link", name="Configuration")).to_have_count(0)
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.get_by_role("link", name="Database", exact=True).click()
    expect(page.get_by_role("heading", name="Heartbeats")).to_be_visible()
    html = page.content()
    for secret in (host.token_prefix, "load average", "192.168.1.20", "Client setup"):
        assert secret not in html
    expect(page.get_by_role("button")).to_have_count(0)
    page.goto("/api/v1/config")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def _seed_showcase(settings) -> None:
    from analysis.models import Finding, fingerprint
    from connectivity.models import LinkState

    five = timedelta(minutes=5)
    month = timedelta(days=29)
    seed_host(
        "web01",
        "Web server 01",
        changes=[(UP, month)],
        last_seen=timedelta(seconds=40),
        beats_every=five,
    )
    seed_host(
        "web02",
        "Web server 02",
        changes=[(UP, month)],
        last_seen=timedelta(seconds=95),
        beats_every=five,
    )
    seed_host(
        "db01",
        "Database primary",
        changes=[(UP, month), (DOWN, timedelta(minutes=12))],
        last_seen=timedelta(minutes=18),
        beats_every=five,
    )
    seed_host(
        "db02",
        "Database replica",
        changes=[(UP, month)],
        last_seen=timedelta(seconds=330),
        beats_every=five,
        grace_seconds=120,
    )
    seed_host(
        "fw01",
        "Firewall",
        changes=[(UP, month), (DOWN, timedelta(hours=5)), (UP, timedelta(hours=3, minutes=20))],
        last_seen=timedelta(seconds=50),
        beats_every=timedelta(minutes=2),
        frequency_seconds=120,
    )
    seed_host(
        "backup",
        "Nightly backup",
        changes=[(UP, month)],
        last_seen=timedelta(hours=9),
        schedule_type="custom",
        cron_expression="30 2 * * *",
        grace_seconds=1800,
        timezone="UTC",
    )
    seed_host(
        "printer",
        "Office printer",
        changes=[(UP, month)],
        last_seen=timedelta(minutes=7),
        schedule_type="business_hours",
        frequency_seconds=900,
        beats_every=timedelta(minutes=15),
    )
    seed_host(
        "nas01",
        "Backup NAS",
        changes=[(UP, month)],
        last_seen=timedelta(minutes=21),
        frequency_seconds=3600,
        beats_every=timedelta(hours=1),
    )
    vpn = seed_host("vpn01", "VPN gateway", changes=[(UP, month)], last_seen=timedelta(hours=2))
    vpn.pause("maintenance")
    seed_host("lab-pi", "Lab Raspberry Pi")
    settings.CONNECTIVITY_ENABLED = True
    now = timezone.now()
    LinkState.objects.create(
        pk=1,
        first_check_at=now - month,
        last_check_at=now - timedelta(seconds=70),
        link_up=True,
        summary="3 of 3 targets reachable",
    )
    fw01 = Host.objects.get(host_id="fw01")
    for key, severity in (("203.0.113.9", "high"), ("198.51.100.4", "medium")):
        Finding.objects.create(
            host=fw01,
            fingerprint=fingerprint("fw01", "ssh_brute_force", key),
            key=key,
            category="ssh_brute_force",
            severity=severity,
            title=f"SSH brute force from {key}",
            analyzers="rules",
        )


def _unlabelled_controls(page: Page) -> list[str]:
    return page.evaluate(
        """() => [...document.querySelectorAll(
              'input:not([type=hidden]), select, textarea, button')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                          && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map(el => el.outerHTML.slice(0, 80))"""
    )


def test_screenshots_offline_labels_and_phone_width(page, browser, live_server, staff, settings):
    _seed_showcase(settings)
    ARTIFACTS.mkdir(exist_ok=True)
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    login(page)
    expect(page.locator('[data-summary="hosts.down"]')).to_have_text("1")
    assert _unlabelled_controls(page) == []
    page.screenshot(path=ARTIFACTS / "dashboard.png", full_page=True)

    page.goto("/api/v1/config")
    assert _unlabelled_controls(page) == []
    page.screenshot(path=ARTIFACTS / "config-manager.png", full_page=True)
    page.goto("/api/v1/dashboard/hosts/fw01")
    page.screenshot(path=ARTIFACTS / "host.png", full_page=True)
    assert requests and all(url.startswith(live_server.url) for url in requests), requests

    phone_context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    phone = phone_context.new_page()
    login(phone)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(phone.locator('tr[data-host-id="db01"] .badge')).to_be_visible()
    phone.screenshot(path=ARTIFACTS / "dashboard-phone.png", full_page=True)
    phone_context.close()
