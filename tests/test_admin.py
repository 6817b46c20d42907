"""The admin, used as an administrator does: real URLs, forms and actions, rendered pages."""

import html
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.utils import timezone

from accounts.models import ApiKey
from alerts.choices import ChannelKind
from alerts.models import Channel
from analysis.log_config import config_of
from analysis.models import LogSource
from hosts.models import Host, StatusChange
from netmon.tokens import token_matches

HOSTS = "/admin/hosts/host/"
API_KEYS = "/admin/accounts/apikey/"
CHANNELS = "/admin/alerts/channel/"
WEBHOOK = "https://discord.com/api/webhooks/123456/AdMiN-sEcReT-wEbHoOk-ToKeN"
WEBHOOK_SECRET = "AdMiN-sEcReT-wEbHoOk-ToKeN"
MASKED_WEBHOOK = "https://discord.com/api/webhooks/123456/****"
HOST_TOKEN = re.compile(r"[Tt]oken for (\S+): (\S+) — copy it now")
API_KEY = re.compile(r"nmk_[0-9a-f]{12}\.[A-Za-z0-9_-]+")

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser("root", password="pw-root-123456")


@pytest.fixture
def browser(superuser) -> Client:
    """A browser logged in to the admin as a superuser."""
    client = Client()
    client.force_login(superuser)
    return client


def messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def text(response) -> str:
    return response.content.decode()


def rows(response) -> dict[str, dict[str, str]]:
    """The rows of a changelist as {first column: {column: shown text}}."""
    body = text(response).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = {}
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.DOTALL):
        cells = {
            name: html.unescape(re.sub(r"<[^>]+>", "", value)).strip()
            for name, value in re.findall(
                r'<t[dh] class="field-(\w+)[^"]*">(.*?)</t[dh]>', row, re.DOTALL
            )
        }
        found[next(iter(cells.values()))] = cells
    return found


