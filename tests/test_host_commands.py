"""add_host, import_hosts and export_hosts, and the modules behind them."""

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from analysis.log_config import config_of
from analysis.models import LogSource
from hosts.choices import HostStatus
from hosts.config_io import ConfigError, apply_import, export_hosts, plan_import
from hosts.models import Host, StatusChange
from hosts.setup_instructions import calendar_specs, client_setup_text
from netmon.tokens import token_matches

BASE_DIR = Path(settings.BASE_DIR)
EXAMPLE = BASE_DIR / "config" / "hosts.yaml.example"
BASE_URL = "https://netmon.example.com"
SCRIPT = "/usr/local/bin/client-heartbeat.sh"
CRON_COMMAND = f"NETMON_TOKEN_FILE=/etc/netmon/token {SCRIPT} {{}} - {BASE_URL}"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def fails(*args: str) -> str:
    """Run a command that must fail; returns its error message."""
    with pytest.raises(CommandError) as error:
        run(*args)
    return str(error.value)


def make_host(host_id: str, **fields) -> Host:
    host = Host(host_id=host_id, name=fields.pop("name", host_id.upper()), **fields)
    host.set_new_token()
    host.save()
    return host


def database_state() -> tuple[list[dict], int, list[dict]]:
    return (
        list(Host.objects.order_by("pk").values()),
        StatusChange.objects.count(),
        list(LogSource.objects.order_by("pk").values()),
    )


def hosts_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "hosts.yaml"
    path.write_text(dedent(text))
    return str(path)


def new_tokens(output: str) -> dict[str, str]:
    return dict(re.findall(r"^  ([a-z0-9_-]+): (\S+)$", output, re.MULTILINE))


# add_host


@pytest.mark.django_db
@override_settings(NETMON_BASE_URL=BASE_URL)
def test_add_host_prints_the_token_once_and_the_client_setup():
    output = run("add_host", "--host-id", "web01", "--name", "Web Server 01")

    host = Host.objects.get(host_id="web01")
    token = re.search(r"^Token: (\S+)$", output, re.MULTILINE).group(1)
    assert token_matches(token, host.token_hash)
    assert host.status == HostStatus.NEW
    assert "shown only once" in output
    lines = output.splitlines()
    assert (
        f"curl -fsSO {BASE_URL}/scripts/client-heartbeat.sh && chmod +x client-heartbeat.sh"
        in lines
    )
    assert f"./client-heartbeat.sh web01 {token} {BASE_URL}" in lines
    assert (
        "sudo install -d -m 700 /etc/netmon && "
        f"printf '%s\\n' {token} | sudo tee /etc/netmon/token >/dev/null"
    ) in lines
    assert f"*/5 * * * * {CRON_COMMAND.format('web01')}" in lines
    assert "Environment=NETMON_TOKEN_FILE=/etc/netmon/token" in lines
    assert f"ExecStart={SCRIPT} web01 - {BASE_URL}" in lines
    assert "OnBootSec=60s" in lines
    assert "OnUnitActiveSec=300s" in lines
    assert "Note:" not in output


@pytest.mark.django_db
def test_add_host_sets_every_option_and_can_create_paused():
    run(
        "add_host",
        "--host-id=backup01",
        "--name=Backup",
        "--frequency=600",
        "--grace=0",
        "--schedule=custom",
        "--cron=30 2 * * *",
        "--timezone=Europe/Berlin",
        "--notes=nightly",
        "--tag=backup",
        "--tag=storage",
        "--paused",
    )

    host = Host.objects.get(host_id="backup01")
    assert (host.frequency_seconds, host.grace_seconds) == (600, 0)
    assert (host.schedule_type, host.cron_expression) == ("custom", "30 2 * * *")
    assert (host.timezone, host.notes, host.tags) == (
        "Europe/Berlin",
        "nightly",
        ["backup", "storage"],
    )
    assert host.status == HostStatus.PAUSED
    assert host.status_changes.get().to_status == HostStatus.PAUSED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--frequency", "5"], "frequency_seconds (--frequency): Ensure this value is greater"),
        (["--schedule", "custom"], "cron_expression (--cron): A cron expression is required"),
        (["--schedule", "custom", "--cron", "61 * * * *"], "cron_expression (--cron): invalid"),
        (["--timezone", "Mars/Olympus"], "timezone (--timezone): 'Mars/Olympus' is not an IANA"),
        (["--host-id", "Web 01"], "host_id (--host-id): Use 1–64 lowercase letters"),
        (["--schedule", "sometimes"], "schedule_type (--schedule): Value 'sometimes' is not"),
    ],
)
def test_add_host_rejects_invalid_settings_naming_the_field(options, expected):
    message = fails("add_host", "--host-id", "web01", "--name", "Web", *options)

    assert "nothing was created" in message
    assert expected in message
    assert not Host.objects.exists()


