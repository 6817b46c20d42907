"""Who may call what: every endpoint and method of the API and the web pages, for every kind
of caller, as one table (``ROWS``), plus the attacks the table stands for.

The routes come from Django's URL resolver and each is probed with every method, so a new
endpoint or method without a row fails ``test_every_endpoint_and_method_has_a_row``. The
Django admin (``/admin/``) is left to Django's model permissions; its netmon-specific
parts are tested at the end. HEAD and OPTIONS answer as GET does, or describe the endpoint,
and are not probed.

Levels: ``PUBLIC`` anyone; ``OPEN`` anyone but who sends a wrong Bearer (a host token
where an API key would go); ``HOST`` the host's own token; ``KEY`` any API key (metrics);
``VIEW``, ``OPERATE``, ``MANAGE`` and ``CHANNELS`` need ``accounts.view_monitoring``,
``operate_monitoring``, ``manage_log_sources`` or ``manage_channels`` (keys by their access
level, users by their groups). On web pages (``WEB``) API keys count for nothing: only sessions do.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import ApiKey
from alerts.choices import AlertKind, Severity
from alerts.models import Alert, Channel
from analysis import log_config
from analysis.models import AnalysisRun, Finding, LogSource
from connectivity.models import ConnectivityCheck, Outage
from hosts.models import Host
from maintenance.models import MaintenanceWindow

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PUBLIC, OPEN, HOST, KEY = "public", "open", "host", "key"
VIEW, OPERATE, MANAGE, CHANNELS = "view", "operate", "manage", "channels"
API, WEB = "api", "web"

# Who has which level. Keys have theirs only in the API; users everywhere.
KEY_LEVELS = {
    "read_key": {VIEW},
    "write_key": {VIEW, OPERATE},
    "admin_key": {VIEW, OPERATE, MANAGE, CHANNELS},
}
USER_LEVELS = {
    "superuser": {VIEW, OPERATE, MANAGE, CHANNELS},
    "administrator": {VIEW, OPERATE, MANAGE, CHANNELS},
    "operator": {VIEW, OPERATE},
    "viewer": {VIEW},
    "no_group": set(),
}
CALLERS = ["anonymous", "host_token", *KEY_LEVELS, *USER_LEVELS]

# A log source that cannot reach anything: SSH to a closed port of this machine.
UNREACHABLE_SOURCE = {"method": "ssh", "ssh_host": "127.0.0.1", "ssh_port": 9, "ssh_user": "x"}
LOG_BLOCK = {"method": "ssh", "ssh_host": "10.0.0.5", "ssh_user": "netmon"}
LOG_FORM = {
    "enabled": "true",
    "method": "ssh",
    "ssh_host": "10.0.0.5",
    "ssh_port": "22",
    "ssh_user": "netmon",
    "log_command": "tail -n 200 /var/log/auth.log",
    "analysis_frequency": "900",
}
YAML_WITHOUT_LOGS = "hosts:\n  - {host_id: new01, name: New 01}\n"
YAML_WITH_LOGS = (
    "hosts:\n  - host_id: new01\n    name: New 01\n"
    "    log_analysis_config: {method: ssh, ssh_host: 10.0.0.5, ssh_user: netmon}\n"
)


@dataclass(frozen=True)
class Row:
    method: str
    name: str  # the URL name
    level: str
    surface: str = API
    body: dict | None = field(default=None, hash=False)
    note: str = ""  # tells rows of one endpoint apart

    @property
    def id(self) -> str:
        return f"{self.method} {self.name}{f' ({self.note})' if self.note else ''}"


def api_rows(name: str, level: str, *methods: str, body=None, note="") -> list[Row]:
    return [Row(method, name, level, API, body, note) for method in methods]


def web_rows(name: str, level: str, *methods: str, body=None, note="") -> list[Row]:
    return [Row(method, name, level, WEB, body, note) for method in methods]


NEW_HOST = {"host_id": "new01", "name": "New 01", "frequency_seconds": 300}
# A channel that reaches nothing: the discard port of this machine (connection refused).
NEW_CHANNEL = {"name": "New", "kind": "webhook", "url": "http://127.0.0.1:9/new"}
NEW_WINDOW = {"reason": "UPS swap", "everything": True, "duration_seconds": 3600}
CHANNEL_FORM = {**NEW_CHANNEL, "min_severity": "info", "quiet_min_severity": "critical"}
ROWS = [
    # Heartbeats and what clients fetch
    *api_rows("heartbeat", HOST, "POST"),
    *api_rows("heartbeat-history", VIEW, "GET"),
    *api_rows("heartbeat-signal", HOST, "POST"),
    *api_rows("heartbeat-runs", VIEW, "GET"),
    *api_rows("ping", PUBLIC, "GET", "POST"),  # the secret in the path is the credential
    *api_rows("kuma-push", PUBLIC, "GET", "POST"),
    *api_rows("client-script", PUBLIC, "GET"),
    *api_rows("health", PUBLIC, "GET"),
    *api_rows("metrics", KEY, "GET"),
    *api_rows("schema", OPEN, "GET"),  # what the API is, not what it holds
    *api_rows("api-docs", OPEN, "GET"),
    # Hosts
    *api_rows("host-list", VIEW, "GET"),
    *api_rows("host-list", OPERATE, "POST", body=NEW_HOST),
    *api_rows(
        "host-list", MANAGE, "POST", body={**NEW_HOST, "log_analysis_config": LOG_BLOCK}, note="log"
    ),
    *api_rows("host-detail", VIEW, "GET"),
    *api_rows("host-detail", OPERATE, "PUT", body={"host_id": "web01", "name": "Web"}),
    *api_rows("host-detail", OPERATE, "PATCH", body={"name": "Web"}),
    *api_rows("host-detail", OPERATE, "DELETE"),
    *api_rows(
        "host-detail",
        MANAGE,
        "PUT",
        body={"host_id": "web01", "name": "Web", "log_analysis_config": LOG_BLOCK},
        note="log",
    ),
    *api_rows("host-detail", MANAGE, "PATCH", body={"log_analysis_config": {}}, note="log off"),
    *api_rows("host-config-all", VIEW, "GET"),
    *api_rows("host-generate-token", OPERATE, "POST", body={"host_id": "web01"}),
    *api_rows("host-config", OPERATE, "PATCH", body={"frequency_seconds": 600}),
    *api_rows("host-status-history", VIEW, "GET"),
    *api_rows("host-ping-token", OPERATE, "POST"),
    # Alerts, log analysis, connectivity
    *api_rows("alert-list", VIEW, "GET"),
    *api_rows("alert-detail", VIEW, "GET"),
    *api_rows("alert-routes", VIEW, "GET"),
    *api_rows("alert-ack", OPERATE, "POST"),
    *api_rows("maintenance-list", VIEW, "GET"),
    *api_rows("maintenance-list", OPERATE, "POST", body=NEW_WINDOW),
    *api_rows("maintenance-detail", VIEW, "GET"),
    *api_rows("maintenance-detail", OPERATE, "DELETE"),
    *api_rows("maintenance-end", OPERATE, "POST"),
    *api_rows("maintenance-extend", OPERATE, "POST", body={"ends_at": "2099-01-02T00:00:00Z"}),
    *api_rows("channel-list", CHANNELS, "GET"),
    *api_rows("channel-list", CHANNELS, "POST", body=NEW_CHANNEL),
    *api_rows("channel-detail", CHANNELS, "GET", "DELETE"),
    *api_rows("channel-detail", CHANNELS, "PUT", body=NEW_CHANNEL),
    *api_rows("channel-detail", CHANNELS, "PATCH", body={"name": "Renamed"}),
    *api_rows("channel-test", CHANNELS, "POST"),
    *api_rows("channel-repair", CHANNELS, "POST"),
    *api_rows("analysis-run-list", VIEW, "GET"),
    *api_rows("analysis-run-detail", VIEW, "GET"),
    *api_rows("analysis-finding-list", VIEW, "GET"),
    *api_rows("analysis-finding-detail", VIEW, "GET"),
    *api_rows("analysis-finding-ack", OPERATE, "POST"),
    *api_rows("connectivity-status", VIEW, "GET"),
    *api_rows("connectivity-check-list", VIEW, "GET"),
    *api_rows("connectivity-check-detail", VIEW, "GET"),
    *api_rows("connectivity-outage-list", VIEW, "GET"),
    *api_rows("connectivity-outage-detail", VIEW, "GET"),
    # Web pages
    *web_rows("web:home", PUBLIC, *METHODS),  # a redirect to the dashboard, for any method
    *web_rows("web:login", PUBLIC, "GET"),
    *web_rows("web:login", PUBLIC, "POST", body={"username": "nobody", "password": "wrong"}),
    # A logged-in user is sent on to the dashboard whatever the method; others get 405.
    *web_rows("web:login", PUBLIC, "PUT", "PATCH", "DELETE"),
    *web_rows("web:logout", PUBLIC, "POST"),
    *web_rows("web:dashboard", VIEW, "GET"),
    *web_rows("web:dashboard-data", VIEW, "GET"),
    *web_rows("web:host-detail", VIEW, "GET"),
    *web_rows("web:alert-ack", OPERATE, "POST"),
    *web_rows("web:config", OPERATE, "GET"),
    *web_rows("web:config-add", OPERATE, "POST", body={"host_id": "new01", "name": "New"}),
    *web_rows("web:config-save", OPERATE, "POST", body={"frequency_seconds": "600"}),
    *web_rows("web:config-delete", OPERATE, "GET", "POST"),
    *web_rows("web:config-rotate", OPERATE, "POST"),
    *web_rows("web:config-import", OPERATE, "POST", body={"yaml": YAML_WITHOUT_LOGS}),
    *web_rows("web:config-import", MANAGE, "POST", body={"yaml": YAML_WITH_LOGS}, note="log"),
    *web_rows("web:config-import-apply", OPERATE, "POST", body={"yaml": YAML_WITHOUT_LOGS}),
    *web_rows("web:config-import-apply", MANAGE, "POST", body={"yaml": YAML_WITH_LOGS}, note="log"),
    *web_rows("web:config-export", OPERATE, "GET"),
    *web_rows("web:log-source", MANAGE, "GET"),
    *web_rows("web:log-source", MANAGE, "POST", body=LOG_FORM),
    *web_rows("web:log-source-test", MANAGE, "POST"),
    *web_rows("web:log-source-run", MANAGE, "POST"),
    *web_rows("web:log-source-new", MANAGE, "GET"),
    *web_rows("web:channels", CHANNELS, "GET"),
    *web_rows("web:channel-add", CHANNELS, "GET"),
    *web_rows("web:channel-add", CHANNELS, "POST", body=CHANNEL_FORM),
    *web_rows("web:channel-edit", CHANNELS, "GET"),
    *web_rows("web:channel-edit", CHANNELS, "POST", body=CHANNEL_FORM),
    *web_rows("web:channel-test", CHANNELS, "POST"),
    *web_rows("web:channel-toggle", CHANNELS, "POST", body={"enabled": "false"}),
    *web_rows("web:channel-repair", CHANNELS, "POST"),
    *web_rows("web:channel-delete", CHANNELS, "GET", "POST"),
]


# The world every request meets ------------------------------------------------------------


@pytest.fixture
def world(make_host, make_user, read_key, write_key, admin_key) -> dict:
    """web01 (with an unreachable log source) and one object of each kind, and every caller's
    credentials; returns the URL arguments and the callers."""
    host, token = make_host("web01")
    log_config.to_source(host, log_config.normalized(UNREACHABLE_SOURCE))
    alert = Alert.objects.create(
        kind=AlertKind.HOST_DOWN, severity=Severity.CRITICAL, host=host, title="WEB01 is down"
    )
    run = AnalysisRun.objects.create(host=host)
    finding = Finding.objects.create(
        host=host,
        fingerprint="f" * 64,
        category="auth",
        severity="high",
        title="Brute force",
        analyzers="rules",
    )
    check = ConnectivityCheck.objects.create(link_up=True, targets_total=1, targets_failed=0)
    outage = Outage.objects.create(started_at=check.checked_at, opened_at=check.checked_at)
    channel = Channel.objects.create(name="Ops", kind="webhook", url="http://127.0.0.1:9/ops")
    window = MaintenanceWindow.objects.create(
        reason="Upgrade",
        everything=True,
        starts_at=check.checked_at,
        ends_at=datetime(2099, 1, 1, tzinfo=UTC),
    )
    users = {
        "superuser": get_user_model().objects.create_superuser("root", password="pw-root-1"),
        "administrator": make_user("administrator", "Administrator"),
        "operator": make_user("operator", "Operator"),
        "viewer": make_user("viewer", "Viewer"),
        "no_group": make_user("nogroup"),
    }
    pks = {
        "alert-detail": alert.pk,
        "alert-ack": alert.pk,
        "web:alert-ack": alert.pk,
        "analysis-run-detail": run.pk,
        "analysis-finding-detail": finding.pk,
        "analysis-finding-ack": finding.pk,
        "connectivity-check-detail": check.pk,
        "connectivity-outage-detail": outage.pk,
        **{name: window.pk for name in ROUTES if name.startswith("maintenance-")},
        **{
            name: channel.pk
            for name in ROUTES
            if name.startswith(("channel-", "web:channel-")) and name != "web:channel-add"
        },
    }
    bearers = {"host_token": token, "read_key": read_key, "write_key": write_key}
    bearers["admin_key"] = admin_key
    return {"pks": pks, "users": users, "bearers": bearers}


def client_of(world: dict, caller: str) -> APIClient:
    client = APIClient()
    if caller in world["bearers"]:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world['bearers'][caller]}")
    elif caller in world["users"]:
        client.force_login(world["users"][caller])
    return client


def url_of(world: dict, name: str, keys: list[str]) -> str:
    values = {"host_id": "web01", "pk": world["pks"].get(name), "signal": "0"}
    values |= {"path": "no-such-ping-token", "token": "no-such-push-token"}
    return reverse(name, kwargs={key: values[key] for key in keys})


def send(client: APIClient, method: str, url: str, row: Row | None = None):
    body = row.body if row else None
    if row is not None and row.surface == WEB and method == "POST":
        return client.post(url, body or {})  # a form, as the pages send it
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, **_json(body)) if body else client.generic(method, url)


def _json(body: dict) -> dict:
    import json

    return {"data": json.dumps(body), "content_type": "application/json"}


def routes() -> dict[str, list[str]]:
    """Every named route but the admin's, with the names of its URL arguments."""
    found = {}

    def walk(resolver, namespace: str) -> None:
        for pattern in resolver.url_patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace != "admin":
                    inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                    walk(pattern, inner)
                continue
            assert pattern.name, f"{pattern.pattern} has no name: give it one, and a row here"
            converters = getattr(pattern.pattern, "converters", None)
            keys = list(converters) if converters else list(pattern.pattern.regex.groupindex)
            found[f"{namespace}{pattern.name}"] = keys

    walk(get_resolver(), "")
    return found


