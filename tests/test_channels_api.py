"""The channels API: admin-level only, URLs write-only and masked, the model's checks,
a test notification that answers what the channel said."""

import json
import re
from pathlib import Path

import pytest
from fakes import RecordingServer, Reply
from rest_framework.test import APIClient

from alerts.models import Channel, Delivery

pytestmark = pytest.mark.django_db

SECRET = "s3cret-topic"


@pytest.fixture
def no_env_channel(settings):
    settings.DISCORD_WEBHOOK_URL = ""


def ntfy(server) -> str:
    host, port = server.url.removeprefix("http://").split(":")
    return f"ntfy://{host}:{port}/{SECRET}"


@pytest.mark.parametrize(
    ("client_fixture", "status"), [("read_api", 403), ("api", 403), ("anonymous", 401)]
)
def test_credentials_below_admin_may_not_read_or_create_channels(request, client_fixture, status):
    client = request.getfixturevalue(client_fixture)
    Channel.objects.create(name="Ops", kind="webhook", url="http://127.0.0.1:9/hook")

    listed = client.get("/api/v1/channels")
    created = client.post(
        "/api/v1/channels",
        {"name": "Mine", "kind": "webhook", "url": "http://127.0.0.1:9/x"},
        format="json",
    )

    assert (listed.status_code, created.status_code) == (status, status)
    if status == 403:
        assert "admin API key" in listed.json()["detail"]
    assert Channel.objects.count() == 1


