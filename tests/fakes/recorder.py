"""A programmable, recording HTTP server on 127.0.0.1 for tests (standard library only).

    with RecordingServer() as server:
        server.queue(Reply(503), Reply(200, {"ok": True}))
        ...  # point the code under test at server.url
        first, second = server.wait_for(2)

Subclasses speak a concrete API by overriding :meth:`RecordingServer.respond`.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

Body = bytes | str | dict[str, Any] | list[Any]


@dataclass
class Reply:
    """One scripted answer. dict/list bodies are sent as JSON, str bodies as UTF-8 text."""

    status: int = 200
    body: Body = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    hang: bool = False  # never answer; the handler is released (without answering) by stop()

    def encode(self) -> tuple[bytes, dict[str, str]]:
        """The body as bytes plus the headers, with a Content-Type added when missing."""
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            data, content_type = json.dumps(self.body).encode(), "application/json"
        elif isinstance(self.body, str):
            data, content_type = self.body.encode(), "text/plain; charset=utf-8"
        else:
            data, content_type = self.body, ""
        if content_type and not _has_header(headers, "content-type"):
            headers["Content-Type"] = content_type
        return data, headers


@dataclass
class Request:
    """One recorded request. Header names are lower-cased; ``path`` excludes the query string."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic()
    reply: Reply | None = field(default=None, repr=False)  # what the server decided to answer

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def _has_header(headers: dict[str, str], name: str) -> bool:
    return any(key.lower() == name for key in headers)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # never join handler threads on close (a hanging one would block)
    request_queue_size = 128  # listen() backlog; the default 5 drops bursts of connections

    def __init__(self, owner: RecordingServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() calls socket.getfqdn(), a reverse DNS lookup: skip it.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, closed connection) is normal in tests: stay quiet.
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no idle keep-alive connections outlive stop().
    protocol_version = "HTTP/1.0"
    server_version = "FakeServer/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        owner = cast(_HTTPServer, self.server).owner
        released = owner._released
        try:
            body = self._read_body()
        except ValueError:
            self._write(Reply(400, "malformed body framing"))
            return
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        reply = owner._record(request)
        if reply.hang:
            released.wait()
            return
        if reply.delay > 0 and released.wait(reply.delay):
            return  # stopped while delaying
        self._write(reply)

    def _write(self, reply: Reply) -> None:
        data, headers = reply.encode()
        no_body = reply.status in (204, 304) or reply.status < 200
        self.send_response(reply.status)
        for key, value in headers.items():
            self.send_header(key, value)
        if not no_body and not _has_header(headers, "content-length"):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and not no_body and self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class RecordingServer:
    """Records every request and answers from a FIFO queue of replies, then a default reply."""

    def __init__(self, default: Reply | None = None) -> None:
        self.requests: list[Request] = []
        self._default = default or Reply()
        self._queue: deque[Reply] = deque()
        self._cond = threading.Condition(threading.RLock())
        self._released = threading.Event()
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._url = ""

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash); only valid after start()."""
        if not self._url:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._url

    def start(self) -> RecordingServer:
        if self._server is not None:
            return self
        self._released = threading.Event()
        self._server = _HTTPServer(self)
        self._url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=f"{type(self).__name__}@{self._url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the socket, release hanging/delayed handlers and join the thread. Idempotent."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._released.set()
        # shutdown() only notices its flag when select() in serve_forever() wakes up: poke the
        # listening socket so stop() takes ~1 ms instead of up to a poll interval.
        closer = threading.Thread(target=server.shutdown, daemon=True)
        closer.start()
        while closer.is_alive():
            with contextlib.suppress(OSError):
                socket.create_connection(server.server_address[:2], timeout=1).close()
            closer.join(0.005)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = self._thread = None
        self._url = ""

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def queue(self, *replies: Reply) -> None:
        """The next requests get these replies, in order; then the default again."""
        with self._cond:
            self._queue.extend(replies)

    def set_default(self, reply: Reply) -> None:
        with self._cond:
            self._default = reply

    def reset(self) -> None:
        """Forget recorded requests and queued replies (keeps the default)."""
        with self._cond:
            self.requests.clear()
            self._queue.clear()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Request]:
        """Block until at least ``count`` requests were recorded; return (a copy of) them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, timeout):
                arrived = [f"{r.method} {r.path}" for r in self.requests]
                raise AssertionError(
                    f"expected at least {count} request(s) within {timeout}s, "
                    f"got {len(arrived)}: {arrived}"
                )
            return list(self.requests)

    def respond(self, request: Request) -> Reply:
        """Decide the reply for ``request``. Subclasses override; this pops the queue."""
        return self._take_queued() or self._default

    def _take_queued(self) -> Reply | None:
        with self._cond:
            return self._queue.popleft() if self._queue else None

    def _record(self, request: Request) -> Reply:
        # respond() and the append happen under one lock, so ``requests`` order == reply order.
        with self._cond:
            try:
                reply = self.respond(request)
            except Exception:
                reply = Reply(500, f"fake server crashed:\n{traceback.format_exc()}")
            request.reply = reply
            self.requests.append(request)
            self._cond.notify_all()
        return reply