@pytest.mark.django_db
def test_add_host_rejects_a_duplicate_host_id():
    existing = make_host("web01")

    message = fails("add_host", "--host-id", "web01", "--name", "Another")

    assert "host_id (--host-id): Host with this Host id already exists." in message
    assert list(Host.objects.values_list("name", "token_hash")) == [("WEB01", existing.token_hash)]


# client setup text


@pytest.mark.parametrize(
    ("frequency", "fields", "note"),
    [
        (60, "* * * * *", None),
        (300, "*/5 * * * *", None),
        (1800, "*/30 * * * *", None),
        (3600, "0 * * * *", None),
        (6 * 3600, "0 */6 * * *", None),
        (86400, "0 0 * * *", None),
        (7 * 86400, "0 0 * * 0", None),
        (420, "*/6 * * * *", "cron cannot run exactly every 7 minutes"),
        (5400, "0 * * * *", "cron cannot run exactly every 90 minutes"),
        (30, "* * * * *", "cron cannot run more often than once a minute"),
    ],
)
def test_the_crontab_line_follows_the_frequency(frequency, fields, note):
    host = Host(host_id="web01", frequency_seconds=frequency)

    text = client_setup_text(host, "TOKEN", BASE_URL + "/")

    assert f"\n{fields} {CRON_COMMAND.format('web01')}\n" in text
    assert f"\nOnUnitActiveSec={frequency}s\n" in text
    assert f"\nOnBootSec={min(frequency, 60)}s\n" in text
    if note:
        assert f"Note: {note}" in text
    else:
        assert "Note:" not in text


def test_a_custom_schedule_uses_its_cron_expression_and_time_zone():
    host = Host(
        host_id="backup01",
        schedule_type="custom",
        cron_expression="30 2 * * *",
        timezone="Europe/Berlin",
    )

    text = client_setup_text(host, "TOKEN", BASE_URL)

    assert f"\n30 2 * * * {CRON_COMMAND.format('backup01')}\n" in text
    assert "netmon reads it in Europe/Berlin" in text
    assert "\nOnCalendar=*-*-* 02:30:00 Europe/Berlin\n" in text
    assert "OnUnitActiveSec" not in text


def test_a_business_hours_host_is_told_that_heartbeats_around_the_clock_are_fine():
    host = Host(host_id="pc01", schedule_type="business_hours", timezone="Europe/Berlin")

    text = client_setup_text(host, "TOKEN", BASE_URL)

    assert "during business hours (Europe/Berlin) only" in text
    assert f"\n*/5 * * * * {CRON_COMMAND.format('pc01')}\n" in text


CALENDARS = [
    ("30 2 * * *", ["*-*-* 02:30:00 UTC"]),
    ("*/15 8-9 * * mon-fri", ["Mon,Tue,Wed,Thu,Fri *-*-* 08,09:00,15,30,45:00 UTC"]),
    ("0 0 1,15 jan,jul *", ["*-01,07-01,15 00:00:00 UTC"]),
    ("0 12 * * 7,1", ["Sun,Mon *-*-* 12:00:00 UTC"]),
    ("0 9 1 * sun", ["*-*-01 09:00:00 UTC", "Sun *-*-* 09:00:00 UTC"]),
]


@pytest.mark.parametrize(("expression", "specs"), CALENDARS)
def test_calendar_specs_fire_when_cron_does(expression, specs):
    assert calendar_specs(expression, "UTC") == specs


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_calendar_specs():
    specs = [spec for _, specs in CALENDARS for spec in specs]

    result = subprocess.run(
        ["systemd-analyze", "calendar", *specs], capture_output=True, text=True, timeout=30
    )

    assert result.returncode == 0, result.stderr


