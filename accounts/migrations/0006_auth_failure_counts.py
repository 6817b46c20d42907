from django.db import migrations, models


class Migration(migrations.Migration):
    """Failure counts move from the database cache "auth_failures" to a table of their own;
    the cache's table goes (counts in it are at most one window old)."""

    dependencies = [("accounts", "0005_manage_channels_capability")]

    operations = [
        migrations.CreateModel(
            name="AuthFailureCount",
            fields=[
                ("client", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("window_number", models.BigIntegerField()),
                ("failures", models.PositiveIntegerField()),
            ],
        ),
        migrations.RunSQL("DROP TABLE IF EXISTS netmon_auth_failures", migrations.RunSQL.noop),
    ]