ROUTES = routes()


def expected_allowed(row: Row, caller: str) -> bool:
    if row.level == PUBLIC:
        return True
    if row.level == OPEN:  # no credentials needed, but wrong ones are refused
        return caller != "host_token"
    if row.level == HOST:
        return caller == "host_token"
    if row.level == KEY:
        return caller in KEY_LEVELS
    if caller in KEY_LEVELS:
        return row.surface == API and row.level in KEY_LEVELS[caller]
    return row.level in USER_LEVELS.get(caller, set())


def server_error(name: str, response) -> bool:
    """A 5xx, but the health report's 503: this test's server has no task cluster running."""
    return response.status_code >= 500 and (name, response.status_code) != ("health", 503)


def refused(response) -> bool:
    """401, 403, or a redirect to the login page."""
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# The table ----------------------------------------------------------------------------------


def test_every_endpoint_and_method_has_a_row(world):
    """Each route answers every method but those in ROWS with 405, and every row exists."""
    root = client_of(world, "superuser")
    answered = set()
    for name, keys in ROUTES.items():
        for method in METHODS:
            response = send(root, method, url_of(world, name, keys))
            assert not server_error(name, response), (method, name, response.status_code)
            if response.status_code != 405:
                answered.add((method, name))
    rows = {(row.method, row.name) for row in ROWS}
    assert answered - rows == set(), "endpoints without a row in ROWS"
    assert rows - answered == set(), "rows for endpoints that do not exist"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.id)
