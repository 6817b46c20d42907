from pathlib import Path

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from analysis.log_config import config_of
from hosts.models import Host, StatusChange
from netmon.tokens import token_matches

pytestmark = pytest.mark.django_db

NEW_HOST = {"host_id": "web01", "name": "Web Server 01", "frequency_seconds": 300}


def test_create_host_returns_token_once_and_stores_only_its_hash(api):
    response = api.post("/api/v1/hosts", NEW_HOST, format="json")
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    assert len(token) >= 43
    host = Host.objects.get(host_id="web01")
    assert token_matches(token, host.token_hash)
    assert token not in str(Host.objects.filter(pk=host.pk).values().get())
    assert response.json()["token_prefix"] == token[:8]
    shown_again = api.get("/api/v1/hosts/web01").json()
    assert "token" not in shown_again and token not in str(shown_again)


@override_settings(NETMON_BASE_URL="http://monitor.example.net:8080")
def test_create_host_answers_with_the_client_setup_of_manage_add_host(api):
    response = api.post("/api/v1/hosts", NEW_HOST, format="json")
    token = response.json()["token"]
    setup = response.json()["client_setup"]
    assert f"./client-heartbeat.sh web01 {token} http://monitor.example.net:8080" in setup
    assert "*/5 * * * *" in setup and "/etc/systemd/system/" in setup
    assert "client_setup" not in api.get("/api/v1/hosts/web01").json()


