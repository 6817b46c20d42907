"""Schema upgrades: the migrations still to apply, and applying them with a backup first.

An upgrade is "new image (or ``git pull``), start again": ``serve`` (and ``start.sh``,
``setup.sh``) apply what the new code brings. A migration that goes wrong, or new code the
operator wants to roll back from, should find the data as it was: so before it applies
anything to a SQLite database that already holds netmon's tables, it makes the same online
backup as ``manage.py backup_db`` in ``data/backups/`` (``db-<UTC time>-before-migrate.sqlite``).
A fresh database (nothing applied yet) has nothing to keep. PostgreSQL is backed up with
``pg_dump`` outside netmon, which cannot reach the server's files: serve says so and
migrates (docs/operations.md, "Upgrading").
"""

from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from netmon.backups import backup_sqlite, new_backup_path


def migration_plan() -> tuple[int, int]:
    """(applied, unapplied) migrations of the database: what ``migrate --check`` looks at.

    Raises ``DatabaseError`` while the database cannot be reached. The connection is
    closed again, so that a broken one is never reused and none is held between polls.
    """
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        unapplied = executor.migration_plan(executor.loader.graph.leaf_nodes())
        return len(executor.loader.applied_migrations), len(unapplied)
    finally:
        connection.close()


def migrate_with_backup(write) -> None:
    """Apply the unapplied migrations, after a backup of an existing SQLite database;
    ``write`` gets one line per thing done (nothing when there is nothing to do)."""
    applied, unapplied = migration_plan()
    if not unapplied:
        return
    count = f"{unapplied} migration{'s' if unapplied != 1 else ''}"
    connection = connections[DEFAULT_DB_ALIAS]
    if applied and connection.vendor == "sqlite":
        source = Path(settings.DATABASES[DEFAULT_DB_ALIAS]["NAME"])
        target = new_backup_path("before-migrate")
        backup_sqlite(source, target)
        write(f"Backed up {source} to {target} before applying {count}")
    elif applied:
        write(
            f"Applying {count} to {connection.vendor}: back it up with pg_dump "
            "before an upgrade (docs/operations.md)"
        )
    call_command("migrate", interactive=False, verbosity=0)
    write(f"Applied {count}")
