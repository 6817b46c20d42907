"""Copy the live SQLite database to a backup file, safely, while netmon keeps running.

A plain ``cp`` of a database in WAL mode can miss what is still in ``db.sqlite-wal``
or copy a half-written page; SQLite's online backup API copies a consistent
snapshot while the web server, the workers and the monitor loop go on writing.
PostgreSQL is backed up with ``pg_dump`` instead (docs/operations.md).

A backup holds all the database does: it is made 0600, in a ``backups`` directory made
0700, and older backups of the default directory are tightened to 0600 too
(netmon/data_files.py).
"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from netmon.backups import BACKUP_GLOB, backup_sqlite, backups_directory, new_backup_path
from netmon.data_files import tighten


class Command(BaseCommand):
    help = (
        "Back up the SQLite database with SQLite's online backup API (safe while netmon "
        "runs). PostgreSQL: use pg_dump (docs/operations.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            help="backup file (default: $NETMON_DATA_DIR/backups/db-<UTC time>.sqlite)",
        )
        parser.add_argument(
            "--keep",
            type=int,
            default=0,
            help="afterwards keep only the newest N backups in the default directory (0: all)",
        )

    def handle(self, *args, output: str | None, keep: int, **options):
        if connection.vendor != "sqlite":
            raise CommandError(
                f"backup_db backs up SQLite; this server uses {connection.vendor}: "
                "back it up with pg_dump (see docs/operations.md)"
            )
        if keep < 0:
            raise CommandError("--keep must be 0 or more")
        source = Path(settings.DATABASES["default"]["NAME"])
        if not source.is_file():
            raise CommandError(f"no database at {source}")
        directory = backups_directory()
        target = Path(output).resolve() if output else new_backup_path()
        if target == source.resolve():
            raise CommandError("the backup cannot replace the database itself")
        backup_sqlite(source, target)
        self.stdout.write(f"Backed up {source} to {target} ({target.stat().st_size} bytes)")
        older = sorted(directory.glob(BACKUP_GLOB), reverse=True)
        for backup in older:
            tighten(backup)
        if keep:
            for old in older[keep:]:
                old.unlink()
                self.stdout.write(f"Removed the older backup {old}")
