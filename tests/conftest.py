import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import ApiKey
from hosts.models import Host


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
    api_key = ApiKey(name="tests", access=ApiKey.Access.WRITE)
    key = api_key.issue()
    api_key.save()
    return key


@pytest.fixture
def read_key(db) -> str:
    api_key = ApiKey(name="tests read-only", access=ApiKey.Access.READ)
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
def anonymous() -> APIClient:
    return APIClient()


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user("staff", password="pw-staff-1", is_staff=True)
