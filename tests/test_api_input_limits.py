"""Query parameters that used to be 500s: page sizes and offsets beyond what a database can
take, and date-times that cannot be converted to UTC. Every list endpoint and every
endpoint with since/until is tried; the schema is checked to list no others."""

import re

import pytest

LIST_ENDPOINTS = [
    "/api/v1/hosts",
    "/api/v1/alerts",
    "/api/v1/analysis/runs",
    "/api/v1/analysis/findings",
    "/api/v1/connectivity/checks",
    "/api/v1/connectivity/outages",
    "/api/v1/heartbeat/web01/history",
    "/api/v1/heartbeat/web01/runs",
    "/api/v1/maintenance",
]
TIME_ENDPOINTS = [
    *LIST_ENDPOINTS[1:-1],
    "/api/v1/hosts/web01/status-history",
]
HUGE = str(2**63)  # SQLite: OverflowError / "datatype mismatch"; PostgreSQL: out of range
OUT_OF_RANGE_TIMES = ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"]


@pytest.fixture
def web01(make_host):
    return make_host("web01")[0]


def schema_paths(api, parameter: str) -> list[str]:
    """The GET paths of the schema with ``parameter``, with web01 as the host."""
    paths = api.get("/api/v1/schema", HTTP_ACCEPT="application/json").json()["paths"]
    found = []
    for path, operations in paths.items():
        names = {p["name"] for p in operations.get("get", {}).get("parameters", [])}
        if parameter in names:
            found.append(re.sub(r"\{host_id\}", "web01", path))
    return sorted(found)


def test_the_tables_cover_every_endpoint_of_the_schema(api):
    assert schema_paths(api, "limit") == sorted(LIST_ENDPOINTS)
    assert schema_paths(api, "offset") == sorted(LIST_ENDPOINTS)
    assert schema_paths(api, "since") == sorted(TIME_ENDPOINTS)
    assert schema_paths(api, "until") == sorted(TIME_ENDPOINTS)


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        (f"limit={HUGE}", "limit"),
        (f"offset={HUGE}", "offset"),
        ("limit=1001", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
        ("limit=10&offset=1000000001", "offset"),
    ],
)
def test_bad_page_parameters_are_a_400_naming_them(api, web01, path, query, field):
    response = api.get(f"{path}?{query}")

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_the_largest_page_is_served(api, web01, path):
    response = api.get(f"{path}?limit=1000&offset=1000000000")

    assert response.status_code == 200, response.content
    assert response.json()["results"] == []


@pytest.mark.parametrize("path", TIME_ENDPOINTS)
@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize("value", OUT_OF_RANGE_TIMES)
def test_times_outside_the_utc_range_are_a_400_naming_the_field(api, web01, path, field, value):
    response = api.get(path, {field: value})

    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]


@pytest.mark.parametrize("path", TIME_ENDPOINTS)
@pytest.mark.parametrize(
    "query",
    [
        {"since": "0001-01-01T00:00:00Z"},
        {"until": "9999-12-31T23:59:59.999999Z"},
        {"since": "0001-01-01T05:00:00+05:00", "until": "9999-12-31T18:59:59-05:00"},
    ],
)
def test_the_extremes_of_the_utc_range_are_accepted(api, web01, path, query):
    response = api.get(path, query)

    assert response.status_code == 200, response.content


def test_status_history_until_the_first_days_of_year_one(api, web01):
    """The default since is 30 days before until, which does not exist here."""
    response = api.get("/api/v1/hosts/web01/status-history", {"until": "0001-01-02T00:00:00Z"})

    assert response.status_code == 200, response.content
    assert response.json()["changes"] == []


# PostgreSQL refuses NUL characters in text ("DataError": a 500), SQLite stores them.
NUL_QUERIES = [
    ("/api/v1/hosts", "search"),
    ("/api/v1/hosts", "tag"),
    ("/api/v1/alerts", "host"),
    ("/api/v1/analysis/runs", "host"),
    ("/api/v1/analysis/findings", "category"),
    ("/api/v1/heartbeat/web01/history", "since"),
]


@pytest.mark.parametrize(("path", "parameter"), NUL_QUERIES)
def test_a_nul_character_in_a_query_parameter_is_a_400_naming_it(api, web01, path, parameter):
    response = api.get(f"{path}?{parameter}=a%00b")

    assert response.status_code == 400, response.content
    assert list(response.json()) == [parameter]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/hosts/web01%00",
        "/api/v1/hosts/%00/status-history",
        "/api/v1/heartbeat/%00/history",
        "/api/v1/alerts/1%00",
    ],
)
def test_a_nul_character_in_the_path_is_a_404(api, web01, path):
    response = api.get(path)

    assert response.status_code == 404, response.content
    assert response.json() == {"detail": "Not found."}


def test_a_path_no_route_matches_is_a_json_404_under_the_api(api, client):
    assert api.get("/api/v1/alerts/1.5").json() == {"detail": "Not found."}
    assert api.get("/api/v1/no-such-thing").json() == {"detail": "Not found."}
    for page in (
        client.get("/no-such-page"),
        client.get("/api/v1/dashboard/no-such-page", HTTP_ACCEPT="text/html,*/*;q=0.8"),
    ):
        assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