class FormReader(HTMLParser):
    """The fields of one form in a page, as a browser would submit them untouched."""

    def __init__(self, form_id: str):
        super().__init__(convert_charrefs=True)
        self.form_id = form_id
        self.inside = False
        self.select: str | None = None
        self.textarea: str | None = None
        self.data: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.inside = attributes.get("id") == self.form_id
        if not self.inside:
            return
        name = attributes.get("name")
        kind = attributes.get("type", "text")
        if tag == "input" and name and kind not in ("submit", "button", "reset", "file"):
            if kind in ("checkbox", "radio"):
                if "checked" in attributes:
                    self.data[name] = attributes.get("value") or "on"
            else:
                self.data[name] = attributes.get("value") or ""
        elif tag == "select" and name:
            self.select = name
        elif tag == "option" and self.select:
            if self.select not in self.data or "selected" in attributes:
                self.data[self.select] = attributes.get("value") or ""
        elif tag == "textarea" and name:
            self.textarea = name
            self.data[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea:
            # A browser drops the newline that starts a textarea's content.
            self.data[self.textarea] = self.data[self.textarea].removeprefix("\n")
            self.textarea = None

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.data[self.textarea] += data


def form_data(response, **changes) -> dict[str, str]:
    """What the browser posts back from the admin form in ``response``, with ``changes``."""
    reader = FormReader(f"{response.context['opts'].model_name}_form")
    reader.feed(text(response))
    assert reader.data, "no admin form in the page"
    return reader.data | {name: str(value) for name, value in changes.items()}


def action(browser: Client, url: str, name: str, *objects):
    data = {"action": name, "_selected_action": [obj.pk for obj in objects], "index": 0}
    return browser.post(url, data, follow=True)


def heartbeat(host_id: str, token: str) -> int:
    response = Client().post(
        f"/api/v1/heartbeat/{host_id}",
        data="",
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    return response.status_code


# Access ----------------------------------------------------------------------------------


def test_anonymous_and_non_staff_users_are_sent_to_the_login(db):
    user = get_user_model().objects.create_user("plain", password="pw-plain-123456")
    client = Client()

    assert client.get("/admin/").url == "/admin/login/?next=/admin/"
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url == "/admin/login/?next=/admin/"
    assert client.get(HOSTS).status_code == 302


def test_staff_without_permissions_cannot_see_hosts(make_user):
    client = Client()
    client.force_login(make_user("staff", is_staff=True))

    assert client.get("/admin/").status_code == 200
    assert client.get(HOSTS).status_code == 403


# Host list -------------------------------------------------------------------------------


def test_host_list_shows_status_last_seen_and_schedule(browser, make_host):
    make_host("new01")
    late, _ = make_host("late01", frequency_seconds=300)
    late.receive_heartbeat(timezone.now() - timedelta(hours=2))
    fresh, _ = make_host("fresh01", schedule_type="business_hours", timezone="Asia/Tokyo")
    fresh.receive_heartbeat(timezone.now())
    make_host("cron01", schedule_type="custom", cron_expression="*/5 * * * *", timezone="UTC")
    paused, _ = make_host("paused01")
    paused.pause()

    response = browser.get(HOSTS)

    assert response.status_code == 200
    for column, title in [
        ("status_label", "Status"),
        ("last_heartbeat_at", "Last heartbeat at"),
        ("schedule_label", "Schedule"),
    ]:
        assert re.search(rf'class="[^"]*column-{column}[^"]*">.*?{title}', text(response), re.S)
    shown = rows(response)
    assert {host: row["status_label"] for host, row in shown.items()} == {
        "cron01": "new",
        "fresh01": "up",
        "late01": "late",
        "new01": "new",
        "paused01": "paused",
    }
    assert shown["new01"]["last_heartbeat_at"] == "-"
    assert shown["late01"]["last_heartbeat_at"] not in ("", "-")
    assert shown["new01"]["schedule_label"] == "always"
    assert shown["fresh01"]["schedule_label"] == "business hours (Asia/Tokyo)"
    assert shown["cron01"]["schedule_label"] == "cron */5 * * * * (UTC)"


def test_host_list_search(browser, make_host):
    make_host("web01", name="Front web server")
    make_host("db01", name="Database", notes="nightly backup to the NAS")
    make_host("db02", name="Replica")

    assert set(rows(browser.get(HOSTS, {"q": "web"}))) == {"web01"}
    assert set(rows(browser.get(HOSTS, {"q": "backup"}))) == {"db01"}
    assert set(rows(browser.get(HOSTS, {"q": "db0"}))) == {"db01", "db02"}
    assert "0 hosts" in text(browser.get(HOSTS, {"q": "nothing-like-this"}))


def test_host_list_filters(browser, make_host):
    make_host("always01", timezone="UTC")
    make_host("cron01", schedule_type="custom", cron_expression="0 * * * *", timezone="UTC")
    paused, _ = make_host("paused01", timezone="Europe/Berlin")
    paused.pause()

    def shown(**params) -> set[str]:
        return set(rows(browser.get(HOSTS, params)))

    assert shown(status__exact="paused") == {"paused01"}
    assert shown(status__exact="new") == {"always01", "cron01"}
    assert shown(schedule_type__exact="custom") == {"cron01"}
    assert shown(timezone="Europe/Berlin") == {"paused01"}
    assert shown(timezone="UTC", schedule_type__exact="always") == {"always01"}


# Adding and editing hosts ----------------------------------------------------------------


def test_adding_a_host_shows_its_token_once(browser):
    page = browser.get(f"{HOSTS}add/")
    data = form_data(page, host_id="nas01", name="NAS", frequency_seconds=600, grace_seconds=30)

    response = browser.post(f"{HOSTS}add/", data, follow=True)

    assert response.status_code == 200
    tokens = [HOST_TOKEN.search(message) for message in messages(response)]
    tokens = [match for match in tokens if match]
    assert len(tokens) == 1, messages(response)
    assert tokens[0].group(1) == "nas01"
    token = tokens[0].group(2)
    assert text(response).count(token) == 1
    host = Host.objects.get(host_id="nas01")
    assert (host.name, host.frequency_seconds, host.grace_seconds) == ("NAS", 600, 30)
    assert token_matches(token, host.token_hash)
    assert host.token_prefix == token[:8]
    assert token not in host.token_hash
    # Never again: not on the next page, not on the host's own page.
    assert token not in text(browser.get(HOSTS))
    assert token not in text(browser.get(f"{HOSTS}{host.pk}/change/"))
    assert heartbeat("nas01", token) == 200


def test_invalid_host_form_shows_the_errors_and_creates_nothing(browser, make_host):
    page = browser.get(f"{HOSTS}add/")
    data = form_data(
        page,
        host_id="bad01",
        name="Bad",
        frequency_seconds=5,
        schedule_type="custom",
        cron_expression="",
    )

    response = browser.post(f"{HOSTS}add/", data)

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) >= {"frequency_seconds", "cron_expression"}
    assert "A cron expression is required for a custom schedule." in text(response)
    assert "Ensure this value is greater than or equal to 10." in text(response)
    assert not Host.objects.exists()


def test_invalid_change_leaves_the_host_unchanged(browser, make_host):
    host, token = make_host("web01", frequency_seconds=120)
    before = Host.objects.filter(pk=host.pk).values().get()
    url = f"{HOSTS}{host.pk}/change/"
    page = browser.get(url)

    response = browser.post(
        url,
        form_data(page, name="Renamed", frequency_seconds=5, schedule_type="custom"),
    )

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) >= {
        "frequency_seconds",
        "cron_expression",
    }
    assert Host.objects.filter(pk=host.pk).values().get() == before
    assert heartbeat("web01", token) == 200


