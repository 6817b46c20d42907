"""``create_api_key`` and ``ensure_admin``: secrets printed once, then usable for real."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey
from hosts.models import Host

KEY = re.compile(r"nmk_[0-9a-f]{12}\.[A-Za-z0-9_-]{20,}")
PASSWORD = re.compile(r"Password \(shown once, change it after logging in\): (\S+)")

pytestmark = pytest.mark.django_db


def logs_in(username: str, password: str) -> bool:
    """Through the login form, as a person would (and as the login throttle sees it)."""
    response = Client().post("/accounts/login/", {"username": username, "password": password})
    return response.status_code == 302


def run(command: str, *args: str) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def create_key(*args: str) -> str:
    """Run ``create_api_key`` and return the one key it prints."""
    output = run("create_api_key", *args)
    keys = set(KEY.findall(output))
    assert len(keys) == 1, output
    return keys.pop()


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def new_host(host_id: str) -> dict:
    return {"host_id": host_id, "name": f"Host {host_id}", "frequency_seconds": 60}


# create_api_key --------------------------------------------------------------------------


def test_write_key_is_printed_and_can_write():
    key = create_key("--name", "deploy bot", "--access", "write")

    client = client_with(key)
    created = client.post("/api/v1/hosts", new_host("api01"), format="json")
    listed = client.get("/api/v1/hosts")

    assert created.status_code == 201, created.content
    assert Host.objects.filter(host_id="api01").exists()
    assert listed.status_code == 200
    assert [host["host_id"] for host in listed.json()["results"]] == ["api01"]
    api_key = ApiKey.objects.get()
    assert (api_key.name, api_key.access) == ("deploy bot", "write")
    assert api_key.last_used_at is not None


def test_only_an_admin_key_may_set_log_analysis():
    """A log source makes the server open SSH connections and run commands."""
    config = {"log_analysis_config": {"method": "ssh", "ssh_host": "10.0.0.5"}}
    write = client_with(create_key("--name", "deploy bot", "--access", "write"))
    admin = client_with(create_key("--name", "log admin", "--access", "admin"))

    refused = write.post("/api/v1/hosts", {**new_host("api03"), **config}, format="json")
    created = admin.post("/api/v1/hosts", {**new_host("api03"), **config}, format="json")

    assert refused.status_code == 403 and "log_analysis_config" in refused.json()
    assert created.status_code == 201, created.content
    assert created.json()["log_analysis_config"]["ssh_host"] == "10.0.0.5"
    assert ApiKey.objects.get(name="log admin").access == ApiKey.Access.ADMIN


def test_read_only_key_can_read_but_not_write():
    key = create_key("--name", "dashboard", "--access", "read")

    client = client_with(key)

    assert client.get("/api/v1/hosts").status_code == 200
    response = client.post("/api/v1/hosts", new_host("api02"), format="json")
    assert response.status_code == 403
    assert not Host.objects.exists()


def test_read_only_is_the_default():
    key = create_key("--name", "default access")

    assert ApiKey.objects.get().access == ApiKey.Access.READ
    assert client_with(key).delete("/api/v1/hosts/none").status_code == 403


def test_only_the_hash_is_stored():
    key = create_key("--name", "hash only", "--access", "write")
    secret = key.split(".", 1)[1]

    stored = [str(value) for row in ApiKey.objects.values() for value in row.values()]

    assert not any(key in value or secret in value for value in stored)
    assert ApiKey.objects.get().key_hash != key


def test_each_key_is_different_and_a_wrong_key_is_rejected():
    first = create_key("--name", "one", "--access", "write")
    second = create_key("--name", "two", "--access", "write")
    assert first != second

    tampered = first[:-4] + ("AAAA" if not first.endswith("AAAA") else "BBBB")
    response = client_with(tampered).get("/api/v1/hosts")

    assert response.status_code == 401
    assert client_with(second).get("/api/v1/hosts").status_code == 200


def test_name_is_stripped():
    create_key("--name", "  padded  ")
    assert ApiKey.objects.get().name == "padded"


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_invalid_name_is_refused(name):
    with pytest.raises(CommandError, match="--name"):
        run("create_api_key", "--name", name)
    assert not ApiKey.objects.exists()


def test_invalid_access_is_refused():
    with pytest.raises(CommandError):
        run("create_api_key", "--name", "x", "--access", "root")
    assert not ApiKey.objects.exists()


# ensure_admin ----------------------------------------------------------------------------


def test_ensure_admin_creates_a_superuser_once():
    output = run("ensure_admin")
    match = PASSWORD.search(output)
    assert match, output
    password = match.group(1)

    assert logs_in("admin", password)
    client = Client()
    client.force_login(get_user_model().objects.get())
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/config").status_code == 200  # a superuser may do everything
    admin = get_user_model().objects.get()
    assert (admin.username, admin.is_superuser, admin.is_staff) == ("admin", True, True)

    again = run("ensure_admin")

    assert "nothing to do" in again
    assert PASSWORD.search(again) is None
    assert get_user_model().objects.count() == 1
    assert logs_in("admin", password)


def test_ensure_admin_with_another_username():
    output = run("ensure_admin", "--username", "root")
    password = PASSWORD.search(output).group(1)

    assert logs_in("root", password)


def test_ensure_admin_does_nothing_when_a_superuser_exists():
    get_user_model().objects.create_superuser("boss", password="pw-boss-123456")

    output = run("ensure_admin")

    assert "nothing to do" in output
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["boss"]


def test_ensure_admin_explains_when_the_username_is_taken(make_user):
    make_user("admin", "Administrator")

    with pytest.raises(CommandError):
        run("ensure_admin")
