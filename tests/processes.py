"""Helpers for tests that start real netmon processes (``manage.py serve``, ``qcluster`` …).

The processes run with the real settings module, a data directory of their own and a
database of their own, in a clean environment: nothing is read from a developer's
``.env`` or shell. Typical use::

    with process_database(tmp_path) as url:  # migrated
        env = process_env(tmp_path, url)
        with running([*MANAGE, "qcluster"], env, tmp_path / "qcluster.log") as cluster:
            ...

Every environment made by :func:`process_env` carries a unique tag, inherited by all
the processes started with it and by their children and grandchildren, even those
orphaned when their parent dies. :func:`tagged_processes` finds them through /proc,
and :func:`running` kills any that are left when the block ends.
"""

import atexit
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, "manage.py"]
TAG_VARIABLE = "NETMON_TEST_PROCESS_TAG"
# Variables passed on from the test run; everything else is left out.
PASSED_ON = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# Databases ------------------------------------------------------------------------------


def tests_use_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@contextmanager
def process_database(directory: Path, migrated: bool = True) -> Iterator[str]:
    """A ``DATABASE_URL`` for processes started by a test, with every migration applied
    (or, with ``migrated=False``, empty).

    SQLite in ``directory``; or, when the tests run on PostgreSQL (``DATABASE_URL`` of the
    test run is a postgres:// URL), a throwaway database ``netmon_proc_<random>`` on the
    same server, dropped (even while still in use) when the block ends.

    A migrated one is a copy of a template that one real ``manage.py migrate`` made for
    the whole test session (:func:`migrated_template`): a migration costs seconds, and
    most tests here start from a migrated database, often more than once.
    """
    if not tests_use_postgres():
        path = directory / "db.sqlite"
        if migrated:
            shutil.copyfile(migrated_template(postgres=False), path)
        yield f"sqlite:///{path}"
        return
    import psycopg
    from psycopg import sql

    name = f"netmon_proc_{secrets.token_hex(4)}"
    template = sql.SQL(" TEMPLATE {}").format(sql.Identifier(migrated_template(postgres=True)))
    with psycopg.connect(_maintenance_url(), autocommit=True) as connection:
        connection.execute(
            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            + (template if migrated else sql.SQL(""))
        )
    try:
        yield _database_url(name)
    finally:
        _drop_database(name)


def _maintenance_url() -> str:
    return _database_url("postgres")