def test_emptied_log_analysis_config_does_not_crash(browser, make_host):
    host, _ = make_host("web01")
    LogSource.objects.create(host=host, ssh_host="fw.example")
    url = f"{HOSTS}{host.pk}/change/"

    response = browser.post(url, form_data(browser.get(url), **{"log_source-0-DELETE": "on"}))

    assert response.status_code in (200, 302)
    assert config_of(Host.objects.get(pk=host.pk)) == {}


def test_valid_change_is_saved(browser, make_host):
    host, _ = make_host("web01")
    url = f"{HOSTS}{host.pk}/change/"
    page = browser.get(url)

    response = browser.post(
        url,
        form_data(page, schedule_type="custom", cron_expression="0 9 * * 1-5", timezone="UTC"),
        follow=True,
    )

    assert response.status_code == 200
    host.refresh_from_db()
    assert (host.schedule_type, host.cron_expression, host.timezone) == (
        "custom",
        "0 9 * * 1-5",
        "UTC",
    )
    assert rows(response)["web01"]["schedule_label"] == "cron 0 9 * * 1-5 (UTC)"


# Host actions ----------------------------------------------------------------------------


def test_pause_and_resume_actions(browser, make_host, superuser):
    web, _ = make_host("web01")
    web.receive_heartbeat(timezone.now())
    db, _ = make_host("db01")
    other, _ = make_host("other01")

    response = action(browser, HOSTS, "pause_hosts", web, db)

    assert "Paused 2 host(s)." in messages(response)
    assert dict(Host.objects.values_list("host_id", "status")) == {
        "web01": "paused",
        "db01": "paused",
        "other01": "new",
    }
    paused = StatusChange.objects.filter(to_status="paused").order_by("host__host_id")
    assert [(c.host.host_id, c.from_status) for c in paused] == [("db01", "new"), ("web01", "up")]
    assert all("root" in change.reason for change in paused)
    assert rows(response)["web01"]["status_label"] == "paused"

    response = action(browser, HOSTS, "resume_hosts", web)

    assert "Resumed 1 host(s)." in messages(response)
    web.refresh_from_db()
    assert web.status == "up"  # watched again: alerted if silent for a period from now
    assert web.next_deadline == web.monitored_since + timedelta(
        seconds=web.frequency_seconds + web.grace_seconds
    )
    resumed = StatusChange.objects.filter(host=web).order_by("-at", "-id").first()
    assert (resumed.from_status, resumed.to_status) == ("paused", "up")
    assert StatusChange.objects.filter(host=other).count() == 0


def test_pausing_a_paused_host_records_no_change(browser, make_host):
    host, _ = make_host("web01")
    action(browser, HOSTS, "pause_hosts", host)

    action(browser, HOSTS, "pause_hosts", host)

    assert StatusChange.objects.filter(host=host).count() == 1


def test_rotate_token_action(browser, make_host):
    web, old_web = make_host("web01")
    db, old_db = make_host("db01")
    assert heartbeat("web01", old_web) == 200

    response = action(browser, HOSTS, "rotate_tokens", web, db)

    new_tokens = dict(m.groups() for m in map(HOST_TOKEN.search, messages(response)) if m)
    assert set(new_tokens) == {"web01", "db01"}
    assert heartbeat("web01", old_web) == 401
    assert heartbeat("db01", old_db) == 401
    assert heartbeat("web01", new_tokens["web01"]) == 200
    assert heartbeat("db01", new_tokens["db01"]) == 200
    db.refresh_from_db()
    assert db.token_prefix == new_tokens["db01"][:8]
    assert new_tokens["db01"] not in text(browser.get(HOSTS))


# API keys --------------------------------------------------------------------------------


