"""``manage.py serve``, the one-command runner of the quick start and the container, run for
real: gunicorn, the task cluster and the monitor loop as child processes, supervised —
restarted when one dies, all stopped however serve ends, a second serve refused."""

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
    # The next serve needs the data directory's lock, held until the last process exits.
    wait_until(lambda: tagged_processes(env) == [], 10, "the processes of serve to exit")


def register_host(env: dict[str, str], host_id: str) -> str:
    """Register a host through the CLI, as the quick start does; returns its token."""
    result = manage("add_host", "--host-id", host_id, "--name", "Serve test", env=env)
    match = re.search(r"^Token: (\S+)$", result.stdout, re.MULTILINE)
    assert match, result.stdout
    return match.group(1)


def test_serve_supervises_without_django_in_the_same_process(serve):
    """After migrating, serve replaces itself with the supervisor alone (netmon/supervisor.py):
    the same pid — the one signals go to — without the Django it needed to migrate."""
    cmdline = Path(f"/proc/{serve.process.pid}/cmdline").read_bytes().split(b"\0")
    assert cmdline[1:3] == [b"-m", b"netmon.supervisor"]
    maps = Path(f"/proc/{serve.process.pid}/maps").read_text()
    assert "_sqlite3" not in maps and "psycopg" not in maps  # no database driver loaded
    assert set(serve.roles()) == set(ROLES)


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


@pytest.mark.parametrize("role", ["worker", "web", "monitor"])
def test_a_killed_child_is_restarted_while_the_others_keep_running(serve, role):
    before = serve.roles()
    killed = before[role]
    left_behind = descendants(killed.pid)  # gunicorn's or the task cluster's own processes
    assert role == "monitor" or left_behind

    os.kill(killed.pid, signal.SIGKILL)

    # serve keeps the listening socket: even while gunicorn restarts, a request waits in
    # its backlog and is answered (503 while the task cluster is missing).
    assert requests.get(f"{serve.base_url}/api/v1/health", timeout=30).status_code in (200, 503)
    old_pids = {killed.pid} | {proc.pid for proc in left_behind}  # re-parented to serve
    replacement = wait_until(
        lambda: (new := serve.roles().get(role)) and new.pid not in old_pids and new,
        timeout=30,
        what=f"a new {role} process",
    )
    assert replacement.running
    others = {name: proc.pid for name, proc in serve.roles().items() if name != role}
    assert others == {name: proc.pid for name, proc in before.items() if name != role}
    wait_until(
        lambda: not [proc for proc in left_behind if proc.running],
        timeout=10,
        what=f"the processes of the killed {role} process to be gone",
    )
    expected = f"the {role} process (pid {killed.pid}) was killed by SIGKILL"
    assert expected in serve.output()
    wait_until_healthy(serve.base_url, serve.process, serve.log, timeout=60)
    report = requests.get(f"{serve.base_url}/api/v1/health", timeout=10).json()
    assert report["supervisor"][role]["restarts"] == 1, report
    assert report["supervisor"][role]["last_exit"] == "was killed by SIGKILL"
    assert report["supervisor"][role]["running"] is True
    assert "pid" not in report["supervisor"][role]  # the report is public
    assert report["checks"]["supervisor"]["ok"] is True


def test_kill_9_of_the_process_group_leaves_no_netmon_process(serve):
    family = tagged_processes(serve.env)
    assert len(family) >= 5  # serve, gunicorn and its worker, the cluster and its workers …

    os.killpg(serve.process.pid, signal.SIGKILL)

    wait_until(lambda: tagged_processes(serve.env) == [], timeout=10, what="no netmon process left")


def test_kill_9_of_serve_alone_takes_its_children_down(serve):
    family = [proc for proc in tagged_processes(serve.env) if proc.pid != serve.process.pid]
    assert {"gunicorn", "qcluster", "django monitor"} <= {
        marker for proc in family for marker in ROLES.values() if marker in proc.command
    }

    serve.process.kill()  # SIGKILL to serve's pid only: no code of serve's runs any more

    wait_until(
        lambda: tagged_processes(serve.env) == [],
        timeout=20,
        what="serve's children (and theirs) to exit after serve was killed",
    )


def test_a_second_serve_is_refused(serve, setup, tmp_path):
    data_dir, database_url = setup
    # The serve is shared with the kill tests before: let its restarted children settle.
    wait_until_healthy(serve.base_url, serve.process, serve.log)
    same_data_dir = [["--bind", f"127.0.0.1:{free_port()}"], ["--only", "worker"]]
    for args in same_data_dir:
        second = manage("serve", *args, "--no-migrate", env=serve.env, check=False)
        assert second.returncode == 3, second.stderr
        assert (
            f"another netmon serve (pid {serve.process.pid}) is running with the data "
            f"directory {data_dir}"
        ) in second.stderr

    other_data_dir = process_env(tmp_path / "other", database_url)
    (tmp_path / "other").mkdir()
    address = serve.base_url.removeprefix("http://")
    second = manage("serve", "--bind", address, "--no-migrate", env=other_data_dir, check=False)
    assert second.returncode == 3, second.stderr
    assert f"{address} is already in use" in second.stderr

    assert serve.process.poll() is None
    wait_until_healthy(serve.base_url, serve.process, serve.log, timeout=30)
    assert tagged_processes(other_data_dir) == []
