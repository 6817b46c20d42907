"""Shared pieces of the connectivity tests: local targets only, and a guard that makes sure.

Test modules import the ``*_fixture`` functions; the fixtures are named without the suffix.

Targets are real servers on 127.0.0.1 (answering, failing, hanging) and closed ports.
Names are resolved by a fake resolver; the guard turns any other name lookup, and any
connection to an address other than 127.0.0.1, into an error: no test can ever reach out
(the default targets included).
"""

import socket
import threading
from datetime import datetime, timedelta

import pytest
from fakes import RecordingServer, Reply

from connectivity import probes

T0 = datetime.fromisoformat("2026-03-02T14:02:00+00:00")
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connecting is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True, name="no_public_dns")
def no_public_dns_fixture(monkeypatch):
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in LOCAL_NAMES:
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve no public names ({name})")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    real_connect = socket.socket.connect

    def connect(sock, address):
        if address[0] not in LOCAL_NAMES:
            raise ConnectionRefusedError(f"tests connect to 127.0.0.1 only ({address[0]})")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(name="fake_dns")
def fake_dns_fixture(monkeypatch):
    """Names the probes may resolve: ``fake_dns["svc.test"] = "127.0.0.1"``."""
    table: dict[str, str] = {}
    hang = threading.Event()

    def resolve(host, port):
        if table.get(host) == "hang":
            hang.wait(30)
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, (table[host], port))]

    monkeypatch.setattr(probes, "resolve", resolve)
    yield table
    hang.set()


@pytest.fixture(name="link_settings")
def link_settings_fixture(settings):
    settings.CONNECTIVITY_ENABLED = True
    settings.CONNECTIVITY_TIMEOUT_SECONDS = 1.0
    settings.CONNECTIVITY_DOWN_PERCENT = 50
    settings.CONNECTIVITY_FAILURES_TO_OPEN = 2
    settings.CONNECTIVITY_SUCCESSES_TO_CLOSE = 1
    settings.CONNECTIVITY_CHECK_INTERVAL_MINUTES = 5
    settings.HEALTHCHECKS_URL = ""
    settings.DISCORD_WEBHOOK_URL = ""
    return settings


@pytest.fixture(name="servers")
def servers_fixture():
    """Three local HTTP targets whose answers the test switches: ``servers[i].set_default``."""
    started = [RecordingServer().start() for _ in range(3)]
    yield started
    for server in started:
        server.stop()


def target(server: RecordingServer) -> str:
    return f"{server.url}/"


def all_up(servers) -> None:
    for server in servers:
        server.set_default(Reply(200))


def majority_down(servers) -> None:
    servers[0].set_default(Reply(200))
    for server in servers[1:]:
        server.set_default(Reply(503))