def test_api_key_is_shown_once_and_then_works(browser, superuser):
    page = browser.get(f"{API_KEYS}add/")

    response = browser.post(
        f"{API_KEYS}add/", form_data(page, name="CI pipeline", access="write"), follow=True
    )

    keys = [key for message in messages(response) for key in API_KEY.findall(message)]
    assert len(keys) == 1, messages(response)
    key = keys[0]
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.access, api_key.created_by) == ("CI pipeline", "write", superuser)
    assert key not in api_key.key_hash
    assert key not in text(browser.get(API_KEYS))
    assert key not in text(browser.get(f"{API_KEYS}{api_key.pk}/change/"))

    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/hosts").status_code == 200
    created = api.post(
        "/api/v1/hosts",
        {"host_id": "made-by-key", "name": "From the API"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content


def test_read_only_api_key_from_the_admin_cannot_write(browser):
    page = browser.get(f"{API_KEYS}add/")
    response = browser.post(
        f"{API_KEYS}add/", form_data(page, name="Dashboard", access="read"), follow=True
    )
    key = next(key for message in messages(response) for key in API_KEY.findall(message))

    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert api.get("/api/v1/hosts").status_code == 200
    forbidden = api.post(
        "/api/v1/hosts", {"host_id": "nope", "name": "No"}, content_type="application/json"
    )
    assert forbidden.status_code == 403


# Alert channels --------------------------------------------------------------------------


@pytest.fixture
def channel(db) -> Channel:
    return Channel.objects.create(name="Ops Discord", kind=ChannelKind.DISCORD, url=WEBHOOK)


def test_channel_list_and_form_show_the_webhook_masked(browser, channel):
    listing = browser.get(CHANNELS)
    change = browser.get(f"{CHANNELS}{channel.pk}/change/")

    for response in (listing, change):
        assert response.status_code == 200
        assert WEBHOOK_SECRET not in text(response)
    assert rows(listing)["Ops Discord"]["target"] == MASKED_WEBHOOK
    assert f"Currently {MASKED_WEBHOOK}" in text(change)


def test_saving_a_channel_with_an_empty_url_keeps_the_webhook(browser, channel):
    url = f"{CHANNELS}{channel.pk}/change/"
    page = browser.get(url)
    assert form_data(page)["url"] == ""

    response = browser.post(url, form_data(page, name="Ops alerts", url=""), follow=True)

    assert response.status_code == 200
    channel.refresh_from_db()
    assert (channel.name, channel.url) == ("Ops alerts", WEBHOOK)
    assert WEBHOOK_SECRET not in text(response)


def test_saving_a_channel_with_a_new_url_replaces_it(browser, channel):
    url = f"{CHANNELS}{channel.pk}/change/"
    new = "https://discord.com/api/webhooks/999/Another-Secret-Token"

    browser.post(url, form_data(browser.get(url), url=new), follow=True)

    channel.refresh_from_db()
    assert channel.url == new


def test_adding_a_channel_never_echoes_the_webhook(browser):
    page = browser.get(f"{CHANNELS}add/")

    rejected = browser.post(
        f"{CHANNELS}add/", form_data(page, name="", kind="discord", url=WEBHOOK)
    )

    assert rejected.status_code == 200
    assert "name" in rejected.context["adminform"].form.errors
    assert WEBHOOK_SECRET not in text(rejected)
    assert not Channel.objects.exists()

    created = browser.post(
        f"{CHANNELS}add/", form_data(page, name="Team", kind="discord", url=WEBHOOK), follow=True
    )

    assert Channel.objects.get().url == WEBHOOK
    assert WEBHOOK_SECRET not in text(created)


def test_a_webhook_channel_needs_a_url(browser):
    page = browser.get(f"{CHANNELS}add/")

    response = browser.post(f"{CHANNELS}add/", form_data(page, name="Hook", kind="webhook"))

    assert "url" in response.context["adminform"].form.errors
    assert not Channel.objects.exists()


ENV_WEBHOOK = "https://discord.com/api/webhooks/777/FrOm-ThE-eNvIrOnMeNt-SeCrEt"


@override_settings(DISCORD_WEBHOOK_URL=ENV_WEBHOOK)
def test_the_channel_from_the_environment_is_masked_too(browser):
    Channel.routing_targets()  # creates the channel for DISCORD_WEBHOOK_URL
    channel = Channel.objects.get(from_environment=True)

    listing = browser.get(CHANNELS)
    change = browser.get(f"{CHANNELS}{channel.pk}/change/")

    assert rows(listing)[channel.name]["target"] == "https://discord.com/api/webhooks/777/****"
    for response in (listing, change):
        assert response.status_code == 200
        assert "FrOm-ThE-eNvIrOnMeNt-SeCrEt" not in text(response)


def test_mark_repaired_action(browser, channel):
    channel.mark_broken("HTTP 404 from the webhook")

    response = action(browser, CHANNELS, "mark_repaired", channel)

    assert "1 channel(s) will be retried." in messages(response)
    channel.refresh_from_db()
    assert (channel.broken_at, channel.broken_reason) == (None, "")
