"""Every ping URL form sent by curl, GNU wget and busybox wget to a live server on
127.0.0.1; the client lines of healthchecks' and Uptime Kuma's own documentation after an
import; and ``client-heartbeat.sh run`` (the wrapper mode) with a token and a ping URL."""

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from django.conf import settings
from pytest_django.live_server_helper import LiveServer

from heartbeats.models import Heartbeat, PingKey, Run
from hosts.choices import HostStatus
from hosts.models import Host, StatusChange

pytestmark = [
    pytest.mark.process,
    pytest.mark.any_database,
    pytest.mark.django_db(transaction=True),
]
SCRIPT = settings.BASE_DIR / "scripts" / "client-heartbeat.sh"
TOOLS = ["cat", "date", "dd", "grep", "head", "mktemp", "mv", "rm", "sed", "sleep", "tail"]
TOOLS += ["tee", "timeout", "tr", "wc", "false", "echo", "sh"]
UUID = "803f680d-e89b-492b-82ef-2be7b774a92d"


@pytest.fixture(scope="module")
def live_server(django_db_setup) -> Iterator[LiveServer]:
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()


def fetch(client: str, url: str, body: str | None = None) -> str:
    """What ``client`` prints for a GET (or a POST of ``body``) of ``url``."""
    binary = shutil.which("busybox" if client == "busybox" else client)
    if not binary:
        pytest.skip(f"{client} is not installed")
    if client == "curl":
        command = [binary, "-fsS", "-m", "10", url]
        command += ["--data-binary", body] if body is not None else []
    else:
        command = [binary, *(["wget"] if client == "busybox" else []), "-q", "-O", "-", url]
        command += ["--post-data", body] if body is not None else []
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, env=env)
    assert result.returncode == 0, (command, result.stderr)
    return result.stdout


@pytest.fixture
def host_with_secrets(make_host):
    host, _ = make_host("backup", frequency_seconds=3600, grace_seconds=600)
    ping_token = host.rotate_ping_token()
    host.set_compat_token(UUID)
    host.save()
    ping_key = PingKey(name="scripts")
    key = ping_key.issue()
    ping_key.save()
    return host, ping_token, key


def kinds(host: Host) -> list[tuple[str, int | None, str]]:
    rows = Heartbeat.objects.filter(host=host).order_by("id")
    return list(rows.values_list("kind", "exit_status", "run_id"))


@pytest.mark.parametrize("client", ["curl", "wget", "busybox"])
def test_every_url_form(live_server, host_with_secrets, client):
    host, token, key = host_with_secrets
    base = live_server.url

    forms = [
        (f"/ping/{token}", None, ("success", None, "")),
        (f"/ping/{token}/start?rid=r1", None, ("start", None, "r1")),
        (f"/ping/{token}/log", "halfway", ("log", None, "")),
        (f"/ping/{token}/0?rid=r1", "done", ("success", 0, "r1")),
        (f"/ping/{UUID}", None, ("success", None, "")),
        (f"/ping/{UUID}/start", None, ("start", None, "")),
        (f"/ping/{key}/backup", None, ("success", None, "")),
        (f"/ping/{key}/backup/start", None, ("start", None, "")),
        (f"/ping/{key}/backup/0", None, ("success", 0, "")),
        (f"/ping/{token}/fail", "boom", ("fail", None, "")),
        (f"/ping/{token}/3", None, ("fail", 3, "")),
    ]
    for path, body, _ in forms:
        assert fetch(client, base + path, body) == "OK", path
    assert fetch(client, f"{base}/api/push/{UUID}?status=up&msg=OK&ping=") == '{"ok": true}'

    assert kinds(host) == [expected for *_, expected in forms] + [("success", None, "")]
    assert Run.objects.get(host=host, run_id="r1").duration_seconds is not None
    assert Heartbeat.objects.get(host=host, kind="log").body == "halfway"


def test_head_and_json(live_server, host_with_secrets):
    _, token, _ = host_with_secrets
    head = subprocess.run(
        ["curl", "-fsS", "-I", f"{live_server.url}/ping/{token}"], capture_output=True, text=True
    )
    assert head.returncode == 0 and head.stdout.startswith("HTTP/1.1 200")
    answer = subprocess.run(
        ["curl", "-fsS", "-H", "Accept: application/json", f"{live_server.url}/ping/{token}"],
        capture_output=True,
        text=True,
    )
    assert '"ok": true' in answer.stdout


