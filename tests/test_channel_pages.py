"""The channels pages: administrators only, the admin's checks, the URL never shown, the
test notification's answer in the channel's row."""

import pytest
from fakes import RecordingServer, Reply

from alerts.models import Channel

pytestmark = pytest.mark.django_db

SECRET = "s3cret-topic"
FORM = {
    "name": "Office phone",
    "kind": "apprise",
    "url": f"ntfy://127.0.0.1:8123/{SECRET}",
    "enabled": "on",
    "min_severity": "warning",
    "tags": "office",
    "quiet_min_severity": "critical",
}


@pytest.fixture(autouse=True)
def no_env_channel(settings):
    settings.DISCORD_WEBHOOK_URL = ""


@pytest.fixture
def admin_client(client, administrator_user):
    client.force_login(administrator_user)
    return client


@pytest.mark.parametrize("user", ["viewer_user", "operator_user"])
def test_below_administrator_the_pages_are_refused(request, client, user):
    client.force_login(request.getfixturevalue(user))
    channel = Channel.objects.create(name="Ops", kind="webhook", url="http://127.0.0.1:9/")

    assert client.get("/api/v1/config/channels").status_code == 403
    assert client.post("/api/v1/config/channels/new", FORM).status_code == 403
    assert client.post(f"/api/v1/config/channels/{channel.pk}/test").status_code == 403
    assert client.post(f"/api/v1/config/channels/{channel.pk}/delete").status_code == 403
    assert Channel.objects.count() == 1


def test_anonymous_visitors_are_sent_to_the_login(client):
    response = client.get("/api/v1/config/channels")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_add_a_channel_and_see_it_listed_masked(admin_client, make_host):
    make_host("fw01")
    response = admin_client.post("/api/v1/config/channels/new", {**FORM, "hosts": ["fw01"]})

    assert response.status_code == 302
    channel = Channel.objects.get()
    assert channel.url == FORM["url"] and channel.tags == ["office"]
    assert [h.host_id for h in channel.hosts.all()] == ["fw01"]
    page = admin_client.get(response["Location"]).content.decode()
    assert "Added the channel Office phone." in page
    assert "ntfy://****" in page and SECRET not in page
    assert "working" in page and "fw01" in page


def test_the_edit_form_never_shows_the_url_and_keeps_it_when_left_empty(admin_client):
    channel = Channel.objects.create(name="Phone", kind="apprise", url=FORM["url"])

    page = admin_client.get(f"/api/v1/config/channels/{channel.pk}").content.decode()
    response = admin_client.post(
        f"/api/v1/config/channels/{channel.pk}", {**FORM, "name": "Phone 2", "url": ""}
    )

    assert SECRET not in page and "Currently ntfy://****" in page
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.name == "Phone 2" and channel.url == FORM["url"]


@pytest.mark.parametrize(
    ("changes", "field_message"),
    [
        ({"url": "nosuchservice://x"}, "Apprise does not know this URL"),
        ({"tags": "", "default": ""}, "give it tags or hosts"),
        ({"quiet_from": "22:00"}, "Quiet hours need both"),
        ({"quiet_timezone": "Europe"}, "IANA time zone"),
    ],
)
def test_bad_settings_are_a_400_saying_why_and_nothing_is_saved(
    admin_client, changes, field_message
):
    response = admin_client.post("/api/v1/config/channels/new", {**FORM, **changes})

    assert response.status_code == 400
    page = response.content.decode()
    assert field_message in page and 'aria-invalid="true"' in page
    assert "nosuchservice://x" not in page  # a URL typed in is not sent back
    assert not Channel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_test_notification_shows_its_answer_in_the_channels_row(admin_client):
    with RecordingServer() as server:
        server.queue(Reply(200), Reply(500))
        port = server.url.rsplit(":", 1)[1]
        good = Channel.objects.create(
            name="Good", kind="apprise", url=f"ntfy://127.0.0.1:{port}/{SECRET}"
        )
        bad = Channel.objects.create(
            name="Bad", kind="webhook", url=f"http://127.0.0.1:{port}/hook"
        )

        admin_client.post(f"/api/v1/config/channels/{good.pk}/test")
        response = admin_client.post(f"/api/v1/config/channels/{bad.pk}/test", follow=True)

    page = response.content.decode()
    rows = {
        name: page[page.index(f'id="channel-{channel.pk}"') :].split("</tr>")[0]
        for name, channel in [("good", good), ("bad", bad)]
    }
    assert "Test notification: delivered" in rows["good"]
    assert "Test notification: failing: " in rows["bad"] and "HTTP 500" in rows["bad"]
    assert "failing" in rows["bad"] and SECRET not in page


def test_disable_enable_repair_and_delete(admin_client):
    channel = Channel.objects.create(
        name="Ops",
        kind="webhook",
        url="http://127.0.0.1:9/",
        broken_at="2026-01-01T00:00:00Z",
        broken_reason="answered HTTP 404",
    )
    base = f"/api/v1/config/channels/{channel.pk}"

    admin_client.post(f"{base}/enabled", {"enabled": "false"})
    assert not Channel.objects.get().enabled
    admin_client.post(f"{base}/enabled", {"enabled": "true"})
    assert Channel.objects.get().enabled
    admin_client.post(f"{base}/repair")
    assert Channel.objects.get().broken_at is None
    assert admin_client.get(f"{base}/delete").status_code == 200
    assert Channel.objects.exists()  # the GET only asks
    admin_client.post(f"{base}/delete")
    assert not Channel.objects.exists()


def test_the_environment_channel_cannot_be_deleted_here(admin_client, settings):
    settings.DISCORD_WEBHOOK_URL = "http://127.0.0.1:9/api/webhooks/1/secret"
    [channel] = Channel.routing_targets()

    response = admin_client.post(f"/api/v1/config/channels/{channel.pk}/delete", follow=True)

    assert "DISCORD_WEBHOOK_URL" in response.content.decode()
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_the_host_page_shows_where_its_alerts_go(admin_client, make_host, settings):
    settings.REMINDER_INTERVAL_SECONDS = 0
    make_host("fw01", tags=["office"])
    Channel.objects.create(
        name="Office phone",
        kind="apprise",
        url=FORM["url"],
        tags=["office"],
        default=False,
        alert_kinds=["host_down"],
        reminder_interval_seconds=600,
    )
    Channel.objects.create(name="Everyone", kind="webhook", url="http://127.0.0.1:9/")

    page = admin_client.get("/api/v1/dashboard/hosts/fw01").content.decode()

    section = page[page.index('id="routes-title"') :].split("</section>")[0]
    assert "Office phone" in section and "ntfy://****" in section
    assert 'tag <span class="tag">office</span>' in section
    assert "host_down, info and above" in section and "every 10 min" in section
    assert "Everyone" not in section  # the office tag chose the channel: no default
    assert "No channel takes: host_up" in section
    assert SECRET not in page


def test_the_host_page_hides_routes_from_the_public(client, make_host, settings):
    settings.NETMON_PUBLIC_DASHBOARD = True
    make_host("fw01")
    Channel.objects.create(name="Everyone", kind="webhook", url="http://127.0.0.1:9/")

    page = client.get("/api/v1/dashboard/hosts/fw01").content.decode()

    assert "Where its alerts go" not in page and "Everyone" not in page
