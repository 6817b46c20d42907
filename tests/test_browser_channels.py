"""The channels page in a real browser (Debian's Chromium through Playwright): add a
channel, send it a test notification and see the answer, route a tag to it and see the
route on the host's page; no serious accessibility violation (axe-core)."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from browser_fixtures import *  # noqa: F403 - Playwright fixtures for Debian's Chromium
from browser_fixtures import ARTIFACTS
from django.contrib.auth import get_user_model
from fakes import RecordingServer, Reply
from playwright.sync_api import Page, expect

from alerts.models import Channel
from hosts.models import Host

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-admin-1"
TOPIC = "office-s3cret"


@pytest.fixture
def admin_user(transactional_db, settings):
    settings.DISCORD_WEBHOOK_URL = ""
    return get_user_model().objects.create_superuser("admin", password=PASSWORD)


@pytest.fixture
def ntfy():
    with RecordingServer(Reply(200, {"id": "x1", "event": "message"})) as server:
        yield server


def login(page: Page) -> None:
    page.goto("/api/v1/config/channels")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Alert channels")).to_be_visible()


def serious_violations(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_add_test_and_route_a_channel(page: Page, admin_user, ntfy):
    host = Host(host_id="fw01", name="Office firewall", tags=["office"])
    host.set_new_token()
    host.save()
    port = ntfy.url.rsplit(":", 1)[1]
    login(page)

    page.get_by_role("link", name="Add a channel").click()
    assert serious_violations(page) == []
    page.get_by_label("Name").fill("Office phone")
    page.get_by_label("Kind").select_option("apprise")
    page.get_by_label("URL").fill(f"ntfy://127.0.0.1:{port}/{TOPIC}")
    page.get_by_role("button", name="Add channel").click()

    row = page.locator("tr", has_text="Office phone")
    expect(page.get_by_text("Added the channel Office phone.")).to_be_visible()
    expect(row).to_contain_text("ntfy://****")
    expect(row).to_contain_text("working")
    assert TOPIC not in page.content()

    row.get_by_role("button", name="Send a test notification to Office phone").click()
    expect(row.get_by_role("status")).to_have_text("Test notification: delivered")
    [received] = ntfy.wait_for(1)
    assert received.json()["topic"] == TOPIC
    assert received.json()["title"] == "Test notification from netmon"
    assert serious_violations(page) == []
    page.screenshot(path=str(ARTIFACTS / "channels.png"), full_page=True)

    # Route the office tag to it, and only that: no longer a default channel.
    row.get_by_role("link", name="Edit Office phone").click()
    page.get_by_label("Tags").fill("office")
    page.get_by_label("Default").uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("tr", has_text="Office phone")).to_contain_text("Tags: office")
    channel = Channel.objects.get()
    assert channel.tags == ["office"] and not channel.default
    assert channel.url == f"ntfy://127.0.0.1:{port}/{TOPIC}"  # kept, never shown

    page.goto("/api/v1/dashboard/hosts/fw01")
    routes = page.get_by_role("region", name="Where its alerts go")
    expect(routes).to_contain_text("Office phone")
    expect(routes).to_contain_text("tag office")
    page.screenshot(path=str(ARTIFACTS / "host-routes.png"), full_page=True)


def test_a_bad_url_is_refused_next_to_the_field(page: Page, admin_user):
    login(page)
    page.get_by_role("link", name="Add a channel").click()
    page.get_by_label("Name").fill("Phone")
    page.get_by_label("Kind").select_option("apprise")
    page.get_by_label("URL").fill("nosuchservice://token")
    page.get_by_role("button", name="Add channel").click()

    url = page.get_by_label("URL")
    expect(url).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("Apprise does not know this URL")).to_be_visible()
    assert not Channel.objects.exists()
    assert serious_violations(page) == []
