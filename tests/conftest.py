import importlib

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.cache import caches
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey
from hosts.models import Host


@pytest.fixture(autouse=True)
def fresh_cache():
    """Every test starts with an empty cache: nothing an earlier test left in it."""
    for cache in caches.all():
        cache.clear()


@pytest.fixture
def database_cache(settings, db):
    """The caches as served without Redis (netmon/settings.py), instead of local memory."""
    settings.CACHES = {
        alias: {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": table,
        }
        for alias, table in [("default", "netmon_cache")]
    }
    call_command("createcachetable", verbosity=0)


@pytest.fixture
def make_host(db):
    """Create a host; returns (host, plain token)."""

    def make(host_id: str = "web01", **fields) -> tuple[Host, str]:
        host = Host(host_id=host_id, name=fields.pop("name", host_id.upper()), **fields)
        token = host.set_new_token()
        host.save()
        return host, token

    return make


@pytest.fixture
def write_key(db) -> str:
    return _issued_key("tests", ApiKey.Access.WRITE)


@pytest.fixture
def read_key(db) -> str:
    return _issued_key("tests read-only", ApiKey.Access.READ)


@pytest.fixture
def admin_key(db) -> str:
    return _issued_key("tests admin", ApiKey.Access.ADMIN)


def _issued_key(name: str, access: str) -> str:
    api_key = ApiKey(name=name, access=access)
    key = api_key.issue()
    api_key.save()
    return key


@pytest.fixture
def api(write_key) -> APIClient:
    """An API client authenticated with a read-write API key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {write_key}")
    return client


@pytest.fixture
def admin_api(admin_key) -> APIClient:
    """An API client with an admin API key: may also set a host's log_analysis_config."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {admin_key}")
    return client


@pytest.fixture
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def make_user(db):
    """Create a user, in a group of accounts/migrations/0003_groups.py when ``group`` is given;
    the password is ``pw-<username>-1``."""

    def make(username: str, group: str | None = None, **fields):
        user = get_user_model().objects.create_user(username, password=f"pw-{username}-1", **fields)
        if group:
            if not Group.objects.filter(name=group).exists():  # flushed by a transactional test
                importlib.import_module("accounts.migrations.0003_groups").create_groups(apps, None)
                importlib.import_module(
                    "accounts.migrations.0005_manage_channels_capability"
                ).grant_to_administrators(apps, None)
            user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def viewer_user(make_user):
    return make_user("viewer", "Viewer")


@pytest.fixture
def operator_user(make_user):
    return make_user("operator", "Operator")


@pytest.fixture
def administrator_user(make_user):
    return make_user("administrator", "Administrator")


@pytest.fixture
def groupless_user(make_user):
    """Logged in, in no group: what a new account is until someone gives it a group."""
    return make_user("nogroup")
