"""The data directory and the files netmon keeps in it are its user's alone: made 0700
and 0600 by real ``migrate``, ``serve`` and ``backup_db`` processes under the usual umask
(022, which would make them world-readable), and tightened when found wider
(netmon/data_files.py). SQLite by design: these are SQLite's files."""

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.processes import (
    MANAGE,
    ROOT,
    children,
    process_env,
    running,
    wait_for_exit,
    wait_until,
)

USUAL_UMASK = 0o022


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py <args>`` as a user's shell runs it: with the umask most systems set."""
    result = subprocess.run(
        [*MANAGE, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        umask=USUAL_UMASK,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def sqlite_env(data: Path) -> dict[str, str]:
    return process_env(data, f"sqlite:///{data / 'db.sqlite'}")


def test_migrate_makes_a_private_data_directory_database_and_key(tmp_path):
    data = tmp_path / "data"  # missing: netmon creates it
    env = sqlite_env(data)

    run("migrate", "--noinput", "-v", "0", env=env)

    assert mode(data) == 0o700
    assert mode(data / "db.sqlite") == 0o600
    assert mode(data / "secret_key") == 0o600


@pytest.mark.process
def test_serve_keeps_the_database_and_its_wal_and_shm_private(tmp_path):
    data = tmp_path / "data"
    env = sqlite_env(data)
    database = data / "db.sqlite"
    wal, shm = Path(f"{database}-wal"), Path(f"{database}-shm")
    log = tmp_path / "serve.log"
    # The monitor loop alone: it migrates, then keeps the database open (WAL and shm exist).
    command = [*MANAGE, "serve", "--only", "monitor"]
    previous = os.umask(USUAL_UMASK)  # serve starts with it, as from a user's shell
    try:
        with running(command, env, log) as serve:
            os.umask(previous)

            def monitor_started() -> bool:  # so serve has migrated
                return any("django monitor" in child.command for child in children(serve.pid))

            wait_until(monitor_started, 60, f"the monitor loop to start\n{log}")
            wait_until(lambda: wal.exists() and shm.exists(), 10, f"-wal and -shm\n{log}")

            assert {path.name: mode(path) for path in (data, database, wal, shm)} == {
                "data": 0o700,
                "db.sqlite": 0o600,
                "db.sqlite-wal": 0o600,
                "db.sqlite-shm": 0o600,
            }
            serve.terminate()
            assert wait_for_exit(serve, timeout=40) == 0, log.read_text()
    finally:
        os.umask(previous)


def test_files_of_an_older_netmon_are_tightened_at_the_next_start(tmp_path):
    data = tmp_path / "data"
    env = sqlite_env(data)
    run("migrate", "--noinput", "-v", "0", env=env)
    database = data / "db.sqlite"
    journal = Path(f"{database}-journal")  # left by a crash, say
    journal.write_bytes(b"")
    for path in (database, journal, data / "secret_key"):
        path.chmod(0o644)
    data.chmod(0o755)  # the operator's directory: left as it is

    run("migrate", "--check", env=env)

    assert mode(database) == 0o600
    assert mode(journal) == 0o600
    assert mode(data / "secret_key") == 0o600
    assert mode(data) == 0o755


def test_backups_are_private_and_older_ones_are_tightened(tmp_path):
    data = tmp_path / "data"
    env = sqlite_env(data)
    run("migrate", "--noinput", "-v", "0", env=env)
    older = data / "backups" / "db-20200101T000000Z.sqlite"
    older.parent.mkdir(mode=0o755)
    older.write_bytes(b"an older backup")
    older.chmod(0o644)
    elsewhere = tmp_path / "offsite" / "copy.sqlite"

    run("backup_db", env=env)
    run("backup_db", "--output", str(elsewhere), env=env)

    [new] = set(older.parent.glob("db-*.sqlite")) - {older}
    assert mode(new) == 0o600
    assert mode(older) == 0o600
    assert mode(elsewhere) == 0o600
    assert mode(elsewhere.parent) == 0o700  # created by backup_db
    assert mode(older.parent) == 0o755  # existed: not netmon's to change