# import_hosts


@pytest.mark.django_db
def test_import_of_the_example_file_creates_its_hosts():
    output = run("import_hosts", str(EXAMPLE))

    assert "Imported: 3 created, 0 updated, 0 deleted, 0 unchanged." in output
    hosts = {host.host_id: host for host in Host.objects.all()}
    assert set(hosts) == {"fw01", "office-pc01", "backup01"}
    tokens = new_tokens(output)
    assert set(tokens) == set(hosts)
    assert all(token_matches(tokens[h], hosts[h].token_hash) for h in hosts)
    assert [hosts[h].schedule_type for h in ("fw01", "office-pc01", "backup01")] == [
        "always",
        "business_hours",
        "custom",
    ]
    assert hosts["backup01"].cron_expression == "30 2 * * *"
    config = config_of(hosts["fw01"])
    assert config["ssh_host"] == "192.168.1.1"
    assert config["log_command"] == "tail -n 1000 /var/log/firewall.log"
    assert set(config) == {
        "enabled",
        "method",
        "ssh_host",
        "ssh_user",
        "ssh_key",
        "log_command",
        "analysis_frequency",
        "analysis_prompt",
    }


@pytest.mark.django_db
def test_import_is_idempotent():
    run("import_hosts", str(EXAMPLE))
    before = database_state()

    output = run("import_hosts", str(EXAMPLE))

    assert output == "Imported: 0 created, 0 updated, 0 deleted, 3 unchanged.\n"
    assert database_state() == before


@pytest.mark.django_db
def test_dry_run_prints_the_diff_and_changes_nothing(tmp_path):
    make_host("web01", frequency_seconds=300, tags=["web"])
    make_host("web02")
    path = hosts_file(
        tmp_path,
        """
        hosts:
          - {host_id: web01, name: WEB01, frequency_seconds: 600, tags: [web, prod]}
          - {host_id: web02, name: WEB02}
          - {host_id: db01, name: Database}
        """,
    )
    before = database_state()

    output = run("import_hosts", path, "--dry-run")

    assert output.splitlines() == [
        "+ db01 (Database)",
        "~ web01",
        "    frequency_seconds: 300 → 600",
        '    tags: ["web"] → ["web", "prod"]',
        "Dry run: 1 to create, 1 to update, 0 to delete, 1 unchanged. Nothing was changed.",
    ]
    assert database_state() == before


@pytest.mark.django_db
def test_import_updates_and_keeps_the_keys_it_does_not_name(tmp_path):
    make_host("web01", notes="keep me", tags=["web"], grace_seconds=90)
    path = hosts_file(tmp_path, "hosts: [{host_id: web01, name: Renamed, timezone: UTC}]")

    output = run("import_hosts", path)

    assert "Imported: 0 created, 1 updated, 0 deleted, 0 unchanged." in output
    host = Host.objects.get()
    assert (host.name, host.timezone) == ("Renamed", "UTC")
    assert (host.notes, host.tags, host.grace_seconds) == ("keep me", ["web"], 90)


@pytest.mark.django_db
def test_import_pauses_and_resumes_through_the_status_history(tmp_path):
    make_host("web01")
    path = hosts_file(tmp_path, "hosts: [{host_id: web01, name: WEB01, paused: true}]")
    run("import_hosts", path)
    assert Host.objects.get().status == HostStatus.PAUSED

    hosts_file(tmp_path, "hosts: [{host_id: web01, name: WEB01, paused: false}]")
    run("import_hosts", path)
    host = Host.objects.get()
    assert host.status == HostStatus.NEW
    assert [(c.from_status, c.to_status) for c in host.status_changes.order_by("id")] == [
        (HostStatus.NEW, HostStatus.PAUSED),
        (HostStatus.PAUSED, HostStatus.NEW),
    ]


