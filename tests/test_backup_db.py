"""``manage.py backup_db``: an online SQLite backup, and the restore of docs/operations.md.

Run as the server runs it: real settings, a file database in WAL mode, in fresh
processes. SQLite whatever database the suite itself uses — the command is SQLite's.
"""

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from tests.processes import django_json, manage, migrate, process_env

CREATE_HOST = """
from hosts.models import Host
host = Host(host_id="{host_id}", name="{host_id}")
host.set_new_token()
host.save()
print(json.dumps(host.pk))
"""

HOST_IDS = """
from hosts.models import Host
print(json.dumps(sorted(Host.objects.values_list("host_id", flat=True))))
"""


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """A migrated database file, made once: each test works on a copy."""
    data = tmp_path_factory.mktemp("template")
    migrate(process_env(data, f"sqlite:///{data / 'db.sqlite'}"))
    return data / "db.sqlite"


@pytest.fixture
def server(tmp_path, migrated) -> dict[str, str]:
    """The environment of a migrated SQLite server whose data directory is tmp_path/data."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(migrated, data / "db.sqlite")
    return process_env(data, f"sqlite:///{data / 'db.sqlite'}")


def data_dir(env: dict[str, str]) -> Path:
    return Path(env["NETMON_DATA_DIR"])


def test_backs_up_into_the_data_directory_by_default(server):
    django_json(CREATE_HOST.format(host_id="web01"), server)

    result = manage("backup_db", env=server)

    [backup] = (data_dir(server) / "backups").glob("db-*.sqlite")
    assert f"to {backup} (" in result.stdout
    with sqlite3.connect(backup) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT host_id FROM hosts_host").fetchall() == [("web01",)]
    assert not list(backup.parent.glob(".*partial"))


def test_a_consistent_copy_while_another_process_writes(server, tmp_path):
    database = data_dir(server) / "db.sqlite"
    with sqlite3.connect(database) as setup:
        setup.execute("CREATE TABLE load_test (n INTEGER, padding TEXT)")
    stop = threading.Event()
    written = []

    def write():
        with sqlite3.connect(database, timeout=20) as writer:
            n = 0
            while not stop.is_set():
                writer.execute("INSERT INTO load_test VALUES (?, ?)", (n, "x" * 2000))
                writer.commit()
                written.append(n)
                n += 1

    thread = threading.Thread(target=write)
    thread.start()
    try:
        time.sleep(0.3)
        manage("backup_db", "--output", str(tmp_path / "online.sqlite"), env=server)
    finally:
        stop.set()
        thread.join()

    with sqlite3.connect(tmp_path / "online.sqlite") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        count, top = copy.execute("SELECT count(*), max(n) FROM load_test").fetchone()
    assert 0 < count <= len(written)
    assert top == count - 1  # a prefix of the writes: nothing torn, nothing missing between


def test_keep_removes_the_oldest_backups(server):
    backups = data_dir(server) / "backups"
    backups.mkdir()
    for stamp in ("20200101T000000Z", "20210101T000000Z", "20220101T000000Z"):
        (backups / f"db-{stamp}.sqlite").write_text("old")

    manage("backup_db", "--keep", "2", env=server)

    names = sorted(path.name for path in backups.glob("db-*.sqlite"))
    assert len(names) == 2
    assert names[0] == "db-20220101T000000Z.sqlite"


def test_restore_as_documented_brings_back_the_backed_up_state(server, tmp_path):
    django_json(CREATE_HOST.format(host_id="before"), server)
    manage("backup_db", "--output", str(tmp_path / "backup.sqlite"), env=server)
    django_json(CREATE_HOST.format(host_id="after"), server)
    database = data_dir(server) / "db.sqlite"

    # docs/operations.md, with netmon stopped: drop the WAL files, copy the backup over.
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes((tmp_path / "backup.sqlite").read_bytes())

    assert django_json(HOST_IDS, server) == ["before"]
    manage("migrate", "--check", env=server)  # nothing left to apply


def test_refuses_postgresql_and_points_to_pg_dump(tmp_path):
    env = process_env(tmp_path, "postgres://nobody@127.0.0.1:1/netmon")

    result = manage("backup_db", env=env, check=False)

    assert result.returncode != 0
    assert "pg_dump" in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_a_missing_database(tmp_path):
    env = process_env(tmp_path, f"sqlite:///{tmp_path / 'nothing-here.sqlite'}")

    result = manage("backup_db", env=env, check=False)

    assert result.returncode != 0
    assert "no database at" in result.stderr
    assert not (tmp_path / "nothing-here.sqlite").exists()
