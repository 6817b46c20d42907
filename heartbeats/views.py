from django.conf import settings
from django.http import FileResponse, HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from heartbeats.recording import authenticate, record_heartbeat

CLIENT_SCRIPT = settings.BASE_DIR / "scripts" / "client-heartbeat.sh"


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="heartbeat"'
    return response


def _client_ip(request: HttpRequest) -> str | None:
    if settings.NETMON_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip() or None
    return request.META.get("REMOTE_ADDR") or None


def _read_body(request: HttpRequest) -> bytes | None:
    """The body, or None when it is larger than allowed."""
    limit = settings.HEARTBEAT_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return None
    body = request.read(limit + 1)
    return None if len(body) > limit else body


@csrf_exempt
@require_POST
def receive(request: HttpRequest, host_id: str) -> JsonResponse:
    body = _read_body(request)
    if body is None:
        limit = settings.HEARTBEAT_MAX_BODY_BYTES
        return _error(413, f"Heartbeat body is limited to {limit} bytes.")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    host = None
    if scheme.lower() == "bearer" and token.strip():
        host = authenticate(host_id, token.strip())
    if host is None:
        return _error(401, "Unknown host or wrong token.")
    now = timezone.now()
    host = record_heartbeat(
        host,
        now,
        source_ip=_client_ip(request),
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


def _iso(value) -> str | None:
    return value.isoformat() if value else None


@require_GET
def client_script(request: HttpRequest) -> FileResponse:
    response = FileResponse(
        CLIENT_SCRIPT.open("rb"), content_type="text/x-shellscript; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="client-heartbeat.sh"'
    return response
