"""Attacks on log collection, each made through a real interface and each failing now.

Whoever may write a host's ``log_analysis_config`` must not be able to make netmon read a
file of its choice (a known_hosts or key path quoted back in an error), use a private key
outside netmon's key directories, write files through trust on first use, or have a local
command stored for later. A changed SSH host key is refused before authentication and
alerted at once. Errors are netmon's own sentences: no file content, command output or
provider answer reaches a run, the API or an alert.
"""

import json
import os
from pathlib import Path

import asyncssh
import pytest
from django.test import Client
from django.utils import timezone
from fakes import FakeDiscord, FakeLLM, Reply
from fakes.ssh import SSHServer, generate_key

from alerts.choices import AlertKind, Severity
from alerts.delivery import dispatch_due
from alerts.models import Alert
from analysis import log_config
from analysis.events import alert_analysis
from analysis.models import AnalysisRun, LogSource, SSHHostKey
from analysis.runner import run_source
from hosts.config_io import ConfigError, apply_import, plan_import
from hosts.models import Host
from tests.processes import manage, process_env

SECRET = "netmon-secret-3f9c1a77-do-not-leak"
RUNS = "/api/v1/analysis/runs"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def analysis_settings(settings):
    settings.LLM_API_URL = ""
    settings.DISCORD_WEBHOOK_URL = ""
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = False
    settings.ANALYSIS_FAILURE_ALERT_AFTER = 3
    settings.ANALYSIS_SSH_CONNECT_TIMEOUT_SECONDS = 2.0
    settings.ANALYSIS_COMMAND_TIMEOUT_SECONDS = 5.0


@pytest.fixture
def secret_file(tmp_path) -> Path:
    """A file outside netmon's key directories, like data/secret_key or /proc/self/environ."""
    path = tmp_path / "outside" / "secret_key"
    path.parent.mkdir()
    path.write_text(f"{SECRET}\nSECOND_LINE={SECRET}\n")
    return path


@pytest.fixture(scope="module")
def client_key() -> asyncssh.SSHKey:
    return generate_key()


@pytest.fixture
def key_dir(tmp_path, settings, client_key) -> Path:
    """netmon's key directory, holding the key the SSH server accepts as ``id_ed25519``."""
    directory = tmp_path / "keys"
    directory.mkdir()
    settings.ANALYSIS_SSH_KEY_DIRS = [directory]
    key = directory / "id_ed25519"
    key.write_bytes(client_key.export_private_key())
    key.chmod(0o600)
    return directory


@pytest.fixture
def server(client_key):
    with SSHServer(authorized_keys=[client_key.export_public_key()]) as running:
        yield running


@pytest.fixture
def discord(settings):
    with FakeDiscord() as fake:
        settings.DISCORD_WEBHOOK_URL = fake.webhook_url
        settings.ALERT_HTTP_TIMEOUT_SECONDS = 2.0
        yield fake


@pytest.fixture
def reader(read_key) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {read_key}")


def ssh_block(server: SSHServer, **fields) -> dict:
    return {
        "method": "ssh",
        "ssh_host": "127.0.0.1",
        "ssh_port": server.port,
        "ssh_user": "netmon",
        "ssh_key": "id_ed25519",
        "ssh_trust_on_first_use": True,
        "log_command": "echo 'Mar  3 10:00:00 gw app: hello'",
        **fields,
    }


def post_host(admin_api, block: dict, host_id: str = "fw01"):
    return admin_api.post(
        "/api/v1/hosts",
        {"host_id": host_id, "name": "Edge Firewall", "log_analysis_config": block},
        format="json",
    )


def source_of(admin_api, block: dict) -> LogSource:
    response = post_host(admin_api, block)
    assert response.status_code == 201, response.content
    return LogSource.objects.get(host__host_id="fw01")


