"""``scripts/setup.sh`` run for real, in a copy of the project: it writes a checked ``.env``
(from the environment, or from answers typed on a terminal), migrates and creates the admin,
and a second run keeps both.

The copy gets a virtualenv of its own that shares the packages of the one running the
tests (its ``lib`` is a link) and whose ``pip`` does nothing: ``bootstrap.sh`` runs as it
would, in seconds, and can never install into the shared virtualenv.
"""

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ROOT, django_json, process_database, process_env

pytestmark = pytest.mark.process

LEFT_OUT = (".venv", ".git", "data", ".env", "staticfiles", "test-artifacts", "__pycache__")
LEFT_OUT += (".pytest_cache", ".ruff_cache", ".hypothesis")


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the project whose .venv reuses the test run's packages without pip."""
    shared = Path(sys.prefix)
    if not (shared / "pyvenv.cfg").is_file():
        pytest.skip("the tests do not run in a virtualenv whose packages a copy could share")
    copy = tmp_path_factory.mktemp("setup") / "netmon"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*LEFT_OUT), symlinks=True)
    venv = copy / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(shared / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / "lib").symlink_to(shared / "lib")
    (venv / "bin" / "python").symlink_to(Path(sys.executable).resolve())
    (venv / "bin" / "pip").write_text("#!/bin/sh\nexit 0\n")
    (venv / "bin" / "pip").chmod(0o755)
    return copy


@pytest.fixture
def setup_env(tmp_path) -> Iterator[dict[str, str]]:
    """A clean environment for one set-up: its own env file, data directory and database."""
    with process_database(tmp_path) as database_url:
        env = process_env(tmp_path / "data", database_url)
        env["NETMON_ENV_FILE"] = str(tmp_path / "netmon.env")  # setup.sh writes it
        yield env


def setup(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(project / "scripts" / "setup.sh"), *args],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def settings_of(env_file: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines())
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2 and not pair[0].startswith("#")}


def admin_accounts(env: dict) -> list[list[str]]:
    code = (
        "from django.contrib.auth.models import User\n"
        "print(json.dumps(list(User.objects.filter(is_superuser=True)"
        ".values_list('username', 'password'))))"
    )
    return django_json(code, env)


def test_from_the_environment_then_again_keeping_env_and_admin(project, setup_env):
    webhook = "https://discord.com/api/webhooks/1234/abcdef"
    env = setup_env | {"NETMON_BASE_URL": "https://mon.example.org", "DISCORD_WEBHOOK_URL": webhook}
    first = setup(project, env)
    assert first.returncode == 0, first.stdout + first.stderr
    env_file = Path(env["NETMON_ENV_FILE"])
    values = settings_of(env_file)
    assert values["NETMON_BASE_URL"] == "https://mon.example.org"
    assert values["DISCORD_WEBHOOK_URL"] == webhook
    assert values["LLM_API_URL"] == "" and values["BUSINESS_HOURS_START"] == "08:00"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert "Created admin account “admin”." in first.stdout
    assert re.search(r"^Password \(shown once.*\): \S+$", first.stdout, re.MULTILINE)
    assert "./scripts/start.sh" in first.stdout
    admins = admin_accounts(env)
    assert [name for name, _ in admins] == ["admin"]

    written = env_file.read_bytes()
    again = setup(project, setup_env | {"NETMON_BASE_URL": "https://other.example.org"})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "exists: kept as it is" in again.stdout
    assert "An admin account exists already" in again.stdout
    assert "Password" not in again.stdout
    assert env_file.read_bytes() == written
    assert admin_accounts(env) == admins  # same account, same password


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("NETMON_BASE_URL", "monitor:8080", "must be a URL starting with http:// or https://"),
        ("DISCORD_WEBHOOK_URL", "ftp://discord.example/hook", "must be a URL starting with"),
        ("LLM_API_KEY", "sk secret", "must not contain spaces"),
    ],
)
def test_a_bad_value_is_refused_before_anything_is_written(
    project, setup_env, name, value, message
):
    env = setup_env | {name: value, "LLM_API_URL": "https://llm.example.org/v1"}
    result = setup(project, env, "--non-interactive")
    assert result.returncode == 1
    assert f"Invalid {name}, " in result.stderr and message in result.stderr
    assert value not in result.stdout + result.stderr  # it may be a secret
    assert not Path(env["NETMON_ENV_FILE"]).exists()
    assert not Path(env["NETMON_DATA_DIR"]).exists()  # no migration either


