"""Ping URLs: heartbeats any device can send, with no header to set.

``/ping/<secret>[/<signal>]`` — the secret is the host's ping token, or the compatibility
token it carries from healthchecks (its check UUID) or Uptime Kuma; ``/ping/<ping-key>/
<host_id>[/<signal>]`` names a host with a ping key (``PingKey``). A signal is ``start``,
``fail``, ``log`` or an exit status 0–255 (0 a success, any other a failure); none is a
success. ``?rid=`` pairs a finish with its start when runs overlap.
``/ping/<secret>/maintenance?for=30m`` opens a maintenance window for the host alone
(maintenance/windows.py), up to a day: its own update script announces its reboot.
GET, HEAD and POST all work; a POST's body is stored (cut to ``HEARTBEAT_MAX_BODY_BYTES``,
as healthchecks cuts it rather than refusing the ping). Answers are healthchecks' words as
plain text, or JSON when the client asks for it (docs/ping-urls.md):

    200 OK                  recorded
    400 invalid url format  an exit status above 255, a signal netmon does not know
    400 invalid rid         a run id that is not 1–64 letters, digits, ``.``, ``_``, ``-``
    404 not found           no host has this secret (or this ping key and host id)
    429 rate limited        too many unknown secrets from this address (``Retry-After``)

``/api/push/<push-token>?status=up|down&msg=…&ping=…`` answers as Uptime Kuma's push
monitors do: ``{"ok": true}``, or ``{"ok": false, "msg": …}`` with 404/400/429.

The secret in the path is the only credential, so these URLs end up in logs and shell
histories: each host's ping token is rotated on its own (``Host.rotate_ping_token``)
without touching its bearer token.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts import throttle
from heartbeats.models import Signal
from heartbeats.recording import (
    host_and_failures_by_secret,
    host_by_ping_key,
    host_by_secret,
    record_signal,
)
from hosts.models import Host
from maintenance.windows import create_window
from netmon.durations import parse_duration

RUN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
EXIT_STATUS = re.compile(r"^[0-9]{1,3}$")
WORDS = {"start": Signal.START, "fail": Signal.FAIL, "log": Signal.LOG}
METHODS = ["GET", "HEAD", "POST"]
MAINTENANCE_LONGEST = timedelta(hours=24)


class PingError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def parse_signal(word: str) -> tuple[str, int | None]:
    """``start`` → (start, None); ``3`` → (fail, 3); ``0`` → (success, 0)."""
    if word in WORDS:
        return WORDS[word], None
    if EXIT_STATUS.match(word) and int(word) <= 255:
        code = int(word)
        return (Signal.SUCCESS if code == 0 else Signal.FAIL), code
    raise PingError(400, "invalid url format")


def _is_signal(word: str) -> bool:
    return word in WORDS or bool(EXIT_STATUS.match(word))


def _resolve(segments: list[str]) -> tuple[Host | None, str, int | None]:
    """The host a ping path of two or three segments names, and its signal (the plain
    ``/ping/<secret>`` is looked up with the throttle's count, in ``ping``).

    ``a/b`` is a secret and a signal when ``b`` reads as one and ``a`` is a host's secret,
    else a ping key and a host id (a host may be called ``start``)."""
    if len(segments) == 2:
        first, second = segments
        if _is_signal(second):
            host = host_by_secret(first)
            if host is not None:
                return (host, *parse_signal(second))
        return host_by_ping_key(first, second), Signal.SUCCESS, None
    if len(segments) == 3:
        key, host_id, word = segments
        signal, code = parse_signal(word)
        return host_by_ping_key(key, host_id), signal, code
    raise PingError(404, "not found")


def _read_capped(request: HttpRequest) -> bytes:
    """Up to ``HEARTBEAT_MAX_BODY_BYTES`` of the body; the rest is dropped, not refused."""
    limit = settings.HEARTBEAT_MAX_BODY_BYTES
    meta = request.META
    if meta.get("CONTENT_LENGTH"):
        stream = request
    elif meta.get("wsgi.input_terminated"):
        stream = meta["wsgi.input"]  # a chunked body, decoded by the server (views.py)
    else:
        return b""
    body = b""
    while len(body) < limit:
        chunk = stream.read(limit - len(body))
        if not chunk:
            break
        body += chunk
    return body


def _text(body: bytes) -> str:
    return body.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def _answer(request: HttpRequest, status: int, message: str, **extra) -> HttpResponse:
    if _wants_json(request):
        response = JsonResponse({"ok": status == 200, "message": message, **extra}, status=status)
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Ping-Body-Limit"] = str(settings.HEARTBEAT_MAX_BODY_BYTES)
    if request.method == "HEAD":
        response.content = b""
    return response


def _refuse(request: HttpRequest, address: str | None, error: PingError) -> HttpResponse:
    if error.status == 404:
        throttle.record_failure(address)  # unknown secrets count as failed logins
    return _answer(request, error.status, error.message)


@csrf_exempt
@never_cache
@require_http_methods(METHODS)
def ping(request: HttpRequest, path: str) -> HttpResponse:
    address = throttle.client_address(request)
    window = throttle.window_of(address)
    segments = path.rstrip("/").split("/")
    resolved = None
    if len(segments) == 1:  # the plain ping URL, the busiest: one statement reads both
        host, failures = host_and_failures_by_secret(segments[0], window)
        resolved = host, Signal.SUCCESS, None
    else:
        failures = throttle.failures_in(window)
    wait = window.retry_after(failures)
    if wait is not None:
        response = _answer(request, 429, "rate limited")
        response["Retry-After"] = str(wait)
        return response
    if len(segments) == 2 and segments[1] == "maintenance":
        return _announce_maintenance(request, address, segments[0])
    run_id = request.GET.get("rid", "")
    try:
        if run_id and not RUN_ID.match(run_id):
            raise PingError(400, "invalid rid")
        host, signal, code = resolved or _resolve(segments)
        if host is None:
            raise PingError(404, "not found")
    except PingError as error:
        return _refuse(request, address, error)
    now = timezone.now()
    host = record_signal(
        host,
        signal,
        now,
        source_ip=address,
        user_agent=request.headers.get("User-Agent", "")[:200],
        body=_text(_read_capped(request)),
        exit_status=code,
        run_id=run_id,
    )
    return _answer(
        request, 200, "OK", host_id=host.host_id, signal=signal, received_at=now.isoformat()
    )


def _announce_maintenance(request: HttpRequest, address: str | None, secret: str):
    """``/ping/<secret>/maintenance?for=30m``: the host's own script announces its reboot.

    A window for that host alone, from now, of at most a day: what the ping URL can do
    already (keep its host quiet by pinging) and no more. Nothing else changes."""
    host = host_by_secret(secret)
    if host is None:
        return _refuse(request, address, PingError(404, "not found"))
    try:
        length = parse_duration(request.GET.get("for", "30m"))
    except ValueError:
        return _answer(request, 400, "invalid for: a duration such as 30m or 2h")
    if not timedelta(minutes=1) <= length <= MAINTENANCE_LONGEST:
        return _answer(request, 400, "invalid for: from 1m to 24h")
    window = create_window(
        reason=f"announced by {host.host_id} (ping URL)",
        starts_at=timezone.now(),
        length=length,
        hosts=[host],
        by="ping URL",
    )
    return _answer(
        request, 200, "OK", host_id=host.host_id, maintenance_until=window.ends_at.isoformat()
    )


def _kuma(status: int, message: str | None = None) -> JsonResponse:
    data = {"ok": True} if message is None else {"ok": False, "msg": message}
    return JsonResponse(data, status=status)


@csrf_exempt
@never_cache
@require_http_methods(METHODS)
def kuma_push(request: HttpRequest, token: str) -> JsonResponse:
    """An Uptime Kuma push: ``status=up`` (the default) a success, ``down`` a failure with
    ``msg`` as its output; ``ping`` (a response time in ms) is stored with the message."""
    address = throttle.client_address(request)
    wait = throttle.retry_after(address)
    if wait is not None:
        response = _kuma(429, f"Too many failed attempts; retry in {wait} s.")
        response["Retry-After"] = str(wait)
        return response
    params = request.GET
    status = params.get("status", "up") or "up"
    if status not in ("up", "down"):
        return _kuma(400, "status: expected up or down.")
    ping_ms = params.get("ping", "")
    if ping_ms and not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{1,6})?", ping_ms):
        return _kuma(400, "ping: expected a number of milliseconds.")
    host = host_by_secret(token)
    if host is None:
        throttle.record_failure(address)
        return _kuma(404, "Monitor not found or not active.")
    message = params.get("msg", "")[: settings.HEARTBEAT_MAX_BODY_BYTES]
    body = f"{message}\nping: {ping_ms} ms" if ping_ms else message
    record_signal(
        host,
        Signal.SUCCESS if status == "up" else Signal.FAIL,
        timezone.now(),
        source_ip=address,
        user_agent=request.headers.get("User-Agent", "")[:200],
        body=_text(body.encode()),
    )
    return _kuma(200)
