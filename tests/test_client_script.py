"""End-to-end tests of scripts/client-heartbeat.sh: the real script, run by sh, dash or
with only wget on its PATH, against a live server on 127.0.0.1."""

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.conf import settings
from pytest_django.live_server_helper import LiveServer

from heartbeats.models import Heartbeat

SCRIPT = settings.BASE_DIR / "scripts" / "client-heartbeat.sh"
# What the script runs besides shell builtins; the wget test's PATH holds only these.
TOOLS = ["cat", "dd", "grep", "head", "mktemp", "mv", "rm", "sed", "sleep", "tail", "timeout"]
TOOLS += ["tr", "wc"]
WRONG_TOKEN = "not-the-token_0123456789abcdefghijklmnopqrstu"

pytestmark = [pytest.mark.process, pytest.mark.any_database]
live_db = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def live_server(django_db_setup) -> Iterator[LiveServer]:
    """pytest-django's live server, bound to 127.0.0.1 rather than to "localhost"."""
    server = LiveServer("127.0.0.1")
    yield server
    server.stop()


def run(
    *args: str,
    shell: str = "sh",
    path: str | None = None,
    stdin: str | None = None,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run the script in a clean environment: no proxy variables, no ~/.curlrc."""
    base = {"PATH": path or os.environ["PATH"], "HOME": "/nonexistent", "LC_ALL": "C"}
    return subprocess.run(
        [shutil.which(shell) or shell, str(SCRIPT), *args],
        env=base | env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
    )


def only_wget_path(tmp_path: Path, wget: str) -> str:
    """A PATH directory with the script's tools and `wget` (GNU or busybox), but no curl."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "wget").symlink_to(wget)
    return str(bin_dir)


@live_db
@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_success_records_message_and_user_agent(live_server, make_host, shell):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    host, token = make_host("web01")

    result = run("web01", token, live_server.url + "/", "backup ok: 12 GB", shell=shell)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    heartbeat = Heartbeat.objects.get(host=host)
    assert heartbeat.body == "backup ok: 12 GB"
    assert heartbeat.user_agent == "netmon-client-heartbeat/1.0 (curl)"
    assert heartbeat.source_ip == "127.0.0.1"


@live_db
def test_verbose_prints_the_answer(live_server, make_host):
    _, token = make_host("web02")

    result = run("-v", "web02", token, live_server.url)

    assert result.returncode == 0, result.stderr
    assert '"ok": true' in result.stdout
    assert "attempt 1/3" in result.stderr


@live_db
@pytest.mark.parametrize("host_id", ["web01", "nosuchhost"])
def test_wrong_token_or_unknown_host_is_rejected(live_server, make_host, host_id):
    make_host("web01")

    result = run(host_id, WRONG_TOKEN, live_server.url, "hello")

    assert result.returncode == 3
    assert result.stderr == (
        "client-heartbeat.sh: rejected: unknown host or wrong token (HTTP 401)\n"
    )
    assert not Heartbeat.objects.exists()


@live_db
def test_token_from_environment(live_server, make_host):
    host, token = make_host("web01")

    result = run("web01", "-", live_server.url, "via env", NETMON_TOKEN=token)

    assert result.returncode == 0, result.stderr
    assert Heartbeat.objects.get(host=host).body == "via env"


@live_db
def test_token_from_file(live_server, make_host, tmp_path):
    host, token = make_host("web01")
    token_file = tmp_path / "token"
    token_file.write_text(token + "\r\n")

    result = run("web01", "-", live_server.url, NETMON_TOKEN_FILE=str(token_file))

    assert result.returncode == 0, result.stderr
    assert Heartbeat.objects.get(host=host).body == ""


def test_dash_token_without_environment_is_a_usage_error():
    result = run("web01", "-", "http://127.0.0.1:9")

    assert result.returncode == 2
    assert "neither NETMON_TOKEN nor NETMON_TOKEN_FILE" in result.stderr


@live_db
def test_body_from_stdin(live_server, make_host):
    host, token = make_host("web01")
    report = "Filesystem  Size  Used Avail Use% Mounted on\n/dev/sda1    20G  7.1G   12G  38% /\n"

    result = run("web01", token, live_server.url, "-", stdin=report)

    assert result.returncode == 0, result.stderr
    assert Heartbeat.objects.get(host=host).body == report


@live_db
def test_long_body_is_cut_to_the_server_limit(live_server, make_host):
    host, token = make_host("web01")

    result = run("web01", token, live_server.url, "-", stdin="x" * 50_000)

    assert result.returncode == 0, result.stderr
    assert len(Heartbeat.objects.get(host=host).body) == settings.HEARTBEAT_MAX_BODY_BYTES


@live_db
@pytest.mark.parametrize("wget", ["wget", "busybox"])
def test_wget_when_curl_is_missing(live_server, make_host, tmp_path, wget):
    wget_binary = shutil.which(wget)
    if not wget_binary:
        pytest.skip(f"{wget} is not installed (apt-get install -y {wget})")
    host, token = make_host("web01")
    path = only_wget_path(tmp_path, wget_binary)

    ok = run(
        "web01", "-", live_server.url + "/", "-", path=path, stdin="load 0.1\n", NETMON_TOKEN=token
    )
    rejected = run("web01", WRONG_TOKEN, live_server.url, "x", path=path)

    assert ok.returncode == 0, ok.stderr
    heartbeat = Heartbeat.objects.get(host=host)
    assert heartbeat.user_agent == "netmon-client-heartbeat/1.0 (wget)"
    # busybox gets the body as an argument, which drops trailing newlines
    assert heartbeat.body == ("load 0.1\n" if wget == "wget" else "load 0.1")
    assert rejected.returncode == 3
    assert "rejected: unknown host or wrong token" in rejected.stderr


def test_server_down_fails_after_the_retries():
    with socket.socket() as bound_not_listening:  # connections to it are refused
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        started = time.monotonic()

        result = run(
            "web01", WRONG_TOKEN, f"http://127.0.0.1:{port}", NETMON_RETRIES="2", NETMON_TIMEOUT="2"
        )

    assert result.returncode == 1
    assert result.stderr.startswith(
        f"client-heartbeat.sh: failed: no answer from http://127.0.0.1:{port}"
    )
    assert result.stderr.endswith(", after 2 attempts\n")
    assert result.stderr.count("\n") == 1
    assert time.monotonic() - started < 5  # one 1 s backoff sleep


@pytest.mark.parametrize("wget", [None, "wget", "busybox"])
def test_server_that_never_answers_times_out(tmp_path, wget):
    if wget and not shutil.which(wget):
        pytest.skip(f"{wget} is not installed (apt-get install -y {wget})")
    path = only_wget_path(tmp_path, shutil.which(wget)) if wget else None
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        started = time.monotonic()

        result = run(
            "web01",
            WRONG_TOKEN,
            f"http://127.0.0.1:{silent.getsockname()[1]}",
            path=path,
            NETMON_RETRIES="1",
            NETMON_TIMEOUT="1",
        )

    assert result.returncode == 1
    assert result.stderr.startswith("client-heartbeat.sh: failed: no answer from")
    assert time.monotonic() - started < 4


class FakeServer(ThreadingHTTPServer):
    """Answers POSTs with the given statuses in turn and notes what it received."""

    def __init__(self, statuses: list[int]) -> None:
        super().__init__(("127.0.0.1", 0), FakeHandler)
        self.statuses = statuses
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.command_lines: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.path, dict(self.headers)))
        self.server.command_lines.extend(command_lines())  # the client is still running
        status = self.server.statuses[min(len(self.server.requests), len(self.server.statuses)) - 1]
        body = b'{"ok": true}' if status == 200 else b'{"error": "no"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def command_lines() -> list[str]:
    lines = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            lines.append(cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            continue
    return lines


@pytest.fixture
def fake_server() -> Iterator[Callable[[list[int]], FakeServer]]:
    servers: list[FakeServer] = []

    def start(statuses: list[int]) -> FakeServer:
        server = FakeServer(statuses)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("statuses", "retries", "exit_code", "attempts", "message"),
    [
        ([503, 200], "3", 0, 2, ""),
        ([429, 502], "2", 1, 2, "failed: server error (HTTP 502), after 2 attempts"),
        ([401], "3", 3, 1, "rejected: unknown host or wrong token (HTTP 401)"),
        ([413], "3", 3, 1, "rejected: message too large for the server (HTTP 413)"),
        ([404], "3", 3, 1, "rejected: HTTP 404 from "),
    ],
)
def test_retries_only_server_errors(fake_server, statuses, retries, exit_code, attempts, message):
    server = fake_server(statuses)

    result = run("web01", "tok-en", server.url, NETMON_RETRIES=retries)

    assert result.returncode == exit_code
    assert len(server.requests) == attempts
    assert message in result.stderr
    assert result.stderr.count("\n") == (0 if exit_code == 0 else 1)