def test_the_documented_healthchecks_lines_work_after_an_import(live_server, tmp_path):
    from django.core.management import call_command

    call_command(
        "import_healthchecks",
        str(settings.BASE_DIR / "tests/fixtures/import/healthchecks_v3_check.json"),
    )
    host = Host.objects.get(host_id="database-backup")
    url = f"{live_server.url}/ping/{UUID}"
    env = {"PATH": os.environ["PATH"], "HOME": "/nonexistent", "URL": url}

    def sh(line: str) -> subprocess.CompletedProcess:
        return subprocess.run(["sh", "-c", line], env=env, capture_output=True, text=True)

    assert sh('curl -fsS -m 10 --retry 5 -o /dev/null "$URL"').returncode == 0
    assert Host.objects.get(pk=host.pk).status == HostStatus.UP
    assert sh('curl -fsS -m 10 --retry 5 -o /dev/null "$URL/start"').returncode == 0
    assert sh('false; curl -fsS -m 10 --retry 5 -o /dev/null "$URL/$?"').returncode == 0
    assert Host.objects.get(pk=host.pk).status == HostStatus.DOWN
    assert StatusChange.objects.filter(host=host).latest("id").reason == "exit status 1"
    assert sh('true; curl -fsS -m 10 --retry 5 "$URL/$?"').stdout == "OK"
    assert Host.objects.get(pk=host.pk).status == HostStatus.UP
    assert sh('curl -fsS -m 10 -o /dev/null "$URL-nope"').returncode == 22  # 404: -f fails


def test_the_documented_uptime_kuma_line_works_after_an_import(live_server):
    from django.core.management import call_command

    call_command(
        "import_uptime_kuma",
        str(settings.BASE_DIR / "tests/fixtures/import/uptime_kuma_backup.json"),
    )
    push = f"{live_server.url}/api/push/Xq3pLm9Rt2AbCdEfGhIjKlMnOpQrStUv?status=up&msg=OK&ping="
    result = subprocess.run(["curl", "-fsS", push], capture_output=True, text=True)
    assert result.stdout == '{"ok": true}'
    assert Host.objects.get(host_id="nas-backup").status == HostStatus.UP


# client-heartbeat.sh run -------------------------------------------------------------------


def wrapper(*args: str, path: str | None = None, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": path or os.environ["PATH"], "HOME": "/nonexistent", "LC_ALL": "C"}
    return subprocess.run(
        ["sh", str(SCRIPT), *args], env=base | env, capture_output=True, text=True, timeout=60
    )


def only_wget(tmp_path, wget: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "wget").symlink_to(shutil.which(wget))
    return str(bin_dir)


def test_run_reports_start_exit_status_output_and_duration(live_server, make_host):
    host, token = make_host("job01")
    result = wrapper(
        "run", "job01", token, live_server.url, "--", "sh", "-c", "echo copied 3 files; exit 0"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "copied 3 files\n"  # the command's output, as usual
    assert result.stderr.startswith("client-heartbeat.sh: reported exit status 0 after ")
    assert result.stderr.count("\n") == 1
    [(start, _, rid), (end, code, rid2)] = kinds(host)
    assert (start, end, code, rid == rid2 != "") == ("start", "success", 0, True)
    assert Heartbeat.objects.filter(host=host).latest("id").body == "copied 3 files\n"
    assert Run.objects.get(host=host).duration_seconds is not None


@pytest.mark.parametrize("client", ["curl", "wget", "busybox"])
def test_run_with_a_ping_url_and_a_failing_command(live_server, make_host, tmp_path, client):
    host, _ = make_host("job02")
    ping = f"{live_server.url}/ping/{host.rotate_ping_token()}"
    path = None if client == "curl" else only_wget(tmp_path, client)
    command = "for n in 1 2 3; do echo line $n; done; echo failed >&2; exit 4"

    result = wrapper("-q", "run", "-", "-", ping, "--", "sh", "-c", command, path=path)

    assert result.returncode == 4
    assert result.stderr == ""  # -q
    host = Host.objects.get(pk=host.pk)
    assert host.status == HostStatus.DOWN
    change = StatusChange.objects.filter(host=host).latest("id")
    assert change.reason == "exit status 4"
    assert change.detail.splitlines()[-1] == "failed"
    assert Run.objects.get(host=host).exit_status == 4


def test_run_usage_and_an_unknown_ping_url(live_server, db):
    assert wrapper("run", "job01", "tok", "http://127.0.0.1:9").returncode == 2
    result = wrapper("run", "-", "-", f"{live_server.url}/ping/nope", "--", "true")
    assert result.returncode == 3
    assert "rejected: HTTP 404" in result.stderr