@pytest.mark.django_db
def test_prune_deletes_the_hosts_the_file_does_not_list(tmp_path):
    make_host("web01")
    make_host("old01")
    path = hosts_file(tmp_path, "hosts: [{host_id: web01, name: WEB01}]")

    assert "0 deleted, 1 unchanged" in run("import_hosts", path)
    assert Host.objects.count() == 2

    dry_run = run("import_hosts", path, "--prune", "--dry-run")
    assert "- old01\n" in dry_run
    assert "1 to delete" in dry_run
    assert Host.objects.count() == 2

    assert "1 deleted, 1 unchanged" in run("import_hosts", path, "--prune")
    assert list(Host.objects.values_list("host_id", flat=True)) == ["web01"]


@pytest.mark.django_db
def test_an_invalid_file_reports_every_error_with_its_location_and_changes_nothing(tmp_path):
    make_host("web01")
    path = hosts_file(
        tmp_path,
        """
        hosts:
          - {host_id: web01, name: Web 01, frequency_seconds: 5}
          - {host_id: web02, name: Web 02, schedule_type: custom, cron_expression: "* * *"}
          - {host_id: web03, name: Web 03, timezone: Mars/Olympus}
          - {host_id: Bad_ID, name: Bad}
          - {host_id: web05}
          - {name: No id}
          - {host_id: web07, name: Web 07, colour: red}
          - {host_id: web08, name: Web 08, grace_seconds: true, paused: "yes"}
          - {host_id: web09, name: Web 09, log_analysis_config: {enabled: true, method: ssh}}
          - {host_id: web10, name: Web 10, tags: web}
          - just a string
          - {host_id: ok01, name: Valid}
        """,
    )
    before = database_state()

    message = fails("import_hosts", path)

    expected = [
        "hosts[0] (web01).frequency_seconds: Ensure this value is greater than or equal to 10.",
        "hosts[1] (web02).cron_expression: cron expression must have 5 fields",
        "hosts[2] (web03).timezone: 'Mars/Olympus' is not an IANA time zone",
        "hosts[3] (Bad_ID).host_id: Use 1–64 lowercase letters",
        "hosts[4] (web05).name: This field is required.",
        "hosts[5].host_id: This field is required.",
        "hosts[6] (web07).colour: Unknown key; expected one of host_id, name,",
        "hosts[7] (web08).grace_seconds: Expected a whole number, got true.",
        'hosts[7] (web08).paused: Expected true or false, got "yes".',
        "hosts[8] (web09).log_analysis_config: 'ssh_host' is required for method ssh",
        'hosts[9] (web10).tags: Expected a list of items but got type "str".',
        "hosts[10]: Expected a mapping of host settings.",
    ]
    assert f"{path}: {len(expected)} error(s), nothing was changed:" in message
    for line in expected:
        assert f"\n  {line}" in message
    assert "ok01" not in message
    assert database_state() == before


@pytest.mark.django_db
def test_a_yaml_syntax_error_is_reported_with_its_line_and_column(tmp_path):
    path = hosts_file(tmp_path, "hosts:\n  - host_id: web01\n   name: Web\n")

    message = fails("import_hosts", path)

    assert "line 3, column 4: expected <block end>, but found '<block mapping start>'" in message
    assert not Host.objects.exists()


@pytest.mark.django_db
def test_duplicate_host_ids_are_reported(tmp_path):
    path = hosts_file(
        tmp_path,
        """
        hosts:
          - {host_id: web01, name: One}
          - {host_id: web02, name: Two}
          - {host_id: web01, name: Again}
        """,
    )

    message = fails("import_hosts", path)

    assert "hosts[2] (web01).host_id: Duplicate of hosts[0]." in message
    assert not Host.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Expected a mapping with a 'hosts' list at the top level."),
        ("- host_id: web01\n", "Expected a mapping with a 'hosts' list at the top level."),
        ("hosts:\n", "hosts: Expected a list of hosts (write 'hosts: []' for none)."),
        ("hosts: []\nextra: 1\n", "extra: Unknown top-level key; only 'hosts' is expected."),
    ],
)
def test_a_file_of_the_wrong_shape_is_rejected(text, expected):
    with pytest.raises(ConfigError) as error:
        plan_import(text)

    assert error.value.errors == [expected]


