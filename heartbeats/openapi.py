"""The heartbeat and ping endpoints in the OpenAPI schema (``/api/v1/schema``).

They are plain Django views, kept off DRF for speed (heartbeats/recording.py), so
drf-spectacular does not see them: this post-processing hook (netmon/settings.py
``SPECTACULAR_SETTINGS``) describes them, with their two ways of authenticating — the
host's token as a Bearer header (``hostToken``), or a secret in the path (the ping URLs,
no header at all)."""

from django.conf import settings

TEXT = {"text/plain": {"schema": {"type": "string"}}}
JSON_OBJECT = {"application/json": {"schema": {"type": "object", "additionalProperties": {}}}}
PING_ANSWER = {
    **TEXT,
    "application/json": {
        "schema": {
            "type": "object",
            "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"}},
            "additionalProperties": {},
        }
    },
}
BODY = {
    "required": False,
    "content": {"text/plain": {"schema": {"type": "string"}}},
    "description": "Stored with the heartbeat (a failure's end is shown in its alert).",
}
RID = {
    "name": "rid",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    "description": "Run id: pairs a finish with its start when runs overlap.",
}
HOST_ID = {"name": "host_id", "in": "path", "required": True, "schema": {"type": "string"}}
SIGNAL = {
    "name": "signal",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^(start|fail|log|[0-9]{1,3})$"},
    "description": "start, fail, log (store the body, change nothing), or an exit status "
    "0–255 (0 a success, any other a failure).",
}


def _secret(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def _answers(codes: dict[str, str], content: dict) -> dict:
    return {code: {"description": text, "content": content} for code, text in codes.items()}


BEARER_ANSWERS = {
    "200": "Recorded; the host's state after it.",
    "400": "A bad signal or rid (named in the answer).",
    "401": "Unknown host or wrong token (the same answer for both).",
    "404": "No such path (e.g. a signal that is not start, fail, log or 0–999).",
    "413": f"Body larger than HEARTBEAT_MAX_BODY_BYTES ({settings.HEARTBEAT_MAX_BODY_BYTES}).",
    "429": "Too many failed authentications from this address; see Retry-After.",
}
PING_ANSWERS = {
    "200": "OK: recorded (the body is cut to HEARTBEAT_MAX_BODY_BYTES, not refused).",
    "400": "invalid url format (an exit status above 255), or invalid rid.",
    "404": "not found: no host has this secret (or this ping key and host id).",
    "429": "rate limited: too many unknown secrets from this address; see Retry-After.",
}
PING_DESCRIPTION = (
    "GET, HEAD and POST all work; plain text answers (JSON with `Accept: "
    "application/json`), as healthchecks answers. The secret in the path is the only "
    "credential: see docs/ping-urls.md."
)


def _ping_operations(summary: str, parameters: list[dict]) -> dict:
    operation = {
        "summary": summary,
        "description": PING_DESCRIPTION,
        "tags": ["ping"],
        "security": [{}],
        "parameters": [*parameters, RID],
        "responses": _answers(PING_ANSWERS, PING_ANSWER),
    }
    return {
        method: {**operation, "operationId": f"ping_{method}_{len(parameters)}"}
        | ({"requestBody": BODY} if method == "post" else {})
        for method in ("get", "head", "post")
    }


def document_heartbeat_endpoints(result, generator, request, public):
    """drf-spectacular post-processing hook: add the heartbeat and ping endpoints."""
    paths = result.setdefault("paths", {})
    schemes = result.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes["hostToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The host's own token (shown once when the host is registered).",
    }
    bearer = {
        "tags": ["heartbeat"],
        "security": [{"hostToken": []}],
        "requestBody": BODY,
        "responses": _answers(BEARER_ANSWERS, JSON_OBJECT),
    }
    paths["/api/v1/heartbeat/{host_id}"] = {
        "post": {
            **bearer,
            "operationId": "heartbeat_send",
            "summary": "Send a heartbeat (a success) with the host's token",
            "parameters": [HOST_ID],
        }
    }
    paths["/api/v1/heartbeat/{host_id}/{signal}"] = {
        "post": {
            **bearer,
            "operationId": "heartbeat_signal",
            "summary": "Send a start, failure, log or exit status with the host's token",
            "parameters": [HOST_ID, SIGNAL, RID],
        }
    }
    token = _secret("ping_token")
    key = _secret("ping_key")
    paths["/ping/{ping_token}"] = _ping_operations(
        "Heartbeat by ping URL (ping token, or a healthchecks UUID)", [token]
    )
    paths["/ping/{ping_token}/{signal}"] = _ping_operations(
        "Start, failure, log or exit status by ping URL", [token, SIGNAL]
    )
    paths["/ping/{ping_key}/{host_id}/{signal}"] = _ping_operations(
        "Signal by ping key and host id (/ping/{ping_key}/{host_id} is a success)",
        [key, HOST_ID, SIGNAL],
    )
    push = {
        "operationId": "kuma_push",
        "summary": "Uptime Kuma push (status=up|down, msg, ping)",
        "tags": ["ping"],
        "security": [{}],
        "parameters": [
            _secret("push_token"),
            {"name": "status", "in": "query", "schema": {"enum": ["up", "down"]}},
            {"name": "msg", "in": "query", "schema": {"type": "string"}},
            {"name": "ping", "in": "query", "schema": {"type": "string"}},
        ],
        "responses": _answers(
            {
                "200": '{"ok": true}',
                "400": "A bad status or ping (named in msg).",
                "404": "No monitor (host) has this push token.",
                "429": "Too many unknown tokens from this address.",
            },
            JSON_OBJECT,
        ),
    }
    paths["/api/push/{push_token}"] = {
        method: {**push, "operationId": f"kuma_push_{method}"} for method in ("get", "head", "post")
    }
    return result
