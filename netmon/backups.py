"""SQLite's online backup, for ``manage.py backup_db`` and the backup before an upgrade
(netmon/upgrades.py).

A plain ``cp`` of a database in WAL mode can miss what is still in ``db.sqlite-wal`` or
copy a half-written page; SQLite's backup API copies a consistent snapshot while the web
server, the workers and the monitor loop go on writing. A backup holds all the database
does: it is made 0600, in a directory made 0700 (netmon/data_files.py).
"""

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from netmon.data_files import create_private_file, make_private_directory

BACKUP_GLOB = "db-*.sqlite"  # backup_db's and the upgrades' files in data/backups


def backups_directory() -> Path:
    return Path(settings.DATA_DIR) / "backups"


def new_backup_path(label: str = "") -> Path:
    """``data/backups/db-<UTC time>[-label].sqlite``: sorted by name is sorted by time."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return backups_directory() / f"db-{stamp}{f'-{label}' if label else ''}.sqlite"


def backup_sqlite(source: Path, target: Path) -> None:
    """Write a consistent copy of ``source`` to ``target`` (replaced only when complete)."""
    make_private_directory(target.parent)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    # Read-only, and never creating an empty database where none is.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=20)
    try:
        create_private_file(partial)  # SQLite gives its journal the mode of this file
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            (result,) = dst.execute("PRAGMA integrity_check").fetchone()
            if result != "ok":
                raise CommandError(f"the copy failed its integrity check: {result}")
            # A self-contained file: no -wal next to it is needed to read it.
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    partial.replace(target)