def everything_shown(reader: Client, discord: FakeDiscord | None = None) -> str:
    """What a reader of the runs API, and the alert channel, get to see."""
    alert_analysis(timezone.now())  # the monitor loop's steps: queue, then deliver
    dispatch_due()
    shown = [reader.get(RUNS).content.decode()]
    shown += [reader.get(f"{RUNS}/{run.pk}").content.decode() for run in AnalysisRun.objects.all()]
    shown += [source.last_error for source in LogSource.objects.all()]
    shown += [json.dumps(alert.markup) + alert.description for alert in Alert.objects.all()]
    if discord is not None:
        shown.append(json.dumps(discord.messages))
    return "\n".join(shown)


# Paths are never input -------------------------------------------------------------------------


def test_a_known_hosts_path_is_refused_by_the_api_and_never_read(admin_api, server, secret_file):
    block = ssh_block(server, ssh_known_hosts_path=str(secret_file))

    created = post_host(admin_api, block)
    Host.objects.create(host_id="fw02", name="FW2")
    replaced = admin_api.put(
        "/api/v1/hosts/fw02", {"name": "FW2", "log_analysis_config": block}, format="json"
    )

    for response in (created, replaced):
        assert response.status_code == 400
        [message] = response.json()["log_analysis_config"]
        assert "'ssh_known_hosts_path' is no longer accepted" in message
        assert SECRET not in response.content.decode()
    assert not LogSource.objects.exists()


def test_a_known_hosts_path_is_refused_by_the_yaml_import(server, secret_file):
    block = json.dumps(ssh_block(server, ssh_known_hosts_path=str(secret_file)))

    with pytest.raises(ConfigError) as refused:
        plan_import(f"hosts: [{{host_id: fw01, name: FW, log_analysis_config: {block}}}]")

    assert "'ssh_known_hosts_path' is no longer accepted" in str(refused.value)
    assert not Host.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "{secret}",
        "/etc/ssh/ssh_host_ed25519_key",
        "{keys}/../outside/secret_key",
        "{keys}/sub/id_ed25519",
        "{keys}/link_out",
        "id_ed25519",
    ],
)
def test_a_key_path_outside_the_key_directories_is_refused(
    admin_api, server, key_dir, secret_file, path
):
    (key_dir / "link_out").symlink_to(secret_file)
    path = path.format(secret=secret_file, keys=key_dir)
    block = {**ssh_block(server), "ssh_key_path": path}
    del block["ssh_key"]

    response = post_host(admin_api, block)

    assert response.status_code == 400
    [message] = response.json()["log_analysis_config"]
    assert message.startswith("'ssh_key_path' must be a file directly inside")
    assert str(key_dir) in message and SECRET not in message
    assert not LogSource.objects.exists()


@pytest.mark.parametrize("name", ["../outside/secret_key", "/etc/shadow", ".hidden", "a/b"])
def test_a_key_name_is_a_name(admin_api, server, key_dir, name):
    response = post_host(admin_api, ssh_block(server, ssh_key=name))

    assert response.status_code == 400
    assert response.json()["log_analysis_config"][0].startswith("'ssh_key' must be the name")
    assert not LogSource.objects.exists()


def test_the_specs_key_path_inside_a_key_directory_is_stored_as_its_name(
    admin_api, server, key_dir
):
    block = {**ssh_block(server), "ssh_key_path": str(key_dir / "id_ed25519")}
    del block["ssh_key"]

    source = source_of(admin_api, block)
    outcome = run_source(source.pk)

    assert source.ssh_key == "id_ed25519"
    assert admin_api.get("/api/v1/hosts/fw01").json()["log_analysis_config"]["ssh_key"] == (
        "id_ed25519"
    )
    assert outcome.run.status == "ok" and server.auth_attempts == ["netmon"]
    both = post_host(admin_api, {**block, "ssh_key": "id_ed25519"}, "fw02")
    assert both.status_code == 400
    assert both.json()["log_analysis_config"] == ["give either 'ssh_key' or 'ssh_key_path'"]