@pytest.mark.django_db
def test_import_reads_standard_input(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"hosts: [{host_id: web01, name: Web}]\n"))
    monkeypatch.setattr(sys, "stdin", stdin)

    output = run("import_hosts", "-")

    assert "1 created" in output
    assert Host.objects.get().name == "Web"


@pytest.mark.django_db
def test_a_missing_file_is_reported(tmp_path):
    message = fails("import_hosts", str(tmp_path / "missing.yaml"))

    assert message.startswith(f"Cannot read {tmp_path / 'missing.yaml'}:")


@pytest.mark.django_db
def test_plan_and_apply_expose_the_changes_and_the_new_tokens():
    make_host("web01")
    make_host("old01")

    plan = plan_import(
        "hosts: [{host_id: web01, name: Renamed, paused: true}, {host_id: db01, name: DB}]",
        prune=True,
    )

    assert [values["host_id"] for values in plan.creates] == ["db01"]
    assert [(c.field, c.old, c.new) for c in plan.updates["web01"]] == [
        ("name", "WEB01", "Renamed"),
        ("paused", False, True),
    ]
    assert (plan.unchanged, plan.deletes) == ([], ["old01"])
    tokens = apply_import(plan)
    assert list(tokens) == ["db01"]
    assert token_matches(tokens["db01"], Host.objects.get(host_id="db01").token_hash)
    assert Host.objects.get(host_id="web01").status == HostStatus.PAUSED
    assert not Host.objects.filter(host_id="old01").exists()


# export_hosts


@pytest.mark.django_db
def test_export_then_import_changes_nothing(tmp_path):
    run("import_hosts", str(EXAMPLE))
    Host.objects.get(host_id="office-pc01").pause()
    make_host("odd01", notes="two\nlines: and ünïcode", tags=["a b", "c"])
    before = database_state()

    exported = run("export_hosts")

    data = yaml.safe_load(exported)
    assert [h["host_id"] for h in data["hosts"]] == ["backup01", "fw01", "odd01", "office-pc01"]
    assert not any("token" in key or key == "status" for h in data["hosts"] for key in h)
    assert data["hosts"][3]["paused"] is True
    plan = plan_import(exported)
    assert (plan.creates, plan.updates, len(plan.unchanged)) == ([], {}, 4)
    assert database_state() == before


@pytest.mark.django_db
def test_export_writes_the_output_file(tmp_path):
    make_host("web01")
    path = tmp_path / "hosts.yaml"

    output = run("export_hosts", "--output", str(path))

    assert output == f"Exported 1 host(s) to {path}.\n"
    assert path.read_text() == export_hosts(Host.objects.all())


# manage.py as a real process


def test_import_hosts_runs_as_a_process(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "netmon.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "NETMON_DATA_DIR": str(tmp_path / "data"),
        "NETMON_BASE_URL": BASE_URL,
    }

    def manage(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    migrate = manage("migrate", "--verbosity", "0")
    assert migrate.returncode == 0, migrate.stderr

    first = manage("import_hosts", str(EXAMPLE))
    assert first.returncode == 0, first.stderr
    assert "Imported: 3 created, 0 updated, 0 deleted, 0 unchanged." in first.stdout
    assert set(new_tokens(first.stdout)) == {"fw01", "office-pc01", "backup01"}
    assert f"curl -fsSO {BASE_URL}/scripts/client-heartbeat.sh" in first.stdout

    again = manage("import_hosts", "--dry-run", str(EXAMPLE))
    assert again.returncode == 0, again.stderr
    assert again.stdout == (
        "Dry run: 0 to create, 0 to update, 0 to delete, 3 unchanged. Nothing was changed.\n"
    )

    invalid = manage(
        "import_hosts", "-", stdin="hosts: [{host_id: fw01, name: FW, frequency_seconds: 1}]"
    )
    assert invalid.returncode == 1
    assert "-: 1 error(s), nothing was changed:" in invalid.stderr
    assert (
        "hosts[0] (fw01).frequency_seconds: Ensure this value is greater than or equal to 10."
        in invalid.stderr
    )

    exported = manage("export_hosts")
    assert exported.returncode == 0, exported.stderr
    fw01 = yaml.safe_load(exported.stdout)["hosts"][1]
    assert (fw01["host_id"], fw01["frequency_seconds"]) == ("fw01", 60)