def test_create_with_own_token(api):
    token = "x" * 40
    response = api.post("/api/v1/hosts", {**NEW_HOST, "token": token}, format="json")
    assert response.status_code == 201
    assert token_matches(token, Host.objects.get().token_hash)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"frequency_seconds": 5}, "frequency_seconds"),
        ({"frequency_seconds": 31 * 86400 + 1}, "frequency_seconds"),
        ({"grace_seconds": -1}, "grace_seconds"),
        ({"grace_seconds": 7 * 86400 + 1}, "grace_seconds"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"schedule_type": "sometimes"}, "schedule_type"),
        ({"schedule_type": "custom"}, "cron_expression"),
        ({"schedule_type": "custom", "cron_expression": "61 * * * *"}, "cron_expression"),
        ({"schedule_type": "custom", "cron_expression": "* * * * * *"}, "cron_expression"),
        ({"host_id": "Web 01!"}, "host_id"),
        ({"host_id": "generate-token"}, "host_id"),
        ({"host_id": ""}, "host_id"),
        ({"name": ""}, "name"),
        ({"tags": "web"}, "tags"),
        ({"token": "short"}, "token"),
        ({"log_analysis_config": {"method": "telnet"}}, "log_analysis_config"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_create_rejects_bad_input_naming_the_field(admin_api, change, field):
    response = admin_api.post("/api/v1/hosts", {**NEW_HOST, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Host.objects.exists()


def test_create_accepts_spec_log_analysis_config(admin_api, settings):
    settings.ANALYSIS_SSH_KEY_DIRS = [Path("/root/.ssh")]  # the spec's mount of ~/.ssh
    config = {
        "enabled": True,
        "method": "ssh",
        "ssh_host": "192.168.1.1",
        "ssh_user": "admin",
        "ssh_key_path": "/root/.ssh/id_rsa",
        "log_command": "tail -n 1000 /var/log/firewall.log",
        "analysis_frequency": 1800,
        "analysis_prompt": "Analyze these firewall logs.",
    }
    response = admin_api.post(
        "/api/v1/hosts", {**NEW_HOST, "log_analysis_config": config}, format="json"
    )
    assert response.status_code == 201, response.content
    stored = {**config, "ssh_key": "id_rsa"}  # the key by its name in the key directory
    del stored["ssh_key_path"]
    assert config_of(Host.objects.get()) == stored


def test_duplicate_host_id_is_rejected(api, make_host):
    make_host("web01")
    response = api.post("/api/v1/hosts", NEW_HOST, format="json")
    assert response.status_code == 400
    assert "host_id" in response.json()


def test_malformed_json_is_a_400(api):
    response = api.post("/api/v1/hosts", "{not json", content_type="application/json")
    assert response.status_code == 400


def test_list_get_update_delete(api, make_host):
    make_host("web01")
    make_host("db01", schedule_type="business_hours")
    listing = api.get("/api/v1/hosts").json()
    assert listing["count"] == 2
    assert [h["host_id"] for h in listing["results"]] == ["db01", "web01"]
    assert api.get("/api/v1/hosts?search=db").json()["count"] == 1
    assert api.get("/api/v1/hosts?schedule_type=always").json()["count"] == 1
    assert api.get("/api/v1/hosts?status=new").json()["count"] == 2
    assert api.get("/api/v1/hosts?status=bogus").status_code == 400

    detail = api.get("/api/v1/hosts/web01").json()
    assert detail["status"] == "new" and detail["paused"] is False

    put = {
        "host_id": "web01",
        "name": "Renamed",
        "frequency_seconds": 600,
        "grace_seconds": 30,
        "schedule_type": "custom",
        "cron_expression": "*/10 * * * *",
        "timezone": "Europe/Berlin",
    }
    response = api.put("/api/v1/hosts/web01", put, format="json")
    assert response.status_code == 200, response.content
    host = Host.objects.get(host_id="web01")
    assert (host.name, host.frequency_seconds, host.cron_expression) == (
        "Renamed",
        600,
        "*/10 * * * *",
    )
    assert api.put("/api/v1/hosts/web01", {**put, "host_id": "x"}, format="json").status_code == 400

    assert api.delete("/api/v1/hosts/web01").status_code == 204
    assert api.get("/api/v1/hosts/web01").status_code == 404
    assert api.delete("/api/v1/hosts/web01").status_code == 404


def test_pause_and_resume_through_the_api(api, make_host):
    make_host("web01")
    response = api.patch("/api/v1/hosts/web01", {"paused": True}, format="json")
    assert response.json()["status"] == "paused"
    api.patch("/api/v1/hosts/web01", {"paused": False}, format="json")
    host = Host.objects.get()
    assert host.status == "new"
    assert list(StatusChange.objects.values_list("to_status", flat=True).order_by("id")) == [
        "paused",
        "new",
    ]


def test_config_all(api, make_host):
    make_host("web01")
    make_host("web02", frequency_seconds=60)
    data = api.get("/api/v1/hosts/config/all").json()
    assert data["count"] == 2
    assert data["hosts"][1] == {
        "host_id": "web02",
        "name": "WEB02",
        "status": "new",
        "frequency_seconds": 60,
        "grace_seconds": 60,
        "schedule_type": "always",
        "cron_expression": "",
        "timezone": "America/New_York",
        "max_run_seconds": None,
        "paused": False,
        "next_deadline": None,
    }


def test_config_patch_with_query_parameters_as_in_the_spec(api, make_host):
    make_host("web01")
    response = api.patch(
        "/api/v1/hosts/web01/config?frequency_seconds=600&schedule_type=business_hours"
    )
    assert response.status_code == 200, response.content
    host = Host.objects.get()
    assert (host.frequency_seconds, host.schedule_type) == (600, "business_hours")
    assert response.json()["frequency_seconds"] == 600


def test_config_patch_with_json_body(api, make_host):
    make_host("web01")
    body = {"schedule_type": "custom", "cron_expression": "0 9 * * 1-5", "grace_seconds": 900}
    response = api.patch("/api/v1/hosts/web01/config", body, format="json")
    assert response.status_code == 200, response.content
    assert Host.objects.get().cron_expression == "0 9 * * 1-5"


@pytest.mark.parametrize(
    "query",
    [
        "frequency_seconds=abc",
        "frequency_seconds=1",
        "schedule_type=custom",
        "timezone=Nowhere/Land",
        "name=sneaky",
        "unknown=1",
    ],
)
def test_config_patch_rejects_bad_values_and_changes_nothing(api, make_host, query):
    make_host("web01")
    before = Host.objects.values().get()
    response = api.patch(f"/api/v1/hosts/web01/config?{query}")
    assert response.status_code == 400
    assert Host.objects.values().get() == before


def test_config_change_moves_the_deadline(api, make_host, client):
    host, token = make_host("web01", frequency_seconds=300, grace_seconds=60)
    client.post("/api/v1/heartbeat/web01", HTTP_AUTHORIZATION=f"Bearer {token}")
    host.refresh_from_db()
    assert (host.next_deadline - host.last_heartbeat_at).total_seconds() == 360
    api.patch("/api/v1/hosts/web01/config?frequency_seconds=600")
    host.refresh_from_db()
    assert (host.next_deadline - host.last_heartbeat_at).total_seconds() == 660


def test_generate_token_rotates_and_old_token_stops_working(api, make_host, client):
    _, old = make_host("web01")
    response = api.post("/api/v1/hosts/generate-token", {"host_id": "web01"}, format="json")
    assert response.status_code == 200
    new = response.json()["token"]
    assert new != old
    auth = {"HTTP_AUTHORIZATION": f"Bearer {old}"}
    assert client.post("/api/v1/heartbeat/web01", **auth).status_code == 401
    auth = {"HTTP_AUTHORIZATION": f"Bearer {new}"}
    assert client.post("/api/v1/heartbeat/web01", **auth).status_code == 200


def test_generate_token_without_host_returns_a_fresh_token(api):
    response = api.post("/api/v1/hosts/generate-token", {}, format="json")
    assert response.status_code == 200
    assert response.json()["host_id"] is None and len(response.json()["token"]) >= 43
    assert (
        api.post("/api/v1/hosts/generate-token", {"host_id": "nope"}, format="json").status_code
        == 404
    )


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/hosts"),
        ("post", "/api/v1/hosts"),
        ("get", "/api/v1/hosts/web01"),
        ("put", "/api/v1/hosts/web01"),
        ("delete", "/api/v1/hosts/web01"),
        ("post", "/api/v1/hosts/generate-token"),
        ("get", "/api/v1/hosts/config/all"),
        ("patch", "/api/v1/hosts/web01/config?frequency_seconds=600"),
        ("get", "/api/v1/hosts/web01/status-history"),
        ("get", "/api/v1/heartbeat/web01/history"),
        ("get", "/api/v1/alerts"),
    ],
)
def test_management_endpoints_require_authentication(make_host, method, path):
    make_host("web01")
    for credentials in ({}, {"HTTP_AUTHORIZATION": "Bearer nmk_bogus.key"}):
        client = APIClient()
        response = getattr(client, method)(path, format="json", **credentials)
        assert response.status_code == 401, (path, credentials)
    assert Host.objects.get().frequency_seconds == 300


def test_read_only_key_can_read_but_not_write(read_key, make_host):
    make_host("web01")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_key}")
    assert client.get("/api/v1/hosts").status_code == 200
    assert client.patch("/api/v1/hosts/web01/config?frequency_seconds=600").status_code == 403
    assert client.delete("/api/v1/hosts/web01").status_code == 403
    assert Host.objects.get().frequency_seconds == 300


