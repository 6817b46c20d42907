from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts import throttle
from heartbeats.ping import RUN_ID, PingError, parse_signal
from heartbeats.recording import authenticate, record_heartbeat, record_signal

CLIENT_SCRIPT = settings.BASE_DIR / "scripts" / "client-heartbeat.sh"


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="heartbeat"'
    return response


def _throttled(wait: int) -> JsonResponse:
    response = _error(429, f"Too many failed authentications from this address; retry in {wait} s.")
    response["Retry-After"] = str(wait)
    return response


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is larger than allowed (or its end cannot be found).

    With a Content-Length, Django's stream gives at most that much. Without one (a chunked
    body) Django's stream is empty, which stored such heartbeats empty and skipped the
    limit; the body is read from the server's input instead, when the server ends that
    input where the body ends (``wsgi.input_terminated``: gunicorn does, decoding the
    chunks). A server that does not cannot be read past the headers safely: a chunked body
    sent to it is refused.
    """
    limit = settings.HEARTBEAT_MAX_BODY_BYTES
    meta = request.META
    if meta.get("CONTENT_LENGTH"):
        try:
            declared = int(meta["CONTENT_LENGTH"])
        except ValueError:
            declared = 0
        return None if declared > limit else _read_at_most(request, limit)
    if meta.get("wsgi.input_terminated"):
        return _read_at_most(meta["wsgi.input"], limit)
    return None if "HTTP_TRANSFER_ENCODING" in meta else b""


def _read_at_most(stream, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of ``stream``, or None if there are more; reads at most one more.

    A read may return less than asked for before the end, hence the loop."""
    body = b""
    while len(body) <= limit:
        chunk = stream.read(limit + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return None if len(body) > limit else body


def _bearer_host(request: HttpRequest, host_id: str, address: str | None):
    """The host whose token the request's Bearer header holds, or None (counted as a failed
    authentication: the same for an unknown host and a wrong token); and the seconds the
    client must wait first when it failed too often (accounts/throttle.py), in which case
    the host means nothing. A good heartbeat reads its failure count in its host lookup."""
    window = throttle.window_of(address)
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        host, failures = authenticate(host_id, token.strip(), window)
    else:
        host, failures = None, throttle.failures_in(window)
    wait = window.retry_after(failures)
    if host is None and wait is None:
        throttle.record_failure(address)
    return host, wait


@csrf_exempt
@require_POST
def receive(request: HttpRequest, host_id: str) -> JsonResponse:
    body = _read_body(request)
    if body is None:
        limit = settings.HEARTBEAT_MAX_BODY_BYTES
        return _error(413, f"Heartbeat body is limited to {limit} bytes.")
    address = throttle.client_address(request)
    host, wait = _bearer_host(request, host_id, address)
    if wait is not None:
        return _throttled(wait)
    if host is None:
        return _error(401, "Unknown host or wrong token.")
    now = timezone.now()
    host = record_heartbeat(
        host,
        now,
        source_ip=address,
        user_agent=request.headers.get("User-Agent", "")[:200],
        body=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
    )
    return JsonResponse(
        {
            "ok": True,
            "host_id": host.host_id,
            "status": host.status,
            "received_at": now.isoformat(),
            "next_expected_at": _iso(host.next_expected_at),
            "next_deadline": _iso(host.next_deadline),
        }
    )


@csrf_exempt
@require_POST
def receive_signal(request: HttpRequest, host_id: str, signal: str) -> JsonResponse:
    """``POST /api/v1/heartbeat/{host_id}/start|fail|log|<exit status>`` with the host's
    Bearer token: the ping URLs' signals (heartbeats/ping.py) for clients that have the
    token, e.g. ``client-heartbeat.sh run``. ``?rid=`` as there."""
    body = _read_body(request)
    if body is None:
        limit = settings.HEARTBEAT_MAX_BODY_BYTES
        return _error(413, f"Heartbeat body is limited to {limit} bytes.")
    try:
        kind, code = parse_signal(signal)
    except PingError as error:
        return _error(400, f"signal: {error.message}")
    run_id = request.GET.get("rid", "")
    if run_id and not RUN_ID.match(run_id):
        return _error(400, "rid: use 1–64 letters, digits, '.', '_' or '-'.")
    address = throttle.client_address(request)
    host, wait = _bearer_host(request, host_id, address)
    if wait is not None:
        return _throttled(wait)
    if host is None:
        return _error(401, "Unknown host or wrong token.")
    now = timezone.now()
    host = record_signal(
        host,
        kind,
        now,
        source_ip=address,
        user_agent=request.headers.get("User-Agent", "")[:200],
        body=body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        exit_status=code,
        run_id=run_id,
    )
    return JsonResponse(
        {
            "ok": True,
            "host_id": host.host_id,
            "signal": kind,
            "exit_status": code,
            "status": host.status,
            "received_at": now.isoformat(),
            "next_deadline": _iso(host.next_deadline),
        }
    )


def _iso(value) -> str | None:
    return value.isoformat() if value else None


@require_GET
def client_script(request: HttpRequest) -> FileResponse:
    response = FileResponse(
        CLIENT_SCRIPT.open("rb"), content_type="text/x-shellscript; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="client-heartbeat.sh"'
    return response
