"""``scripts/add-host.py`` run for real against a live ``manage.py serve``: it registers hosts
through the REST API with nothing but the standard library, and every refusal (key, field,
server) is a clear message and a non-zero exit status."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.processes import (
    MANAGE,
    ROOT,
    free_port,
    http_status,
    manage,
    process_database,
    process_env,
    running,
    wait_until,
)

pytestmark = [pytest.mark.process, pytest.mark.any_database]

SCRIPT = ROOT / "scripts" / "add-host.py"


@dataclass
class Server:
    url: str
    env: dict[str, str]
    log: Path

    def api_key(self, access: str) -> str:
        created = manage(
            "create_api_key", "--name", f"add-host {access}", "--access", access, env=self.env
        )
        return re.search(r"\): (\S+)", created.stdout).group(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """The web role of ``serve`` on a free port of 127.0.0.1, on a database of its own."""
    data_dir = tmp_path_factory.mktemp("add-host")
    with process_database(data_dir) as database_url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = process_env(data_dir, database_url, NETMON_BASE_URL=url)
        log = data_dir / "serve.log"
        command = [
            *MANAGE,
            "serve",
            "--no-migrate",
            "--only",
            "web",
            "--web-workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
        ]
        with running(command, env, log) as process:

            def answering() -> bool:
                assert process.poll() is None, log.read_text(errors="replace")
                return http_status(f"{url}/api/v1/health") is not None

            wait_until(answering, 60, f"{url} to answer")
            yield Server(url, env, log)


def add_host(*args: str, api_key: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the script as a user would, with the system's view of the key: the environment.

    ``-I -S`` (isolated, no site-packages) keeps the project, its virtualenv and every
    installed package off ``sys.path``: the script must work where netmon is not installed.
    """
    env = {"PATH": os.environ["PATH"]}
    if api_key is not None:
        env["NETMON_API_KEY"] = api_key
    return subprocess.run(
        [sys.executable, "-I", "-S", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=60,
    )


def test_registers_a_host_whose_token_sends_heartbeats(server):
    key = server.api_key("write")
    result = add_host(
        "--url",
        server.url,
        "--name",
        "Web Server 01",
        "--host-id",
        "web01",
        "--frequency",
        "300",
        "--grace",
        "90",
        "--schedule",
        "always",
        "--tag",
        "web",
        api_key=key,
    )
    assert result.returncode == 0, result.stderr
    token = re.search(r"^Token: (\S+)$", result.stdout, re.MULTILINE).group(1)
    assert f"./client-heartbeat.sh web01 {token} {server.url}" in result.stdout
    assert "*/5 * * * * NETMON_TOKEN_FILE=/etc/netmon/token" in result.stdout
    assert "/etc/systemd/system/" in result.stdout  # the server's text, timer included
    assert key not in result.stdout + result.stderr

    headers = {"Authorization": f"Bearer {key}"}
    host = requests.get(f"{server.url}/api/v1/hosts/web01", headers=headers, timeout=10).json()
    assert (host["name"], host["frequency_seconds"], host["grace_seconds"]) == (
        "Web Server 01",
        300,
        90,
    )
    assert (host["schedule_type"], host["tags"], host["status"]) == ("always", ["web"], "new")
    beat = requests.post(
        f"{server.url}/api/v1/heartbeat/web01",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert beat.status_code == 200, beat.text
    host = requests.get(f"{server.url}/api/v1/hosts/web01", headers=headers, timeout=10).json()
    assert host["status"] == "up"


def test_custom_and_business_hours_schedules(server):
    key = server.api_key("write")
    custom = add_host(
        "--url",
        server.url,
        "--name",
        "Nightly backup",
        "--host-id",
        "backup01",
        "--schedule",
        "custom",
        "--cron",
        "30 2 * * *",
        "--grace",
        "600",
        "--timezone",
        "Europe/Berlin",
        api_key=key,
    )
    assert custom.returncode == 0, custom.stderr
    assert "30 2 * * * NETMON_TOKEN_FILE=" in custom.stdout
    assert "Europe/Berlin" in custom.stdout

    office = add_host(
        "--url",
        server.url,
        "--name",
        "Office PC",
        "--host-id",
        "office01",
        "--schedule",
        "business_hours",
        "--frequency",
        "420",
        api_key=key,
    )
    assert office.returncode == 0, office.stderr
    # 7 minutes is no cron step: the line sends every 6, and says so.
    assert "*/6 * * * * NETMON_TOKEN_FILE=" in office.stdout
    assert "this line sends every 6 minutes" in office.stdout
    host = requests.get(
        f"{server.url}/api/v1/hosts/office01",
        timeout=10,
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    assert (host["schedule_type"], host["frequency_seconds"]) == ("business_hours", 420)


def test_a_read_only_key_is_refused(server):
    key = server.api_key("read")
    result = add_host("--url", server.url, "--name", "x", "--host-id", "readonly01", api_key=key)
    assert result.returncode == 1
    assert "may not create hosts (403)" in result.stderr
    assert "--access write" in result.stderr
    assert key not in result.stdout + result.stderr
    assert (
        requests.get(
            f"{server.url}/api/v1/hosts/readonly01",
            timeout=10,
            headers={"Authorization": f"Bearer {key}"},
        ).status_code
        == 404
    )


def test_a_wrong_key_is_refused_without_showing_it(server):
    wrong = "nmk_" + "x" * 40
    result = add_host("--url", server.url, "--name", "x", "--host-id", "wrong01", api_key=wrong)
    assert result.returncode == 1
    assert "refused the API key (401)" in result.stderr
    assert wrong not in result.stdout + result.stderr


def test_without_a_key_it_says_how_to_get_one():
    result = add_host("--name", "x", "--host-id", "nokey01")
    assert result.returncode == 2
    assert "NETMON_API_KEY" in result.stderr and "create_api_key" in result.stderr


def test_bad_fields_are_named_with_their_options(server):
    key = server.api_key("write")
    result = add_host("--url", server.url, "--name", "Bad", "--host-id", "bad id!", api_key=key)
    assert result.returncode == 1
    assert "Invalid host, nothing was created:" in result.stderr
    assert re.search(r"^  host_id \(--host-id\): ", result.stderr, re.MULTILINE), result.stderr

    no_cron = add_host(
        "--url",
        server.url,
        "--name",
        "C",
        "--host-id",
        "cron01",
        "--schedule",
        "custom",
        api_key=key,
    )
    assert no_cron.returncode == 1
    assert "cron_expression (--cron): A cron expression is required" in no_cron.stderr

    again = add_host("--url", server.url, "--name", "Again", "--host-id", "dup01", api_key=key)
    assert again.returncode == 0, again.stderr
    duplicate = add_host("--url", server.url, "--name", "Dup", "--host-id", "dup01", api_key=key)
    assert duplicate.returncode == 1
    assert "host_id (--host-id): " in duplicate.stderr

    schedule = add_host(
        "--url",
        server.url,
        "--name",
        "S",
        "--host-id",
        "sched01",
        "--schedule",
        "weekends",
        api_key=key,
    )
    assert schedule.returncode == 1
    assert "schedule_type (--schedule): " in schedule.stderr


def test_an_unreachable_server():
    port = free_port()  # nothing listens there
    result = add_host(
        "--url",
        f"http://127.0.0.1:{port}",
        "--name",
        "x",
        "--host-id",
        "x1",
        api_key="nmk_whatever",
    )
    assert result.returncode == 1
    assert f"Cannot reach netmon at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_url_that_is_not_http_is_a_usage_error():
    result = add_host(
        "--url", "monitor:8080", "--name", "x", "--host-id", "x1", api_key="nmk_whatever"
    )
    assert result.returncode == 2
    assert "--url" in result.stderr
