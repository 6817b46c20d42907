"""An upgrade — new code started on an older database — backs the database up before it
applies the new migrations, and applies them once. Real processes: ``serve`` as the
container starts it, and ``manage.py migrate_safely`` as start.sh and setup.sh run it, on
a database rolled back one migration (what the previous release left)."""

import sqlite3

import pytest

from tests.processes import (
    MANAGE,
    django_json,
    manage,
    process_database,
    process_env,
    running,
    wait_until,
)
from tests.processes import (
    tests_use_postgres as on_postgresql,
)

pytestmark = pytest.mark.process

PREVIOUS_RELEASE = ("hosts", "0005")  # the latest hosts migration is 0006
CREATE_HOST = """
from hosts.models import Host
host = Host(host_id="kept01", name="kept01")
host.set_new_token()
host.save()
print(json.dumps(host.pk))
"""


def older_database(env: dict[str, str]) -> None:
    """A host, then the schema of the previous release."""
    django_json(CREATE_HOST, env)
    manage("migrate", *PREVIOUS_RELEASE, "--noinput", "-v", "0", env=env)
    assert manage("migrate", "--check", env=env, check=False).returncode != 0


def backups(data_dir):
    return sorted((data_dir / "backups").glob("db-*-before-migrate.sqlite"))


@pytest.mark.skipif(on_postgresql(), reason="the backup before migrating is SQLite's")
def test_serve_backs_up_an_older_database_then_migrates_it(tmp_path):
    data_dir = tmp_path / "data"
    with process_database(tmp_path) as database_url:
        env = process_env(data_dir, database_url, TMPDIR=str(tmp_path))
        older_database(env)
        log = tmp_path / "serve.log"
        with running([*MANAGE, "serve", "--only", "monitor"], env, log):
            wait_until(lambda: "Applied 1 migration" in log.read_text(), 60, "the migration")
        output = log.read_text()

        [backup] = backups(data_dir)
        assert f"to {backup} before applying 1 migration" in output
        assert (backup.stat().st_mode & 0o777) == 0o600
        with sqlite3.connect(backup) as copy:  # the data, on the previous schema
            assert copy.execute("SELECT host_id FROM hosts_host").fetchall() == [("kept01",)]
            applied = copy.execute(
                "SELECT max(name) FROM django_migrations WHERE app = 'hosts'"
            ).fetchone()[0]
        assert applied.startswith("0005")
        manage("migrate", "--check", env=env)  # nothing left to apply


def test_migrate_safely_on_a_fresh_database_migrates_without_a_backup(tmp_path):
    data_dir = tmp_path / "data"
    with process_database(tmp_path, migrated=False) as database_url:
        env = process_env(data_dir, database_url)
        result = manage("migrate_safely", env=env)
        assert "Applied" in result.stdout and "Backed up" not in result.stdout
        assert backups(data_dir) == []
        manage("migrate", "--check", env=env)
        assert manage("migrate_safely", env=env).stdout == ""  # nothing to do: silent


@pytest.mark.skipif(on_postgresql(), reason="the backup before migrating is SQLite's")
def test_migrate_safely_backs_up_an_older_database(tmp_path):
    data_dir = tmp_path / "data"
    with process_database(tmp_path) as database_url:
        env = process_env(data_dir, database_url)
        older_database(env)
        result = manage("migrate_safely", env=env)
        [backup] = backups(data_dir)
        assert result.stdout.splitlines() == [
            f"Backed up {tmp_path / 'db.sqlite'} to {backup} before applying 1 migration",
            "Applied 1 migration",
        ]


@pytest.mark.skipif(not on_postgresql(), reason="PostgreSQL's note replaces the backup")
def test_migrate_safely_on_postgresql_points_to_pg_dump(tmp_path):
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path / "data", database_url)
        older_database(env)
        result = manage("migrate_safely", env=env)
        assert "pg_dump" in result.stdout and "Applied 1 migration" in result.stdout
        assert not (tmp_path / "data" / "backups").exists()