def test_an_unknown_argument_is_a_usage_error(project, setup_env):
    result = setup(project, setup_env, "--force")
    assert result.returncode == 2
    assert "unknown argument: --force" in result.stderr


class Terminal:
    """setup.sh on a pseudo-terminal, as a person at a shell runs it."""

    def __init__(self, project: Path, env: dict) -> None:
        self.fd, child = pty.openpty()
        self.process = subprocess.Popen(
            [str(project / "scripts" / "setup.sh")],
            cwd=project,
            env=env,
            stdin=child,
            stdout=child,
            stderr=child,
            start_new_session=True,
        )
        os.close(child)
        self.output = ""
        self.seen = 0  # the end of what the last expect() matched

    def expect(self, text: str, timeout: float = 60) -> None:
        """Read the terminal until ``text`` has appeared after what was expected before."""
        deadline = time.monotonic() + timeout
        while (found := self.output.find(text, self.seen)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                raise AssertionError(f"no {text!r} on the terminal; it shows:\n{self.output}")
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:  # the script exited and closed the terminal
                chunk = b""
            if not chunk:
                raise AssertionError(f"the terminal closed before {text!r}:\n{self.output}")
            self.output += chunk.decode(errors="replace")
        self.seen = found + len(text)

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\r")

    def finish(self) -> int:
        status = self.process.wait(timeout=300)
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.output += chunk.decode(errors="replace")
        os.close(self.fd)
        return status


def test_answers_typed_on_a_terminal(project, setup_env):
    terminal = Terminal(project, setup_env)
    terminal.expect("Public address of this server")
    terminal.expect("[http://127.0.0.1:8080]: ")
    terminal.type("mon.example.org")  # no scheme: asked again
    terminal.expect("NETMON_BASE_URL must be a URL starting with http:// or https://; try again.")
    terminal.expect("[http://127.0.0.1:8080]: ")
    terminal.type("https://mon.example.org")
    terminal.expect("Discord webhook")
    terminal.type("")  # Enter: none
    terminal.expect("healthchecks.io")
    terminal.type("https://hc-ping.com/0f3a")
    terminal.expect("LLM endpoint")
    terminal.type("https://llm.example.org/v1")
    terminal.expect("API key of that LLM endpoint (Enter: none): ")
    terminal.type("sk-typed-not-shown")
    terminal.expect("netmon is set up.")
    assert terminal.finish() == 0, terminal.output

    values = settings_of(Path(setup_env["NETMON_ENV_FILE"]))
    assert values["NETMON_BASE_URL"] == "https://mon.example.org"
    assert values["DISCORD_WEBHOOK_URL"] == ""
    assert values["HEALTHCHECKS_URL"] == "https://hc-ping.com/0f3a"
    assert (values["LLM_API_URL"], values["LLM_API_KEY"]) == (
        "https://llm.example.org/v1",
        "sk-typed-not-shown",
    )
    assert "sk-typed-not-shown" not in terminal.output  # read without echo
    assert "Created admin account" in terminal.output


def test_without_an_llm_endpoint_no_key_is_asked(project, setup_env):
    terminal = Terminal(project, setup_env)
    for question in ("Public address", "Discord webhook", "healthchecks.io", "LLM endpoint"):
        terminal.expect(question)
        terminal.type("")
    terminal.expect("netmon is set up.")
    assert terminal.finish() == 0, terminal.output
    assert "API key of that LLM endpoint" not in terminal.output
    values = settings_of(Path(setup_env["NETMON_ENV_FILE"]))
    assert values["NETMON_BASE_URL"] == "http://127.0.0.1:8080"  # the default
