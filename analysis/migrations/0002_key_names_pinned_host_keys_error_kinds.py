"""Keys by name, host keys pinned in the database, classified errors.

``ssh_key_path`` becomes ``ssh_key``, the file's name: a stored path keeps only its last
component, which is looked up in ANALYSIS_SSH_KEY_DIRS from now on (a path to a key outside
those directories stops working, as intended). ``ssh_known_hosts_path`` goes: host keys are
pinned in ``SSHHostKey`` (``manage.py pin_host_keys`` imports a known_hosts file).
"""

import os
import re

import django.core.validators
import django.utils.timezone
from django.db import migrations, models

KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def key_paths_to_names(apps, schema_editor):
    LogSource = apps.get_model("analysis", "LogSource")
    for source in LogSource.objects.exclude(ssh_key=""):
        name = os.path.basename(source.ssh_key.rstrip("/"))
        LogSource.objects.filter(pk=source.pk).update(ssh_key=name if KEY_NAME.match(name) else "")


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0001_initial"),
    ]

    operations = [
        migrations.RenameField(model_name="logsource", old_name="ssh_key_path", new_name="ssh_key"),
        migrations.RunPython(key_paths_to_names, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="logsource",
            name="ssh_key",
            field=models.CharField(
                blank=True,
                help_text="name of a private key file in ANALYSIS_SSH_KEY_DIRS (default data/ssh); "
                "empty: the default keys of the user netmon runs as",
                max_length=100,
                validators=[
                    django.core.validators.RegexValidator(
                        re.compile("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"),
                        "The name of a file, not a path.",
                    )
                ],
                verbose_name="SSH key",
            ),
        ),
        migrations.RemoveField(model_name="logsource", name="ssh_known_hosts_path"),
        migrations.AddField(
            model_name="analysisrun",
            name="error_kind",
            field=models.CharField(
                blank=True,
                help_text="what failed, e.g. host_key_changed, auth_failed",
                max_length=30,
            ),
        ),
        migrations.AddField(
            model_name="logsource",
            name="last_error_kind",
            field=models.CharField(blank=True, editable=False, max_length=30),
        ),
        migrations.AlterField(
            model_name="logsource",
            name="ssh_trust_on_first_use",
            field=models.BooleanField(
                default=False,
                help_text="accept and pin the host key when netmon has none pinned for this "
                "host and port (a changed key is still refused)",
            ),
        ),
        migrations.CreateModel(
            name="SSHHostKey",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "ssh_host",
                    models.CharField(
                        help_text="as in the log source", max_length=255, verbose_name="SSH host"
                    ),
                ),
                (
                    "port",
                    models.PositiveIntegerField(
                        default=22,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(65535),
                        ],
                    ),
                ),
                ("algorithm", models.CharField(editable=False, max_length=50)),
                (
                    "public_key",
                    models.TextField(help_text="OpenSSH format: key type and base64 data"),
                ),
                (
                    "fingerprint",
                    models.CharField(editable=False, help_text="SHA256", max_length=100),
                ),
                (
                    "origin",
                    models.CharField(
                        choices=[
                            ("first_use", "Trusted on first use"),
                            ("admin", "Added by an administrator"),
                        ],
                        editable=False,
                        help_text="how it was trusted",
                        max_length=10,
                    ),
                ),
                (
                    "trusted_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                ("confirmed_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("confirmed_by", models.CharField(blank=True, editable=False, max_length=150)),
                (
                    "changed_public_key",
                    models.TextField(
                        blank=True,
                        editable=False,
                        help_text="the other key the server presented last",
                    ),
                ),
                (
                    "changed_fingerprint",
                    models.CharField(blank=True, editable=False, max_length=100),
                ),
                ("changed_seen_at", models.DateTimeField(blank=True, editable=False, null=True)),
            ],
            options={
                "verbose_name": "SSH host key",
                "ordering": ["ssh_host", "port", "algorithm"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("ssh_host", "port", "algorithm"), name="sshhostkey_one_per_type"
                    )
                ],
            },
        ),
    ]
