"""manage.py import_healthchecks and import_uptime_kuma, with JSON in the shape those
products give it (tests/fixtures/import/, written from their documentation), and the
migrated clients' URLs working afterwards."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from heartbeats.models import Heartbeat
from hosts.choices import HostStatus, ScheduleType
from hosts.models import Host

pytestmark = pytest.mark.django_db
FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "import"


def run(command: str, path, *args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(command, str(path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_healthchecks_checks_become_hosts_that_keep_their_uuid(client):
    out, err = run("import_healthchecks", FIXTURES / "healthchecks_v3_checks.json")

    assert "Imported 2 host(s) from healthchecks; 2 skipped." in out
    assert "skipped check 3 ('Weekly Report'): schedule: only 5-field cron" in err
    assert "skipped check 4 ('Read-only Export'): no UUID" in err
    fs = Host.objects.get(host_id="filesystem-backup")
    assert (fs.name, fs.frequency_seconds, fs.grace_seconds, fs.tags) == (
        "Filesystem Backup",
        3600,
        600,
        ["backup", "fs"],
    )
    assert fs.notes == "Runs incremental backup every hour"
    db = Host.objects.get(host_id="database-backup")
    assert (db.schedule_type, db.cron_expression, db.timezone, db.grace_seconds) == (
        ScheduleType.CUSTOM,
        "15 5 * * *",
        "Europe/Riga",
        1200,
    )
    assert client.get("/ping/31365bce-8da9-4729-8ff3-aaa71d56b712").content == b"OK"
    assert client.get("/ping/803f680d-e89b-492b-82ef-2be7b774a92d/fail").content == b"OK"
    assert Host.objects.get(host_id="database-backup").status == HostStatus.DOWN


def test_a_single_check_and_a_paused_one(tmp_path):
    out, _ = run("import_healthchecks", FIXTURES / "healthchecks_v3_check.json")
    assert "Imported 1 host(s)" in out
    check = json.loads((FIXTURES / "healthchecks_v3_checks.json").read_text())["checks"][0]
    check |= {"status": "paused", "slug": "paused-one"}
    path = tmp_path / "one.json"
    path.write_text(json.dumps(check))
    run("import_healthchecks", path)
    assert Host.objects.get(host_id="paused-one").status == HostStatus.PAUSED


def test_dry_run_prints_the_plan_and_changes_nothing():
    out, _ = run("import_healthchecks", FIXTURES / "healthchecks_v3_checks.json", "--dry-run")
    assert (
        "filesystem-backup: 'Filesystem Backup', every 3600 s, grace 600 s, tags backup fs" in out
    )
    assert "database-backup: 'Database Backup', cron '15 5 * * *' (Europe/Riga)" in out
    assert "Dry run: 2 host(s) to create, 2 skipped. Nothing was changed." in out
    assert not Host.objects.exists()


def test_a_second_import_skips_what_exists_and_keeps_the_first():
    run("import_healthchecks", FIXTURES / "healthchecks_v3_checks.json")
    out, err = run("import_healthchecks", FIXTURES / "healthchecks_v3_checks.json")
    assert "Imported 0 host(s)" in out
    assert "host_id 'filesystem-backup' exists already" in err
    assert Host.objects.count() == 2


def test_the_same_uuid_twice_in_one_file_is_skipped_once(tmp_path):
    checks = json.loads((FIXTURES / "healthchecks_v3_checks.json").read_text())["checks"][:1]
    path = tmp_path / "twice.json"
    path.write_text(json.dumps({"checks": [checks[0], {**checks[0], "slug": "other"}]}))
    _, err = run("import_healthchecks", path)
    assert "its token is already another host's" in err
    assert Host.objects.count() == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [("not json", "cannot read it as JSON"), ('{"hosts": []}', "Expected healthchecks")],
)
def test_a_file_of_the_wrong_shape_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CommandError, match=message):
        run("import_healthchecks", path)
    assert not Host.objects.exists()


def test_invalid_values_are_reported_by_field(tmp_path):
    check = json.loads((FIXTURES / "healthchecks_v3_checks.json").read_text())["checks"][0]
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"checks": [{**check, "grace": 31536000}, {**check, "name": "two\nlines"}]})
    )
    out, err = run("import_healthchecks", path)
    assert "grace_seconds:" in err and "name:" in err
    assert "Imported 0 host(s)" in out


def test_uptime_kuma_push_monitors_become_hosts_that_keep_their_push_token(client):
    out, err = run("import_uptime_kuma", FIXTURES / "uptime_kuma_backup.json")

    assert "Imported 2 host(s) from Uptime Kuma; 2 skipped." in out
    assert "monitor 3 ('Website'): type 'http'" in err
    assert "monitor 4 ('Too fast'): frequency_seconds:" in err
    nas = Host.objects.get(host_id="nas-backup")
    assert (nas.name, nas.frequency_seconds, nas.grace_seconds, nas.tags, nas.notes) == (
        "NAS backup",
        86400,
        1200,
        ["backup", "site:home"],
        "nightly rsync",
    )
    assert Host.objects.get(host_id="router").status == HostStatus.PAUSED

    response = client.get(
        "/api/push/Xq3pLm9Rt2AbCdEfGhIjKlMnOpQrStUv", {"status": "up", "msg": "OK", "ping": ""}
    )
    assert response.json() == {"ok": True}
    assert Heartbeat.objects.get(host=nas).body == "OK"
    assert Host.objects.get(pk=nas.pk).status == HostStatus.UP


def test_uptime_kuma_wrong_shape(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("[]")
    with pytest.raises(CommandError, match="Uptime Kuma backup"):
        run("import_uptime_kuma", path)
