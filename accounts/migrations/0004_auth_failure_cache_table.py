from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    # The "auth_failures" cache (accounts/throttle.py) is new: its table, where it is a
    # database cache; tables that exist are left alone.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_groups"), ("netmon", "0001_cache_table")]

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
