"""Chunked heartbeat bodies, sent to the real web server (``serve --only web``: gunicorn).

Django's test client always sends a Content-Length, so these requests are written by hand
with ``Transfer-Encoding: chunked`` and no length. gunicorn then gives the application no
CONTENT_LENGTH and a ``wsgi.input`` that decodes the chunks and ends with the body
(``wsgi.input_terminated``); Django's own stream of such a request is empty.
"""

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.processes import (
    MANAGE,
    django_json,
    free_port,
    http_status,
    manage,
    process_database,
    process_env,
    running,
    wait_until,
)

pytestmark = pytest.mark.process

LIMIT = 10240  # HEARTBEAT_MAX_BODY_BYTES by default


@dataclass
class Server:
    env: dict[str, str]
    port: int
    token: str


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("streaming")
    with process_database(data_dir) as database_url:
        env = process_env(data_dir, database_url)
        port = free_port()
        command = [*MANAGE, "serve", "--only", "web", "--bind", f"127.0.0.1:{port}"]
        log = data_dir / "serve.log"
        with running([*command, "--web-workers", "1"], env, log) as process:

            def answering() -> bool:
                if process.poll() is not None:
                    raise AssertionError(f"serve exited:\n{log.read_text(errors='replace')}")
                # Any answer will do: without a task cluster the health check says 503.
                return http_status(f"http://127.0.0.1:{port}/api/v1/health") is not None

            wait_until(answering, 60, "the web server to answer")
            added = manage("add_host", "--host-id", "chunk01", "--name", "Chunked", env=env)
            token = re.search(r"^Token: (\S+)$", added.stdout, re.MULTILINE)[1]
            yield Server(env, port, token)


def post_chunked(server: Server, chunks: list[bytes]) -> tuple[int, dict]:
    """POST the chunks as a chunked heartbeat body; returns the status and the JSON answer."""
    request = [
        b"POST /api/v1/heartbeat/chunk01 HTTP/1.1",
        b"Host: 127.0.0.1",
        f"Authorization: Bearer {server.token}".encode(),
        b"Content-Type: text/plain",
        b"Transfer-Encoding: chunked",
        b"Connection: close",
        b"",
        b"",
    ]
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(request) + body)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    head, _, content = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(content)


def stored_bodies(server: Server) -> list[str]:
    code = (
        "from heartbeats.models import Heartbeat\n"
        "bodies = Heartbeat.objects.filter(host__host_id='chunk01').order_by('id')\n"
        "print(json.dumps(list(bodies.values_list('body', flat=True))))"
    )
    return django_json(code, server.env)


def test_chunked_bodies_are_stored_or_refused_by_size(server):
    too_big = [b"x" * 1000] * 20  # 20 000 bytes in 20 chunks
    status, answer = post_chunked(server, too_big)

    assert status == 413
    assert answer == {"error": f"Heartbeat body is limited to {LIMIT} bytes."}
    assert stored_bodies(server) == []

    status, answer = post_chunked(server, [b"load=0.4 ", b"x" * 91])  # 100 bytes

    assert status == 200, answer
    assert answer["ok"] is True
    assert stored_bodies(server) == ["load=0.4 " + "x" * 91]

    status, _ = post_chunked(server, [b"y" * 5120, b"y" * 5120])  # exactly the limit
    assert status == 200
    assert stored_bodies(server)[-1] == "y" * LIMIT

    status, _ = post_chunked(server, [b"z" * LIMIT, b"z"])  # one byte more
    assert status == 413
    assert len(stored_bodies(server)) == 2
