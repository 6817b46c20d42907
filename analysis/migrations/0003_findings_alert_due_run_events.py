"""Alerts of log analysis become events the monitor loop sends (analysis/events.py).

A finding marks an alert due (``alert_due_at``, ``alert_reason``); the run's other alerts are
``RunEvent`` rows. Nothing recorded before is due: the previous version queued its alerts
in the run's transaction, so no data moves.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0002_key_names_pinned_host_keys_error_kinds"),
    ]

    operations = [
        migrations.CreateModel(
            name="RunEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("held_back", "More findings than one run may alert"),
                            ("host_key", "SSH host key changed"),
                            ("failing", "Runs keep failing"),
                            ("recovered", "Working again"),
                        ],
                        max_length=10,
                    ),
                ),
                ("details", models.JSONField(blank=True, default=dict)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("alerted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="analysis.analysisrun",
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("alerted_at__isnull", True)),
                        fields=["id"],
                        name="runevent_unalerted_idx",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="finding",
            name="alert_due_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="a run found it worth an alert, not sent yet",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="finding",
            name="alert_reason",
            field=models.CharField(
                blank=True,
                editable=False,
                help_text="why it alerts again, if it does",
                max_length=200,
            ),
        ),
        migrations.AddIndex(
            model_name="finding",
            index=models.Index(
                condition=models.Q(("alert_due_at__isnull", False)),
                fields=["alert_due_at"],
                name="finding_alert_due_idx",
            ),
        ),
    ]