def test_a_key_swapped_for_a_link_out_of_the_directory_is_refused_at_run_time(
    admin_api, server, key_dir, client_key, tmp_path
):
    source = source_of(admin_api, ssh_block(server))
    assert run_source(source.pk).run.status == "ok"
    # After saving, the key becomes a link to a key elsewhere (one the server even accepts).
    elsewhere = tmp_path / "elsewhere" / "id_ed25519"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(client_key.export_private_key())
    (key_dir / "id_ed25519").unlink()
    (key_dir / "id_ed25519").symlink_to(elsewhere)

    run = run_source(source.pk).run

    assert (run.status, run.error_kind) == ("failed", "ssh_key")
    assert run.error == (
        f"SSH key 'id_ed25519' in {key_dir} is a link that leads out of the key directory: refused"
    )
    assert server.auth_attempts == ["netmon"]  # only the first run's


# Errors are netmon's sentences -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attack", ["file in the key directory", "link in the key directory"])
def test_a_key_that_is_not_a_key_is_never_quoted(
    admin_api, reader, server, key_dir, secret_file, discord, settings, attack
):
    settings.ANALYSIS_FAILURE_ALERT_AFTER = 1
    if attack == "file in the key directory":
        (key_dir / "environ").write_text(secret_file.read_text())
        expected = "cannot load SSH key 'environ': not a valid private key (or a wrong passphrase)"
    else:
        (key_dir / "environ").symlink_to(secret_file)
        expected = (
            f"SSH key 'environ' in {key_dir} is a link that leads out of the key directory: refused"
        )
    source = source_of(admin_api, ssh_block(server, ssh_key="environ"))

    run = run_source(source.pk).run

    assert (run.status, run.error_stage, run.error_kind, run.error) == (
        "failed",
        "collection",
        "ssh_key",
        expected,
    )
    shown = everything_shown(reader, discord)
    assert expected in shown and "Log collection failing for Edge Firewall" in shown
    assert SECRET not in shown
    assert server.auth_attempts == []


@pytest.mark.django_db(transaction=True)
def test_command_errors_are_never_quoted(admin_api, reader, server, key_dir, secret_file, discord):
    block = ssh_block(server, log_command=f"cat {secret_file} >&2; exit 2")
    source = source_of(admin_api, block)

    for _ in range(3):
        run = run_source(source.pk).run

    assert (run.error_kind, run.error) == ("command_failed", "the command exited with status 2")
    shown = everything_shown(reader, discord)
    assert "Log collection failing for Edge Firewall" in shown
    assert SECRET not in shown


@pytest.mark.django_db(transaction=True)
def test_llm_error_answers_are_never_quoted(admin_api, reader, server, key_dir, settings, discord):
    settings.ANALYSIS_FAILURE_ALERT_AFTER = 1
    settings.LLM_MAX_RETRIES = 0
    with FakeLLM() as llm:
        settings.LLM_API_URL = f"{llm.url}/v1"
        settings.LLM_API_KEY = "test-key"
        llm.queue(Reply(400, {"error": {"message": f"echo: {SECRET}", "type": "bad_request"}}))
        source = source_of(admin_api, ssh_block(server))

        run = run_source(source.pk).run

    assert (run.error_stage, run.error_kind) == ("llm", "request")
    assert run.error.startswith("LLM API answered HTTP 400 bad_request")
    shown = everything_shown(reader, discord)
    assert "Log analysis failing for Edge Firewall" in shown and SECRET not in shown


def test_errors_stored_by_an_older_version_are_not_returned(reader, make_host):
    host, _ = make_host("fw01")
    old = AnalysisRun.objects.create(
        host=host, status="failed", error_stage="collection", error=f"cannot read: {SECRET}"
    )

    listed = reader.get(RUNS).json()["results"][0]
    detail = reader.get(f"{RUNS}/{old.pk}").json()

    for answer in (listed, detail):
        assert answer["error"] == (
            "(not shown: recorded by an older version of netmon, whose messages could quote files)"
        )
        assert answer["error_kind"] == ""
    assert SECRET not in reader.get(RUNS).content.decode()


# Host keys are pinned by netmon -------------------------------------------------------------


def files_under(path: Path) -> set[Path]:
    return set(path.rglob("*"))


def host_key_alerts() -> list[Alert]:
    return list(Alert.objects.filter(title__startswith="SSH host key changed").order_by("id"))


