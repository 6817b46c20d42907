"""``serve --no-migrate`` — the workers and monitor loops of the scale profile, started
while the web role may still be migrating — waits for a reachable, migrated database
instead of starting roles that crash on missing tables. Real serve processes, on an empty
database of the suite's kind (SQLite, or PostgreSQL when the suite runs on it)."""

import json
import signal
from pathlib import Path

import pytest

from tests.processes import (
    MANAGE,
    children,
    free_port,
    manage,
    migrate,
    process_database,
    process_env,
    running,
    wait_for_exit,
    wait_until,
)

pytestmark = pytest.mark.process

# Polls this often in the tests: the default (2 s) would only make them slower.
WAIT = ["--wait-interval", "0.1"]
MONITOR_ONLY = [*MANAGE, "serve", "--only", "monitor", "--no-migrate", *WAIT]
WAITING_FOR_MIGRATIONS = "waiting for the database to be migrated"


def serve_states(temp_dir: Path) -> list[dict]:
    """The state files of the serves that use ``temp_dir`` (netmon/supervisor.py)."""
    return [json.loads(path.read_text()) for path in temp_dir.glob("netmon-serve-*/state.json")]


def monitor_running(temp_dir: Path) -> bool:
    return any(state["children"]["monitor"]["running"] for state in serve_states(temp_dir))


def test_waits_for_the_migrations_then_starts_its_role(tmp_path):
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    with process_database(tmp_path, migrated=False) as database_url:
        env = process_env(tmp_path / "data", database_url, TMPDIR=str(temp_dir))
        log = tmp_path / "serve.log"
        with running(MONITOR_ONLY, env, log) as serve:

            def output() -> str:
                return log.read_text(errors="replace")

            wait_until(lambda: WAITING_FOR_MIGRATIONS in output(), 60, "serve to say it waits")
            # `migrate` takes seconds: serve keeps polling (every 0.1 s) all the while,
            # and must neither crash nor start its role on a half-migrated database.
            migrate(env)
            wait_until(lambda: monitor_running(temp_dir), 60, f"the monitor loop\n{output()}")

            assert serve.poll() is None, output()
            [monitor] = children(serve.pid)
            assert "django monitor" in monitor.command
            assert output().count(WAITING_FOR_MIGRATIONS) == 1, output()
            assert "the database is migrated: starting" in output()
            assert "Traceback" not in output()

            serve.send_signal(signal.SIGTERM)
            assert wait_for_exit(serve, timeout=40) == 0, output()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_while_waiting_ends_it_with_status_0(tmp_path, stop):
    temp_dir = tmp_path / "tmp"
    temp_dir.mkdir()
    with process_database(tmp_path, migrated=False) as database_url:
        env = process_env(tmp_path / "data", database_url, TMPDIR=str(temp_dir))
        log = tmp_path / "serve.log"
        with running(MONITOR_ONLY, env, log) as serve:
            wait_until(
                lambda: WAITING_FOR_MIGRATIONS in log.read_text(), 60, "serve to say it waits"
            )

            serve.send_signal(stop)

            assert wait_for_exit(serve, timeout=10) == 0, log.read_text()
        assert "stopped while waiting for the database" in log.read_text()
        assert serve_states(temp_dir) == []  # no role was ever started


def test_waits_for_an_unreachable_database_to_answer(tmp_path):
    nothing_listens = f"postgres://netmon@127.0.0.1:{free_port()}/netmon"
    env = process_env(tmp_path / "data", nothing_listens)
    log = tmp_path / "serve.log"
    with running(MONITOR_ONLY, env, log) as serve:
        wait_until(
            lambda: "waiting for the database to be reachable (OperationalError" in log.read_text(),
            60,
            "serve to say it waits for the database",
        )
        assert serve.poll() is None
        assert children(serve.pid) == []

        serve.send_signal(signal.SIGTERM)

        assert wait_for_exit(serve, timeout=10) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("interval", ["0", "-1", "61"])
def test_refuses_a_wait_interval_out_of_range(tmp_path, interval):
    env = process_env(tmp_path / "data", f"sqlite:///{tmp_path / 'db.sqlite'}")

    result = manage(
        "serve", "--only", "monitor", "--no-migrate", "--wait-interval", interval,
        env=env, check=False,
    )  # fmt: skip

    assert result.returncode == 1
    assert "--wait-interval must be more than 0 and at most 60 seconds" in result.stderr
    assert "Traceback" not in result.stderr