def test_matrix(world, row: Row, caller: str):
    url = url_of(world, row.name, ROUTES[row.name])
    response = send(client_of(world, caller), row.method, url, row)
    assert not server_error(row.name, response)
    if expected_allowed(row, caller):
        assert not refused(response), (response.status_code, response.content[:300])
    else:
        assert refused(response), (response.status_code, response.content[:300])


def test_a_hosts_token_is_good_for_its_own_heartbeats_only(make_host):
    make_host("web01")
    _, db_token = make_host("db01")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {db_token}")
    assert client.post("/api/v1/heartbeat/web01").status_code == 401
    assert client.post("/api/v1/heartbeat/db01").status_code == 200
    assert client.get("/api/v1/heartbeat/db01/history").status_code == 401


# Log analysis needs admin level ------------------------------------------------------------


def log_source_of(host_id: str) -> dict:
    return log_config.config_of(Host.objects.get(host_id=host_id))


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/hosts", {**NEW_HOST, "log_analysis_config": LOG_BLOCK}),
        (
            "put",
            "/api/v1/hosts/web01",
            {"host_id": "web01", "name": "W", "log_analysis_config": {}},
        ),
        ("patch", "/api/v1/hosts/web01", {"log_analysis_config": LOG_BLOCK}),
        ("patch", "/api/v1/hosts/web01", {"log_analysis_config": {}}),
        ("patch", "/api/v1/hosts/web01", {"log_analysis_config": None}),
    ],
)
def test_a_write_key_cannot_make_the_server_run_commands(api, make_host, method, path, body):
    """The attack: a write key points web01's log source at a command of its choosing."""
    host, _ = make_host("web01")
    log_config.to_source(host, log_config.normalized(UNREACHABLE_SOURCE))
    before = (log_source_of("web01"), list(Host.objects.values_list("host_id", "name")))

    response = getattr(api, method)(path, body, format="json")

    assert response.status_code == 403
    assert "admin API key" in response.json()["log_analysis_config"]
    assert (log_source_of("web01"), list(Host.objects.values_list("host_id", "name"))) == before