def test_trust_on_first_use_pins_the_key_in_the_database_and_writes_no_file(
    admin_api, server, key_dir, tmp_path, settings
):
    source = source_of(admin_api, ssh_block(server))
    before = files_under(tmp_path)

    first = run_source(source.pk).run
    source.ssh_trust_on_first_use = False
    source.save()
    second = run_source(source.pk).run

    assert (first.status, second.status) == ("ok", "ok")
    assert files_under(tmp_path) == before
    pin = SSHHostKey.objects.get()
    assert (pin.ssh_host, pin.port, pin.algorithm, pin.origin) == (
        "127.0.0.1",
        server.port,
        "ssh-ed25519",
        "first_use",
    )
    assert pin.fingerprint == server.host_key.get_fingerprint("sha256")
    assert pin.confirmed_at is None and len(server.commands) == 2


def test_an_unknown_host_key_is_refused_before_authentication(admin_api, server, key_dir):
    source = source_of(admin_api, ssh_block(server, ssh_trust_on_first_use=False))

    run = run_source(source.pk).run

    assert (run.status, run.error_kind) == ("failed", "host_key_unknown")
    assert run.error.startswith(f"unknown host key for netmon@127.0.0.1:{server.port}")
    assert server.host_key.get_fingerprint("sha256") in run.error
    assert (server.auth_attempts, server.commands) == ([], [])
    assert not SSHHostKey.objects.exists() and not Alert.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_changed_host_key_is_refused_before_authentication_and_alerted_at_once(
    admin_api, reader, server, key_dir, discord
):
    source = source_of(admin_api, ssh_block(server))
    run_source(source.pk)  # trust on first use pins the key
    old = server.host_key.get_fingerprint("sha256")
    server.replace_host_key(generate_key())
    new = server.host_key.get_fingerprint("sha256")

    changed = run_source(source.pk).run
    assert alert_analysis(timezone.now()) == 1
    run_source(source.pk)  # seen again: no second alert
    assert alert_analysis(timezone.now()) == 0

    assert (changed.status, changed.error_kind) == ("failed", "host_key_changed")
    assert old in changed.error and new in changed.error
    assert server.auth_attempts == ["netmon"] and len(server.commands) == 1  # the first run's
    [alert] = host_key_alerts()
    assert alert.kind == AlertKind.LOG_ANALYSIS_FAILED and alert.severity == Severity.ERROR
    assert alert.title == f"SSH host key changed for Edge Firewall (127.0.0.1:{server.port})"
    assert old in alert.description and new in alert.description
    dispatch_due()
    [embed] = discord.embeds
    assert old in json.dumps(embed) and new in json.dumps(embed)
    pin = SSHHostKey.objects.get()
    assert pin.fingerprint == old and pin.changed_fingerprint == new

    server.replace_host_key(generate_key())  # another change: one more alert
    run_source(source.pk)
    alert_analysis(timezone.now())
    assert len(host_key_alerts()) == 2


def test_a_host_key_of_another_type_is_refused_too(admin_api, server, key_dir):
    source = source_of(admin_api, ssh_block(server))
    run_source(source.pk)
    server.replace_host_key(generate_key("ecdsa-sha2-nistp256"))

    run = run_source(source.pk).run

    assert (run.status, run.error_kind) == ("failed", "key_exchange")
    assert "none of the pinned host key types (ssh-ed25519)" in run.error
    assert server.auth_attempts == ["netmon"]


@pytest.fixture
def admin_browser(db) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_superuser("root", password="pw-root-123456")
    client = Client()
    client.force_login(user)
    return client


