"""``manage.py migrate_safely``: apply the unapplied migrations, after a backup of a SQLite
database that already holds data — what serve does at every start (netmon/upgrades.py).
start.sh and setup.sh use it, so that an upgrade without Docker keeps the same backup."""

from django.core.management.base import BaseCommand

from netmon.upgrades import migrate_with_backup


class Command(BaseCommand):
    help = (
        "Apply the unapplied migrations; before, back up an existing SQLite database to "
        "data/backups/db-<UTC time>-before-migrate.sqlite. Silent when there is nothing to do."
    )

    def handle(self, *args, **options):
        migrate_with_backup(self.stdout.write)
