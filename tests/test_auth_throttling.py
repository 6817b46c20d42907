"""Guessing is slowed down: password logins by django-axes (per username and address),
API keys and host tokens by a failure count per address in the cache (accounts/throttle.py).
"""

from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import AuthFailureCount
from netmon.tasks import cleanup
from tests.processes import manage, process_env

pytestmark = pytest.mark.django_db

LOCKED = "Account locked: too many login attempts"
LOGIN_PAGES = ["/accounts/login/", "/admin/login/"]


def log_in(client: Client, page: str, username: str, password: str, address="192.0.2.10"):
    return client.post(page, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


# Password logins ----------------------------------------------------------------------------


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_the_sixth_try_is_refused_even_with_the_right_password(page, make_user, settings):
    make_user("boss", "Administrator", is_staff=True)
    client = Client()
    answers = [log_in(client, page, "boss", "guess") for _ in range(settings.AXES_FAILURE_LIMIT)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200, 429]  # the 5th locks

    right = log_in(client, page, "boss", "pw-boss-1")

    assert right.status_code == 429 and LOCKED in right.content.decode()
    assert client.get("/api/v1/dashboard").status_code == 302  # to the login: not logged in


def test_a_lockout_is_for_that_username_from_that_address(make_user):
    make_user("boss", "Administrator")
    make_user("other", "Viewer")
    for _ in range(5):
        log_in(Client(), "/accounts/login/", "boss", "guess")

    assert log_in(Client(), "/accounts/login/", "boss", "pw-boss-1").status_code == 429
    assert logged_in(log_in(Client(), "/accounts/login/", "other", "pw-other-1"))
    from_elsewhere = log_in(Client(), "/accounts/login/", "boss", "pw-boss-1", "198.51.100.4")
    assert logged_in(from_elsewhere)


def test_a_lockout_ends_after_the_cool_off(make_user, settings):
    make_user("boss", "Administrator")
    with time_machine.travel("2026-03-02 10:00:00Z", tick=False) as clock:
        for _ in range(5):
            log_in(Client(), "/accounts/login/", "boss", "guess")
        clock.shift(settings.AXES_COOLOFF_TIME.total_seconds() - 60)
        assert log_in(Client(), "/accounts/login/", "boss", "pw-boss-1").status_code == 429
        clock.shift(settings.AXES_COOLOFF_TIME.total_seconds() + 60)  # after the last failure
        assert logged_in(log_in(Client(), "/accounts/login/", "boss", "pw-boss-1"))


@pytest.mark.parametrize(
    "command", [["axes_reset_username", "boss"], ["axes_reset_ip", "192.0.2.10"], ["axes_reset"]]
)
def test_the_reset_commands_lift_a_lockout(make_user, command):
    make_user("boss", "Administrator")
    for _ in range(5):
        log_in(Client(), "/accounts/login/", "boss", "guess")
    assert log_in(Client(), "/accounts/login/", "boss", "pw-boss-1").status_code == 429

    call_command(*command, stdout=StringIO())

    assert logged_in(log_in(Client(), "/accounts/login/", "boss", "pw-boss-1"))


def test_a_good_login_clears_the_earlier_failures(make_user):
    make_user("boss", "Administrator")
    for _ in range(4):
        log_in(Client(), "/accounts/login/", "boss", "typo")
    assert logged_in(log_in(Client(), "/accounts/login/", "boss", "pw-boss-1"))
    for _ in range(4):
        log_in(Client(), "/accounts/login/", "boss", "typo")
    assert logged_in(log_in(Client(), "/accounts/login/", "boss", "pw-boss-1"))


# API keys ---------------------------------------------------------------------------------


def with_bearer(key: str, address: str = "192.0.2.20") -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_guessing_api_keys_gets_429_with_retry_after(read_key, settings):
    settings.AUTH_FAILURE_LIMIT, settings.AUTH_FAILURE_WINDOW_SECONDS = 20, 300
    guess = read_key[:-6] + "AAAAAA"
    with time_machine.travel("2026-03-02 10:00:00Z", tick=False) as clock:
        answers = [with_bearer(guess).get("/api/v1/hosts").status_code for _ in range(20)]
        assert answers == [401] * 20

        refused = with_bearer(read_key).get("/api/v1/hosts")  # the right key, too late
        metrics = with_bearer(read_key).get("/metrics")

        assert refused.status_code == 429 and refused["Retry-After"] == "300"
        assert "Too many failed authentications" in refused.json()["detail"]
        assert metrics.status_code == 429 and metrics["Retry-After"] == "300"
        assert with_bearer(read_key, "192.0.2.21").get("/api/v1/hosts").status_code == 200
        clock.shift(300)
        assert with_bearer(read_key).get("/api/v1/hosts").status_code == 200


def test_heartbeat_and_api_failures_share_the_count(make_host, read_key, settings):
    settings.AUTH_FAILURE_LIMIT = 4
    make_host("web01")
    for _ in range(2):
        assert with_bearer("x" * 43).post("/api/v1/heartbeat/web01").status_code == 401
        assert with_bearer("nmk_0.x").get("/metrics").status_code == 401

    assert with_bearer(read_key).get("/api/v1/alerts").status_code == 429


def test_ipv6_addresses_count_by_their_64_block(make_host, settings):
    """One subscriber gets a /64: changing the last 64 bits must not give fresh attempts."""
    settings.AUTH_FAILURE_LIMIT = 2
    _, token = make_host("web01")
    for address in ("2001:db8:0:7::1", "2001:db8:0:7::ffff"):
        assert with_bearer("x" * 43, address).post("/api/v1/heartbeat/web01").status_code == 401

    assert (
        with_bearer(token, "2001:db8:0:7::abcd").post("/api/v1/heartbeat/web01").status_code == 429
    )
    assert with_bearer(token, "2001:db8:0:8::1").post("/api/v1/heartbeat/web01").status_code == 200


def test_requests_without_credentials_are_not_counted(settings):
    settings.AUTH_FAILURE_LIMIT = 2
    for _ in range(5):
        assert APIClient().get("/api/v1/hosts").status_code == 401


def test_a_good_api_key_pays_one_read_of_its_failure_count(read_key):
    client = with_bearer(read_key)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/connectivity/status").status_code == 200
    count_queries = [
        q["sql"] for q in queries.captured_queries if "accounts_authfailurecount" in q["sql"]
    ]
    assert len(count_queries) == 1 and count_queries[0].startswith("SELECT")


def test_old_windows_counts_are_forgotten(make_host, settings):
    settings.AUTH_FAILURE_WINDOW_SECONDS = 300
    with time_machine.travel("2026-03-02 10:01:00Z", tick=False) as clock:
        for address in ("192.0.2.1", "192.0.2.2"):
            with_bearer("x" * 43, address).post("/api/v1/heartbeat/web01")
        clock.move_to("2026-03-02 10:06:00Z")
        with_bearer("x" * 43, "192.0.2.3").post("/api/v1/heartbeat/web01")
        assert AuthFailureCount.objects.count() == 3

        assert cleanup()["auth_failure_counts"] == 2  # the daily cleanup task
        assert list(AuthFailureCount.objects.values_list("client", flat=True)) == ["192.0.2.3"]


# Configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOGIN_FAILURE_LIMIT", "0"),
        ("LOGIN_LOCKOUT_MINUTES", "soon"),
        ("AUTH_FAILURE_LIMIT", "-1"),
        ("AUTH_FAILURE_WINDOW_SECONDS", "1.5"),
    ],
)
def test_bad_throttle_settings_stop_start_up_naming_the_variable(tmp_path, name, value):
    variables = process_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") | {name: value}
    result = manage("check", env=variables, check=False)
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {name}={value!r} is invalid" in result.stderr


def test_throttle_settings_come_from_the_environment(tmp_path):
    variables = process_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}") | {
        "LOGIN_FAILURE_LIMIT": "7",
        "LOGIN_LOCKOUT_MINUTES": "60",
        "AUTH_FAILURE_LIMIT": "50",
        "AUTH_FAILURE_WINDOW_SECONDS": "600",
    }
    code = (
        "from django.conf import settings as s; "
        "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME, s.AUTH_FAILURE_LIMIT, "
        "s.AUTH_FAILURE_WINDOW_SECONDS)"
    )
    result = manage("shell", "--no-imports", "-c", code, env=variables)
    assert result.stdout.strip().splitlines()[-1] == "7 1:00:00 50 600"