def test_pinned_keys_are_confirmed_and_changed_keys_accepted_in_the_admin(
    admin_api, admin_browser, server, key_dir
):
    source = source_of(admin_api, ssh_block(server, ssh_trust_on_first_use=True))
    run_source(source.pk)
    pin = SSHHostKey.objects.get()
    listing = admin_browser.get("/admin/analysis/sshhostkey/").content.decode()
    assert pin.fingerprint in listing and "first use" in listing.lower()
    page = admin_browser.get("/api/v1/config/hosts/fw01/log-source").content.decode()
    assert pin.fingerprint in page and "not confirmed" in page

    confirmed = admin_browser.post(
        "/admin/analysis/sshhostkey/",
        {"action": "confirm", "_selected_action": [pin.pk], "index": 0},
        follow=True,
    )
    assert "Confirmed 1 host key(s)." in confirmed.content.decode()
    pin.refresh_from_db()
    assert pin.confirmed_at is not None and pin.confirmed_by == "root"

    server.replace_host_key(generate_key())
    assert run_source(source.pk).run.error_kind == "host_key_changed"
    accepted = admin_browser.post(
        "/admin/analysis/sshhostkey/",
        {"action": "accept_changed_key", "_selected_action": [pin.pk], "index": 0},
        follow=True,
    )
    assert "Accepted the changed key of 1 host(s)." in accepted.content.decode()
    pin.refresh_from_db()
    assert pin.fingerprint == server.host_key.get_fingerprint("sha256")
    assert (pin.origin, pin.changed_fingerprint) == ("admin", "")
    assert run_source(source.pk).run.status == "ok"


def test_an_admin_pins_a_key_by_pasting_it(admin_browser, admin_api, server, key_dir):
    public = server.host_key.export_public_key().decode().strip()

    added = admin_browser.post(
        "/admin/analysis/sshhostkey/add/",
        {"ssh_host": "127.0.0.1", "port": server.port, "public_key": f"{public} root@fw"},
    )
    refused = admin_browser.post(
        "/admin/analysis/sshhostkey/add/",
        {"ssh_host": "fw02", "port": 22, "public_key": SECRET},
    )

    assert added.status_code == 302
    pin = SSHHostKey.objects.get()
    assert (pin.origin, pin.confirmed_by) == ("admin", "root")
    assert refused.status_code == 200 and "not an OpenSSH public key" in refused.content.decode()
    source = source_of(admin_api, ssh_block(server, ssh_trust_on_first_use=False))
    assert run_source(source.pk).run.status == "ok"


def test_known_hosts_lines_are_pinned_by_a_command(tmp_path, server, make_host, capsys):
    from django.core.management import call_command

    known_hosts = tmp_path / "known_hosts"
    line = server.host_key.export_public_key().decode().strip()
    known_hosts.write_text(
        f"# from ssh-keyscan\n[127.0.0.1]:{server.port} {line}\nfw.lan,10.0.0.1 {line}\n"
        f"|1|hashed= {line}\n@cert-authority *.lan {line}\nnot a known_hosts line\n"
    )

    call_command("pin_host_keys", str(known_hosts))
    first = capsys.readouterr()
    call_command("pin_host_keys", str(known_hosts))

    pins = set(SSHHostKey.objects.values_list("ssh_host", "port", "origin"))
    assert pins == {
        ("127.0.0.1", server.port, "admin"),
        ("fw.lan", 22, "admin"),
        ("10.0.0.1", 22, "admin"),
    }
    assert "Pinned 3 host key(s), 0 already pinned." in first.out
    assert "line 4: hashed host names cannot be pinned" in first.err
    assert "line 5: markers (@cert-authority, @revoked) are not supported" in first.err
    assert "line 6: not a known_hosts line" in first.err
    assert "Pinned 0 host key(s), 3 already pinned" in capsys.readouterr().out


# Local sources are refused when they are off -----------------------------------------------------


LOCAL_BLOCKS = {
    "command": {"method": "command", "log_command": "cat /proc/self/environ"},
    "local": {"method": "local", "log_path": "/proc/self/environ"},
}
OFF = "'method' {method} reads from this server and is off: set ANALYSIS_ALLOW_LOCAL_SOURCES=true"


@pytest.mark.parametrize("method", ["command", "local"])
def test_local_sources_are_refused_by_the_api_while_off(admin_api, method, settings):
    response = post_host(admin_api, LOCAL_BLOCKS[method])

    assert response.status_code == 400
    assert response.json()["log_analysis_config"] == [OFF.format(method=method)]
    assert not Host.objects.exists()
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    assert post_host(admin_api, LOCAL_BLOCKS[method]).status_code == 201


