"""The groups Viewer, Operator and Administrator, each with the permissions of the one
before it and more (docs/operations.md, "Accounts and permissions").

netmon's own permissions (``accounts.*``) decide what the API and the web pages allow.
The model permissions let a member who is also staff use the same in the Django admin;
channel webhooks, API keys and log sources are for administrators only.
Django creates permissions after all migrations ran; they are created here first, so
that a new database gets its groups in the same ``migrate``.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = [
    "accounts.view_monitoring",
    "hosts.view_host",
    "hosts.view_statuschange",
    "heartbeats.view_heartbeat",
    "alerts.view_alert",
    "analysis.view_analysisrun",
    "analysis.view_finding",
    "connectivity.view_connectivitycheck",
    "connectivity.view_outage",
]
OPERATOR = [
    *VIEWER,
    "accounts.operate_monitoring",
    "hosts.add_host",
    "hosts.change_host",
    "hosts.delete_host",
    "alerts.change_alert",
    "analysis.change_finding",
]
ADMINISTRATOR = [
    *OPERATOR,
    "accounts.manage_log_sources",
    *(
        f"{app}.{action}_{model}"
        for app, model in [
            ("analysis", "logsource"),
            ("analysis", "sshhostkey"),
            ("alerts", "channel"),
            ("accounts", "apikey"),
        ]
        for action in ("add", "change", "delete", "view")
    ),
]
GROUPS = {"Viewer": VIEWER, "Operator": OPERATOR, "Administrator": ADMINISTRATOR}


def create_groups(apps, schema_editor):
    for app_config in apps.get_app_configs():
        if not getattr(app_config, "models_module", None):  # none in a migration's apps
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, permissions in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for permission in permissions:
            app_label, codename = permission.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_capabilities_and_admin_keys"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("hosts", "0001_initial"),
        ("heartbeats", "0001_initial"),
        ("alerts", "0001_initial"),
        ("analysis", "0002_key_names_pinned_host_keys_error_kinds"),
        ("connectivity", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