def test_a_write_key_still_manages_hosts_and_reads_their_log_block(api, make_host):
    host, _ = make_host("web01")
    log_config.to_source(host, log_config.normalized(UNREACHABLE_SOURCE))

    renamed = api.patch("/api/v1/hosts/web01", {"name": "Renamed"}, format="json")
    replaced = api.put("/api/v1/hosts/web01", {"host_id": "web01", "name": "Put"}, format="json")
    created = api.post("/api/v1/hosts", NEW_HOST, format="json")

    assert (renamed.status_code, replaced.status_code, created.status_code) == (200, 200, 201)
    assert replaced.json()["log_analysis_config"]["ssh_host"] == "127.0.0.1"  # PUT kept it
    assert api.get("/api/v1/hosts/web01").json()["log_analysis_config"] == log_source_of("web01")


def test_an_admin_key_sets_and_removes_log_analysis(admin_api, make_host):
    make_host("web01")
    set_up = admin_api.patch(
        "/api/v1/hosts/web01", {"log_analysis_config": LOG_BLOCK}, format="json"
    )
    assert set_up.json()["log_analysis_config"]["ssh_host"] == "10.0.0.5"
    assert LogSource.objects.get().ssh_host == "10.0.0.5"
    assert (
        admin_api.patch("/api/v1/hosts/web01", {"log_analysis_config": {}}, format="json").json()[
            "log_analysis_config"
        ]
        == {}
    )
    assert not LogSource.objects.exists()


