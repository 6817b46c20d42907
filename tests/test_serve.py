"""``manage.py serve``, the one-command runner of the quick start and the container, run for
real: gunicorn, the task cluster and the monitor loop as child processes."""

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.processes import (
    MANAGE,
    Proc,
    children,
    descendants,
    free_port,
    manage,
    process_database,
    process_env,
    running,
    tagged_processes,
    wait_for_exit,
    wait_until,
    wait_until_healthy,
)

pytestmark = pytest.mark.process

ROLES = {"web": "gunicorn", "worker": "qcluster", "monitor": "django monitor"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple[Path, str]]:
    """A data directory and an empty database, shared: the first serve migrates it."""
    data_dir = tmp_path_factory.mktemp("serve")
    with process_database(data_dir) as database_url:
        yield data_dir, database_url


@dataclass
class Serve:
    process: subprocess.Popen
    env: dict[str, str]
    base_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def roles(self) -> dict[str, Proc]:
        """serve's direct children by role."""
        found = {}
        for child in children(self.process.pid):
            for role, marker in ROLES.items():
                if marker in child.command:
                    found[role] = child
        return found


@pytest.fixture
def serve(setup, tmp_path) -> Iterator[Serve]:
    """``manage.py serve`` on a free port, healthy: web server, task cluster and monitor up."""
    data_dir, database_url = setup
    env = process_env(data_dir, database_url)
    port = free_port()
    log = tmp_path / "serve.log"
    command = [*MANAGE, "serve", "--bind", f"127.0.0.1:{port}", "--web-workers", "1"]
    with running(command, env, log) as process:
        server = Serve(process, env, f"http://127.0.0.1:{port}", log)
        wait_until_healthy(server.base_url, process, log, timeout=60)
        wait_until(lambda: len(server.roles()) == 3, 10, "all three children of serve")
        yield server


def register_host(env: dict[str, str], host_id: str) -> str:
    """Register a host through the CLI, as the quick start does; returns its token."""
    result = manage("add_host", "--host-id", host_id, "--name", "Serve test", env=env)
    match = re.search(r"^Token: (\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match.group(1)


def test_serves_heartbeats_and_stops_cleanly_on_sigterm(serve):
    assert f"netmon is running on {serve.base_url}" in serve.output()
    token = register_host(serve.env, "serve01")

    response = requests.post(
        f"{serve.base_url}/api/v1/heartbeat/serve01",
        headers={"Authorization": f"Bearer {token}"},
        data="hello from the serve test",
        timeout=10,
    )

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "up"
    family = descendants(serve.process.pid)
    assert {"gunicorn", "qcluster", "django monitor"} <= {
        marker for proc in family for marker in ROLES.values() if marker in proc.command
    }
    # The tag finds the whole family (so that finding nothing later means something).
    assert {proc.pid for proc in family} <= {proc.pid for proc in tagged_processes(serve.env)}

    serve.process.send_signal(signal.SIGTERM)

    assert wait_for_exit(serve.process, timeout=40) == 0, serve.output()
    assert [proc for proc in family if proc.running] == []
    assert tagged_processes(serve.env) == []


def test_stops_everything_and_fails_when_a_child_dies(serve):
    roles = serve.roles()
    others = [proc for proc in descendants(serve.process.pid) if proc.pid != roles["monitor"].pid]
    assert {roles["web"].pid, roles["worker"].pid} <= {proc.pid for proc in others}

    os.kill(roles["monitor"].pid, signal.SIGKILL)

    assert wait_for_exit(serve.process, timeout=40) != 0, serve.output()
    assert "the monitor process exited with -9; stopping the others" in serve.output()
    assert [proc for proc in others if proc.running] == []
    assert tagged_processes(serve.env) == []