def _database_url(name: str) -> str:
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def _drop_database(name: str, maintenance_url: str | None = None) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(maintenance_url or _maintenance_url(), autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@functools.cache
def migrated_template(postgres: bool) -> str:
    """This session's migrated database, made at first use and removed at exit: the path
    of a SQLite file, or the name of a PostgreSQL database on the server of
    ``DATABASE_URL`` (no one stays connected to it, as ``CREATE DATABASE … TEMPLATE``
    requires). Both can be in use in one session: some tests need PostgreSQL always."""
    directory = Path(tempfile.mkdtemp(prefix="netmon-migrated-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    if not postgres:
        path = directory / "db.sqlite"
        migrate(process_env(directory, f"sqlite:///{path}"))
        return str(path)
    import psycopg
    from psycopg import sql

    name = f"netmon_proc_template_{os.getpid()}_{secrets.token_hex(2)}"
    with psycopg.connect(_maintenance_url(), autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    # At exit DATABASE_URL may be another (a test's monkeypatch is undone by then).
    atexit.register(_drop_database, name, _maintenance_url())
    migrate(process_env(directory, _database_url(name)))
    return name


def process_env(data_dir: Path, database_url: str, **variables: str) -> dict[str, str]:
    """A clean environment for netmon processes: real settings, no ``.env``, own data dir.

    ``HOME`` is the data directory too, so that per-user files (e.g. gunicorn's control
    socket) do not collide with other test runs. ``variables`` are added last.
    """
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env |= {
        "DJANGO_SETTINGS_MODULE": "netmon.settings",
        "NETMON_ENV_FILE": "",
        "NETMON_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "HOME": str(data_dir),
        "PYTHONUNBUFFERED": "1",
        # The task cluster would probe the public default targets at once: no test may.
        "CONNECTIVITY_ENABLED": "false",
        TAG_VARIABLE: uuid.uuid4().hex,
    }
    return env | variables


# Short-lived commands -------------------------------------------------------------------


def manage(
    *args: str, env: dict[str, str], timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``manage.py <args>`` to completion; with ``check``, fail the test unless it exits 0."""
    result = subprocess.run(
        [*MANAGE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} exited with {result.returncode}\n"
            f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        )
    return result


def migrate(env: dict[str, str]) -> None:
    manage("migrate", "--noinput", "-v", "0", env=env, timeout=120)


def django_json(code: str, env: dict[str, str]) -> Any:
    """Run ``code`` in ``manage.py shell``; it must ``print(json.dumps(...))`` one value last."""
    result = manage("shell", "--no-imports", "-c", f"import json\n{code}", env=env)
    return json.loads(result.stdout.strip().splitlines()[-1])


def health_report(env: dict[str, str]) -> tuple[bool, dict]:
    """``netmon.health.health_report()`` as seen by a fresh process with ``env``."""
    code = "from netmon.health import health_report\nprint(json.dumps(health_report()))"
    healthy, report = django_json(code, env)
    return healthy, report


# Waiting --------------------------------------------------------------------------------


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Call ``check`` until it returns something truthy, and return that; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


def http_status(url: str) -> int | None:
    """The status of ``GET url``, or None if nothing answers."""
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


def wait_until_healthy(
    base_url: str, process: subprocess.Popen, log: Path, timeout: float = 60
) -> None:
    """Poll ``GET /api/v1/health`` until 200; fail early, with the log, if ``process`` exits."""

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(
                f"the process exited with {process.returncode} before it was healthy"
            )
        return http_status(f"{base_url}/api/v1/health") == 200

    try:
        wait_until(healthy, timeout, f"{base_url}/api/v1/health to answer 200", interval=0.25)
    except AssertionError as error:
        raise AssertionError(f"{error}\n--- log\n{log.read_text(errors='replace')}") from None


def wait_for_exit(process: subprocess.Popen, timeout: float) -> int:
    """The exit code of ``process``; fail the test if it is still running after ``timeout``."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"process {process.pid} still running after {timeout} s") from None


# Processes through /proc ----------------------------------------------------------------


@dataclass(frozen=True)
class Proc:
    """A process as seen in /proc; ``started`` (in clock ticks) tells it from a reused pid."""

    pid: int
    ppid: int
    started: int
    state: str
    command: str

    @property
    def running(self) -> bool:
        """Still the same process and not a zombie."""
        current = read_proc(self.pid)
        return current is not None and current.started == self.started and current.alive

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def read_proc(pid: int) -> Proc | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
    except OSError:  # gone, or not ours to look at
        return None
    # "pid (comm) state ppid … starttime …": comm may hold spaces and parentheses.
    fields = stat[stat.rindex(")") + 2 :].split()
    return Proc(pid, int(fields[1]), int(fields[19]), fields[0], command.decode(errors="replace"))


def all_processes() -> list[Proc]:
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]
    found = (read_proc(pid) for pid in pids)
    return [proc for proc in found if proc is not None and proc.alive]


def children(pid: int) -> list[Proc]:
    """Living direct children of ``pid``."""
    return [proc for proc in all_processes() if proc.ppid == pid]


def descendants(pid: int) -> list[Proc]:
    """Living children, grandchildren … of ``pid`` (as long as they are not orphaned)."""
    by_parent: dict[int, list[Proc]] = {}
    for proc in all_processes():
        by_parent.setdefault(proc.ppid, []).append(proc)
    found, todo = [], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def tagged_processes(env: dict[str, str]) -> list[Proc]:
    """Living processes started with ``env`` (from :func:`process_env`) or by one of them."""
    marker = f"{TAG_VARIABLE}={env[TAG_VARIABLE]}".encode()
    found = []
    for proc in all_processes():
        try:
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
        except OSError:  # gone, a zombie, or not ours to look at
            continue
        if marker in environ.split(b"\0"):
            found.append(proc)
    return found


def kill(procs: list[Proc]) -> None:
    """SIGKILL those of ``procs`` that are still the processes they were."""
    for proc in procs:
        if proc.running:
            with suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path, cwd: Path = ROOT
) -> Iterator[subprocess.Popen]:
    """Start ``command`` (in ``cwd``, its own session, output to ``log``) for the block.

    At the end it is killed if still running, together with every process that carries
    the tag of ``env`` — children that were orphaned included.
    """
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        # Kill the whole family at once: killing the parent first would orphan its children.
        kill(tagged_processes(env))
        process.kill()
        process.wait(timeout=10)
        kill(tagged_processes(env))  # anything started in the meantime