def test_an_operator_cannot_set_up_log_analysis_on_the_web(client, make_host, operator_user):
    make_host("web01")
    client.force_login(operator_user)

    form = client.post("/api/v1/config/hosts/web01/log-source", LOG_FORM)
    preview = client.post("/api/v1/config/import", {"yaml": YAML_WITH_LOGS})
    applied = client.post("/api/v1/config/import/apply", {"yaml": YAML_WITH_LOGS, "digest": "x"})
    page = client.get("/api/v1/config").content.decode()

    assert (form.status_code, preview.status_code, applied.status_code) == (403, 403, 403)
    assert "log_analysis_config (new01)" in preview.content.decode()
    assert not LogSource.objects.exists() and not Host.objects.filter(host_id="new01").exists()
    assert "Run analysis now" not in page and "Set up log analysis" not in page


def test_an_operator_may_import_hosts_without_log_analysis(client, make_host, operator_user):
    client.force_login(operator_user)
    preview = client.post("/api/v1/config/import", {"yaml": YAML_WITHOUT_LOGS})
    digest = preview.context["digest"]

    applied = client.post(
        "/api/v1/config/import/apply", {"yaml": YAML_WITHOUT_LOGS, "digest": digest}
    )

    assert (preview.status_code, applied.status_code) == (200, 200)
    assert Host.objects.filter(host_id="new01").exists()


