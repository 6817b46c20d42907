"""The whole REST API fuzzed from its own OpenAPI schema with schemathesis.

Every operation gets a fixed, small number of generated requests, valid and invalid ones,
sent in-process through the WSGI application with a read-write API key. No answer may be
a 5xx; every answer must have a documented status code, content type and headers and
match the documented response schema; operations that need credentials must refuse
requests without them.

Two checks about *requests* are off, because the API's rules go beyond what JSON Schema
can say, on purpose:

- ``positive_data_acceptance`` (every schema-valid request succeeds): rules across fields
  or against the database — ``since`` before ``until``, a cron expression for a custom
  schedule that croniter accepts, a host_id not yet taken, no token on an update — give
  a 400 naming the field, as they should.
- ``negative_data_rejection`` (every schema-invalid request is refused): a blank query
  parameter means "not given", ``since``/``until`` also take ISO 8601 dates and times
  without an offset (read as UTC), and the analysis app reads a falsy
  ``log_analysis_config`` as "none".

The invalid requests are still sent, and must still get a 4xx rather than a 5xx.
``derandomize`` makes every run send the same requests.
"""

import pytest
import schemathesis
from django.core.cache import caches
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

EXAMPLES_PER_OPERATION = 20
HOST = "web01"

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all"},
        # The coverage phase's boundary cases, invalid ones only: its valid ones include one
        # request per enum value, 600 for a host's time zone.
        "phases": {"coverage": {"generation": {"mode": "negative"}}},
        "checks": {
            "positive_data_acceptance": {"enabled": False},
            "negative_data_rejection": {"enabled": False},
        },
        "operations": [
            {
                # 503 is the health endpoint's documented answer for "unhealthy", and the
                # tests run no task cluster.
                "include-path": "/api/v1/health",
                "checks": {"not_a_server_error": {"expected-statuses": ["2xx", "4xx", 503]}},
            }
        ],
    }
)
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", get_wsgi_application(), config=CONFIG)


@pytest.fixture
def same_connection():
    """Keep the test's database connection across requests, as Django's test client does:
    called through WSGI directly, Django would close it at the end of each request (inside
    the test's transaction, PostgreSQL's connection does not survive that)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def fleet(make_host, client):
    """web01 with heartbeats and a status history, and a second host."""
    _, token = make_host(HOST, tags=["web"])
    for body in ("first", "second"):
        client.post(
            f"/api/v1/heartbeat/{HOST}",
            body,
            content_type="text/plain",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
    make_host("db01", schedule_type="custom", cron_expression="*/5 * * * *")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_is_a_server_error_and_every_answer_is_documented(
    case, write_key, fleet, same_connection
):
    if case.path_parameters and "host_id" in case.path_parameters:
        # A real host, so that more than "404" is tried; a body naming a host_id names it.
        case.path_parameters["host_id"] = HOST
        if isinstance(case.body, dict) and "host_id" in case.body:
            case.body["host_id"] = HOST
    # Every request meets the same fleet and an empty count of failed authentications
    # (schemathesis also sends wrong credentials, which would get the address throttled).
    for cache in caches.all():
        cache.clear()
    with transaction.atomic():
        case.call_and_validate(headers={"Authorization": f"Bearer {write_key}"})
        transaction.set_rollback(True)