@pytest.mark.parametrize("client", ["curl", "wget"])
def test_token_stays_out_of_the_process_list(fake_server, tmp_path, client):
    if not shutil.which(client):
        pytest.skip(f"{client} is not installed (apt-get install -y {client})")
    token = "s3cret-Token_abcdefghijklmnopqrstuvwxyz012345"
    server = fake_server([200])
    path = (
        os.environ["PATH"] if client == "curl" else only_wget_path(tmp_path, shutil.which("wget"))
    )

    result = run("web01", "-", server.url, "hi", path=path, NETMON_TOKEN=token)

    assert result.returncode == 0, result.stderr
    [(request_path, headers)] = server.requests
    assert request_path == "/api/v1/heartbeat/web01"
    assert headers["Authorization"] == f"Bearer {token}"
    assert any(client in line for line in server.command_lines)  # the snapshot saw the client
    assert not [line for line in server.command_lines if token in line]


def test_usage_errors():
    assert run("--help").stdout.startswith("client-heartbeat.sh - send one heartbeat")
    assert run("web01", "tok").returncode == 2
    assert run("Web 01", "tok", "http://127.0.0.1:9").returncode == 2
    assert run("web01", "tok", "127.0.0.1:9").returncode == 2
    assert run("web01", "tok en", "http://127.0.0.1:9").returncode == 2


def test_script_is_served_as_is(client):
    # The Django test client, not live_server: the live server's media handler would serve
    # the file straight from the working directory (MEDIA_URL is unset) and bypass the view.
    response = client.get("/scripts/client-heartbeat.sh")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/x-shellscript; charset=utf-8"
    assert b"".join(response.streaming_content) == SCRIPT.read_bytes()


def test_script_is_executable_posix_sh():
    assert os.access(SCRIPT, os.X_OK)
    for shell in ("sh", "dash"):
        if shutil.which(shell):
            subprocess.run([shell, "-n", str(SCRIPT)], check=True)