def test_an_import_that_leaves_log_blocks_alone_is_an_operators(client, make_host, operator_user):
    host, _ = make_host("web01")
    log_config.to_source(host, log_config.normalized(UNREACHABLE_SOURCE))
    client.force_login(operator_user)
    text = "hosts:\n  - {host_id: web01, name: Renamed}\n"  # no log_analysis_config key: kept

    preview = client.post("/api/v1/config/import", {"yaml": text})

    assert preview.status_code == 200, preview.content.decode()
    removing = client.post(
        "/api/v1/config/import", {"yaml": text.replace("}", ", log_analysis_config: {}}")}
    )
    assert removing.status_code == 403


# Users without a group ----------------------------------------------------------------------


def test_a_user_without_a_group_sees_nothing(client, make_host, groupless_user, settings):
    make_host("web01")
    client.force_login(groupless_user)

    assert APIClient().get("/api/v1/hosts").status_code == 401
    api = APIClient()
    api.force_login(groupless_user)
    assert api.get("/api/v1/hosts").status_code == 403
    page = client.get("/api/v1/dashboard")
    assert page.status_code == 403 and "Viewer, Operator or Administrator" in page.content.decode()
    assert client.get("/api/v1/dashboard/data").status_code == 403

    settings.NETMON_PUBLIC_DASHBOARD = True
    public = client.get("/api/v1/dashboard/hosts/web01")
    assert public.status_code == 200 and "Client setup" not in public.content.decode()


def test_staff_status_alone_gives_nothing_but_the_admin_index(client, make_user):
    """is_staff opens the Django admin; what to do there and here comes from permissions."""
    client.force_login(make_user("staff", is_staff=True))
    assert client.get("/admin/").status_code == 200
    assert client.get("/api/v1/dashboard").status_code == 403
    api = APIClient()
    api.force_login(get_user_model().objects.get(username="staff"))
    assert api.get("/api/v1/hosts").status_code == 403


# The Django admin's own ways to run things ---------------------------------------------------


def test_the_admins_analyse_now_needs_the_log_source_change_permission(make_host, make_user):
    from django.contrib.auth.models import Permission

    host, _ = make_host("web01")
    source = log_config.to_source(host, log_config.normalized(UNREACHABLE_SOURCE))
    looker = make_user("looker", is_staff=True)
    looker.user_permissions.add(Permission.objects.get(codename="view_logsource"))
    client = Client()
    client.force_login(looker)
    url = "/admin/analysis/logsource/"

    page = client.get(url)
    client.post(url, {"action": "analyse_now", "_selected_action": [source.pk]})

    assert page.status_code == 200 and "analyse_now" not in page.content.decode()
    assert not AnalysisRun.objects.exists()


def test_only_who_may_manage_log_sources_hands_out_admin_keys(make_user):
    from django.contrib.auth.models import Permission

    keeper = make_user("keeper", is_staff=True)
    keeper.user_permissions.add(*Permission.objects.filter(codename__endswith="_apikey"))
    client = Client()
    client.force_login(keeper)

    form = client.get("/admin/accounts/apikey/add/").content.decode()
    response = client.post("/admin/accounts/apikey/add/", {"name": "sneaky", "access": "admin"})

    assert 'value="write"' in form and 'value="admin"' not in form
    assert response.status_code == 200 and not ApiKey.objects.exists()
    administrator = make_user("boss", "Administrator", is_staff=True)
    client.force_login(administrator)
    client.post("/admin/accounts/apikey/add/", {"name": "granted", "access": "admin"})
    assert ApiKey.objects.get().access == ApiKey.Access.ADMIN


def test_only_administrators_confirm_pinned_ssh_host_keys(make_user):
    """Confirming a host key is a trust decision: view permission alone must not do it."""
    from django.contrib.auth.models import Permission

    from analysis.host_keys import pin_first_use
    from analysis.models import SSHHostKey
    from tests.fakes.ssh import generate_key

    pin_first_use("fw.lan", 22, generate_key())
    pin = SSHHostKey.objects.get()
    looker = make_user("looker", is_staff=True)
    looker.user_permissions.add(Permission.objects.get(codename="view_sshhostkey"))
    client = Client()
    client.force_login(looker)
    data = {"action": "confirm", "_selected_action": [pin.pk]}

    client.post("/admin/analysis/sshhostkey/", data)
    assert SSHHostKey.objects.get().confirmed_at is None

    client.force_login(make_user("boss", "Administrator", is_staff=True))
    client.post("/admin/analysis/sshhostkey/", data)
    assert SSHHostKey.objects.get().confirmed_at is not None