@pytest.mark.parametrize("method", ["command", "local"])
def test_local_sources_are_refused_by_the_yaml_import_while_off(method):
    block = json.dumps(LOCAL_BLOCKS[method])

    with pytest.raises(ConfigError) as refused:
        plan_import(f"hosts: [{{host_id: fw01, name: FW, log_analysis_config: {block}}}]")

    assert OFF.format(method=method) in str(refused.value)
    assert not Host.objects.exists()


@pytest.mark.parametrize("method", ["command", "local"])
def test_local_sources_are_refused_by_the_admin_and_the_web_form_while_off(
    admin_browser, make_host, method
):
    host, _ = make_host("fw01")
    fields = {
        "host": host.pk,
        "enabled": "on",
        "ssh_port": 22,
        "analysis_frequency": 1800,
        "log_command": "",
        "log_path": "",
        **LOCAL_BLOCKS[method],
    }

    admin = admin_browser.post("/admin/analysis/logsource/add/", fields)
    web = admin_browser.post("/api/v1/config/hosts/fw01/log-source", fields)

    assert (
        admin.status_code == 200 and "reads from this server and is off" in admin.content.decode()
    )
    assert web.status_code == 400 and "reads from this server and is off" in web.content.decode()
    assert not LogSource.objects.exists()


def test_an_import_of_a_local_source_is_applied_when_allowed(settings, tmp_path):
    settings.ANALYSIS_ALLOW_LOCAL_SOURCES = True
    block = json.dumps(LOCAL_BLOCKS["local"])

    apply_import(plan_import(f"hosts: [{{host_id: fw01, name: FW, log_analysis_config: {block}}}]"))

    assert log_config.config_of(Host.objects.get())["method"] == "local"


# ANALYSIS_SSH_KEY_DIRS --------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["relative/keys", "/srv/keys::/etc/keys", "/srv/keys:"])
def test_a_bad_key_directory_list_stops_start_up(tmp_path, value):
    variables = process_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")

    result = manage("check", env=variables | {"ANALYSIS_SSH_KEY_DIRS": value}, check=False)

    assert result.returncode != 0
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("django.core.exceptions.ImproperlyConfigured: ANALYSIS_SSH_KEY_DIRS=")
    )


def test_key_directories_default_to_data_ssh(tmp_path):
    variables = process_env(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    show = (
        "from django.conf import settings; print([str(p) for p in settings.ANALYSIS_SSH_KEY_DIRS])"
    )

    default = manage("shell", "--no-imports", "-c", show, env=variables).stdout
    chosen = manage(
        "shell",
        "--no-imports",
        "-c",
        show,
        env=variables | {"ANALYSIS_SSH_KEY_DIRS": "/run/secrets/ssh:/home/netmon/.ssh"},
    ).stdout

    assert default.strip().splitlines()[-1] == str([str(tmp_path / "ssh")])
    assert chosen.strip().splitlines()[-1] == str(["/run/secrets/ssh", "/home/netmon/.ssh"])
    assert not os.path.exists(tmp_path / "ssh")  # nothing is created


# Upgrading -------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_migration_keeps_only_the_name_of_a_stored_key_path():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("analysis", "0001_initial")],
        [("analysis", "0002_key_names_pinned_host_keys_error_kinds")],
    )
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)  # also unapplies what depends on it (accounts' groups)
    executor.loader.build_graph()
    old = executor.loader.project_state(list(executor.loader.applied_migrations)).apps
    host = old.get_model("hosts", "Host").objects.create(host_id="fw01", name="FW")
    OldSource = old.get_model("analysis", "LogSource")
    OldSource.objects.create(host=host, ssh_host="a", ssh_key_path="/root/.ssh/id_rsa")
    other = old.get_model("hosts", "Host").objects.create(host_id="fw02", name="FW2")
    OldSource.objects.create(host=other, ssh_host="b", ssh_key_path="/keys/.hidden")

    executor = MigrationExecutor(connection)
    executor.migrate(after)
    executor.loader.build_graph()
    executor.migrate(latest)  # the rest of the suite needs every migration back

    keys = dict(LogSource.objects.values_list("host__host_id", "ssh_key"))
    assert keys == {"fw01": "id_rsa", "fw02": ""}