@pytest.fixture
def read_api(read_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    return client


def test_an_operator_account_is_refused_and_an_administrator_may(
    operator_user, administrator_user, client
):
    client.force_login(operator_user)
    assert client.get("/api/v1/channels").status_code == 403
    client.force_login(administrator_user)
    assert client.get("/api/v1/channels").status_code == 200


def test_create_a_channel_its_url_is_never_answered(admin_api, no_env_channel, make_host):
    make_host("fw01")
    response = admin_api.post(
        "/api/v1/channels",
        {
            "name": "Office phone",
            "kind": "apprise",
            "url": f"ntfy://127.0.0.1:8123/{SECRET}",
            "tags": ["office"],
            "hosts": ["fw01"],
            "default": False,
            "min_severity": "warning",
            "quiet_from": "22:00",
            "quiet_until": "07:00",
            "quiet_timezone": "Europe/Berlin",
            "reminder_interval_seconds": 600,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert SECRET not in response.content.decode()
    assert body["target"] == "ntfy://****" and "url" not in body
    assert body["hosts"] == ["fw01"] and body["tags"] == ["office"]
    assert body["state"] == "working" and body["backlog"] == 0
    assert body["quiet_from"] == "22:00:00" and body["quiet_min_severity"] == "critical"
    channel = Channel.objects.get()
    assert channel.url == f"ntfy://127.0.0.1:8123/{SECRET}"
    listed = admin_api.get("/api/v1/channels").json()
    assert [c["name"] for c in listed] == ["Office phone"]
    assert SECRET not in str(listed)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "apprise", "url": "nosuchservice://x"}, "url"),
        ({"kind": "webhook", "url": "ftp://127.0.0.1/x"}, "url"),
        ({"kind": "webhook"}, "url"),
        ({"kind": "email", "email_to": "ops at example"}, "email_to"),
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "default": False}, "default"),
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "hosts": ["nope"]}, "hosts"),
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "alert_kinds": ["x"]}, "alert_kinds"),
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "quiet_from": "22:00"}, "quiet_until"),
        (
            {"kind": "webhook", "url": "http://127.0.0.1:9/", "quiet_timezone": "Mars/Base"},
            "quiet_timezone",
        ),
        ({"kind": "teams", "url": "http://127.0.0.1:9/"}, "kind"),
        ({"kind": "webhook", "url": "http://127.0.0.1:9/", "name": "a\nb"}, "name"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field(admin_api, no_env_channel, fields, field):
    response = admin_api.post("/api/v1/channels", {"name": "X", **fields}, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert "nosuchservice://x" not in response.content.decode() or field != "url"
    assert not Channel.objects.exists()


def test_an_update_without_url_keeps_it_and_gives_a_broken_channel_another_chance(
    admin_api, no_env_channel
):
    channel = Channel.objects.create(
        name="Ops",
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        broken_at="2026-01-01T00:00:00Z",
        broken_reason="answered HTTP 404",
    )
    assert admin_api.get(f"/api/v1/channels/{channel.pk}").json()["state"] == "broken"

    response = admin_api.patch(
        f"/api/v1/channels/{channel.pk}", {"name": "Ops team", "url": ""}, format="json"
    )

    assert response.status_code == 200, response.json()
    channel.refresh_from_db()
    assert channel.url == "http://127.0.0.1:9/hook" and channel.name == "Ops team"
    assert channel.broken_at is None and response.json()["state"] == "working"


def test_the_environment_channel_cannot_be_deleted_or_given_a_url(admin_api, settings):
    settings.DISCORD_WEBHOOK_URL = "http://127.0.0.1:9/api/webhooks/1/secret"
    [channel] = Channel.routing_targets()

    deleted = admin_api.delete(f"/api/v1/channels/{channel.pk}")
    changed = admin_api.patch(
        f"/api/v1/channels/{channel.pk}", {"url": "http://127.0.0.1:9/other"}, format="json"
    )

    assert deleted.status_code == 400 and "from_environment" in deleted.json()
    assert changed.status_code == 400 and "url" in changed.json()
    assert Channel.objects.filter(pk=channel.pk, url="").exists()


def test_delete_a_channel(admin_api, no_env_channel):
    channel = Channel.objects.create(name="Old", kind="webhook", url="http://127.0.0.1:9/")
    assert admin_api.delete(f"/api/v1/channels/{channel.pk}").status_code == 204
    assert not Channel.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_test_notification_answers_what_the_channel_said(admin_api, no_env_channel):
    with RecordingServer(Reply(200)) as server:
        channel = Channel.objects.create(
            name="Phone", kind="apprise", url=ntfy(server), tags=["lab"], default=False
        )

        response = admin_api.post(f"/api/v1/channels/{channel.pk}/test")

        assert response.status_code == 200
        assert response.json() == {"delivered": True, "level": "success", "text": "delivered"}
        [sent] = server.wait_for(1)
        assert sent.json()["topic"] == SECRET
        assert sent.json()["title"] == "Test notification from netmon"
        listed = admin_api.get(f"/api/v1/channels/{channel.pk}").json()
        assert listed["last_delivery_at"] is not None and listed["backlog"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_failing_channel_test_says_so_and_stays_queued(admin_api, no_env_channel):
    with RecordingServer(Reply(500)) as server:
        channel = Channel.objects.create(name="Phone", kind="apprise", url=ntfy(server))

        body = admin_api.post(f"/api/v1/channels/{channel.pk}/test").json()

        assert body["delivered"] is False and body["level"] == "error"
        assert body["text"].startswith("failing: ntfy://**** answered HTTP 500")
        assert SECRET not in body["text"]
        state = admin_api.get(f"/api/v1/channels/{channel.pk}").json()
        assert state["state"] == "failing" and state["failing_since"] is not None
        assert state["backlog"] == 1
        assert Delivery.objects.get().state == "pending"


def test_repair_clears_the_breakage(admin_api, no_env_channel):
    channel = Channel.objects.create(
        name="Ops",
        kind="webhook",
        url="http://127.0.0.1:9/hook",
        broken_at="2026-01-01T00:00:00Z",
        broken_reason="answered HTTP 404",
    )
    body = admin_api.post(f"/api/v1/channels/{channel.pk}/repair").json()
    assert body["state"] == "working" and body["broken_reason"] == ""


def test_the_schema_documents_the_channels_api(admin_api):
    schema = admin_api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/channels"])
    assert {"get", "put", "patch", "delete"} <= set(paths["/api/v1/channels/{id}"])
    assert "post" in paths["/api/v1/channels/{id}/test"]
    components = schema["components"]["schemas"]
    assert "url" in components["ChannelRequest"]["properties"]
    assert "url" not in components["Channel"]["properties"]  # answers never carry it


def test_the_readmes_channel_examples_are_accepted(admin_api, no_env_channel):
    """The copy-paste examples of the README create the channels they describe."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    bodies = re.findall(r"/api/v1/channels -d '(\{.*?\})'", readme, re.DOTALL)

    assert len(bodies) == 3
    for body in bodies:
        response = admin_api.post("/api/v1/channels", json.loads(body), format="json")
        assert response.status_code == 201, response.json()
    assert sorted(Channel.objects.values_list("name", flat=True)) == [
        "Office Telegram",
        "On-call phone",
        "Ops Slack",
    ]
