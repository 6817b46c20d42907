"""Outages become the events the monitor loop alerts (connectivity/events.py).

The outages already recorded were alerted by the previous version, in the transaction of
the check that opened or closed them: their markers are set to those moments, so that only
new starts and ends alert. An outage still open keeps its end unmarked: its end alerts.
"""

from django.db import migrations, models
from django.db.models import F


def mark_alerted(apps, schema_editor):
    Outage = apps.get_model("connectivity", "Outage")
    Outage.objects.update(start_alerted_at=F("opened_at"))
    Outage.objects.filter(ended_at__isnull=False).update(end_alerted_at=F("ended_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("connectivity", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="outage",
            name="end_alerted_at",
            field=models.DateTimeField(
                blank=True, editable=False, help_text="when its end was alerted", null=True
            ),
        ),
        migrations.AddField(
            model_name="outage",
            name="start_alerted_at",
            field=models.DateTimeField(
                blank=True, editable=False, help_text="when its start was alerted", null=True
            ),
        ),
        migrations.RunPython(mark_alerted, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="outage",
            index=models.Index(
                condition=models.Q(("end_alerted_at__isnull", True)),
                fields=["started_at"],
                name="outage_unalerted_idx",
            ),
        ),
    ]