def test_heartbeat_token_is_not_an_api_key(make_host):
    _, token = make_host("web01")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/hosts").status_code == 401


def test_operator_session_can_write_and_viewer_can_only_read(operator_user, viewer_user, make_host):
    make_host("web01")
    client = APIClient()
    client.force_login(operator_user)
    assert client.patch("/api/v1/hosts/web01/config?frequency_seconds=600").status_code == 200
    client = APIClient()
    client.force_login(viewer_user)
    assert client.get("/api/v1/hosts").status_code == 200
    assert client.patch("/api/v1/hosts/web01/config?frequency_seconds=900").status_code == 403


def test_session_writes_need_csrf(operator_user, make_host):
    make_host("web01")
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator_user)
    assert client.patch("/api/v1/hosts/web01/config?frequency_seconds=600").status_code == 403


def test_openapi_schema_and_docs(api, client):
    schema = api.get("/api/v1/schema", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/hosts",
        "/api/v1/hosts/{host_id}",
        "/api/v1/hosts/generate-token",
        "/api/v1/hosts/config/all",
        "/api/v1/hosts/{host_id}/config",
        "/api/v1/heartbeat/{host_id}/history",
        "/api/v1/health",
        "/api/v1/alerts",
    ):
        assert path in paths, path
    docs = api.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "web\r\nSubject: forged"}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"name": "bell\x07"}, "name"),
        ({"tags": ["office", "line\nbreak"]}, "tags"),
    ],
)
def test_names_and_tags_with_control_characters_are_refused(api, change, field):
    """A name or tag is printed in log lines, email subjects and alerts: one line only."""
    response = api.post("/api/v1/hosts", {**NEW_HOST, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Host.objects.exists()
    api.post("/api/v1/hosts", NEW_HOST, format="json")
    response = api.patch(f"/api/v1/hosts/{NEW_HOST['host_id']}", change, format="json")
    assert response.status_code == 400 and field in response.json()
    assert Host.objects.get().name == NEW_HOST["name"]
