"""A fake Discord webhook endpoint that validates payloads the way Discord does.

Only JSON bodies are understood (no multipart ``payload_json``/file uploads).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from .recorder import RecordingServer, Reply, Request

WEBHOOK_PATH = re.compile(r"^/api(?:/v\d+)?/webhooks/(?P<id>\d+)/(?P<token>[^/]+)/?$")
DISCORD_EPOCH_MS = 1_420_070_400_000
MAX_EMBED_TOTAL = 6000

Errors = dict[str, Any]
Path = tuple[str, ...]


def _bucket(webhook_id: str) -> str:
    return hashlib.sha1(f"webhook:{webhook_id}".encode()).hexdigest()[:32]


def _add(errors: Errors, path: Path, code: str, message: str) -> None:
    """Add an error at ``path`` in Discord's nested ``{"key": {"_errors": [...]}}`` format."""
    node = errors
    for key in path:
        node = node.setdefault(key, {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _check_str(
    errors: Errors, path: Path, value: Any, limit: int, *, required: bool = False
) -> int:
    """Validate an optional/required string of at most ``limit`` chars; return its length."""
    if value is None or (required and value == ""):
        if required:
            _add(errors, path, "BASE_TYPE_REQUIRED", "This field is required")
        return 0
    if not isinstance(value, str):
        _add(errors, path, "BASE_TYPE_STRING", f'Could not interpret "{value}" as string.')
        return 0
    if len(value) > limit:
        _add(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return len(value)


def _check_dict(errors: Errors, path: Path, value: Any) -> bool:
    if isinstance(value, dict):
        return True
    _add(errors, path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
    return False


def _check_list(errors: Errors, path: Path, value: Any, limit: int) -> bool:
    if not isinstance(value, list):
        _add(errors, path, "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")
        return False
    if len(value) > limit:
        _add(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return True


def _check_embed(errors: Errors, path: Path, embed: Any) -> int:
    """Validate one embed; return its character count towards the 6000 total."""
    if not _check_dict(errors, path, embed):
        return 0
    total = _check_str(errors, (*path, "title"), embed.get("title"), 256)
    total += _check_str(errors, (*path, "description"), embed.get("description"), 4096)
    for key, name, limit in (("footer", "text", 2048), ("author", "name", 256)):
        part = embed.get(key)
        if part is not None and _check_dict(errors, (*path, key), part):
            total += _check_str(errors, (*path, key, name), part.get(name), limit, required=True)
    fields = embed.get("fields")
    if fields is not None and _check_list(errors, (*path, "fields"), fields, 25):
        for i, fld in enumerate(fields):
            fpath = (*path, "fields", str(i))
            if _check_dict(errors, fpath, fld):
                total += _check_str(errors, (*fpath, "name"), fld.get("name"), 256, required=True)
                total += _check_str(
                    errors, (*fpath, "value"), fld.get("value"), 1024, required=True
                )
    color = embed.get("color")
    if color is not None:
        if not isinstance(color, int) or isinstance(color, bool):
            _add(errors, (*path, "color"), "NUMBER_TYPE_COERCE", f'Value "{color}" is not int.')
        elif color < 0:
            _add(errors, (*path, "color"), "NUMBER_TYPE_MIN", "int value should be >= 0.")
        elif color > 0xFFFFFF:
            _add(errors, (*path, "color"), "NUMBER_TYPE_MAX", "int value should be <= 16777215.")
    timestamp = embed.get("timestamp")
    if timestamp is not None:
        try:
            datetime.fromisoformat(timestamp)
        except (TypeError, ValueError):
            msg = f'Could not parse "{timestamp}". Should be ISO8601.'
            _add(errors, (*path, "timestamp"), "DATE_TYPE_PARSE", msg)
    return total


def _is_snowflake(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, str) and value.isdigit())


def _check_allowed_mentions(errors: Errors, value: Any) -> None:
    path: Path = ("allowed_mentions",)
    if not _check_dict(errors, path, value):
        return
    parse = value.get("parse")
    if parse is not None and _check_list(errors, (*path, "parse"), parse, 3):
        for i, item in enumerate(parse):
            if item not in ("roles", "users", "everyone"):
                msg = f'Value "{item}" is not a valid enum value.'
                _add(errors, (*path, "parse", str(i)), "ENUM_TYPE_COERCE", msg)
    for key in ("roles", "users"):
        ids = value.get(key)
        if ids is None or not _check_list(errors, (*path, key), ids, 100):
            continue
        for i, item in enumerate(ids):
            if not _is_snowflake(item):
                msg = f'Value "{item}" is not snowflake.'
                _add(errors, (*path, key, str(i)), "NUMBER_TYPE_COERCE", msg)
        if ids and isinstance(parse, list) and key in parse:
            code = "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE"
            _add(errors, path, code, f'parse:["{key}"] and {key}: [ids...] are mutually exclusive.')
    replied_user = value.get("replied_user")
    if replied_user is not None and not isinstance(replied_user, bool):
        msg = "Must be either true or false."
        _add(errors, (*path, "replied_user"), "BASE_TYPE_BOOLEAN", msg)


def validate_message(payload: Any) -> dict[str, Any] | None:
    """Return the error body Discord would answer (with 400) for ``payload``, or None if valid."""
    errors: Errors = {}
    if not isinstance(payload, dict):
        _check_dict(errors, (), payload)
        return {"code": 50035, "message": "Invalid Form Body", "errors": errors}
    content, embeds = payload.get("content"), payload.get("embeds")
    _check_str(errors, ("content",), content, 2000)
    if embeds is not None and _check_list(errors, ("embeds",), embeds, 10):
        total = sum(_check_embed(errors, ("embeds", str(i)), e) for i, e in enumerate(embeds))
        if total > MAX_EMBED_TOTAL:
            msg = f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}"
            _add(errors, ("embeds",), "MAX_EMBED_SIZE_EXCEEDED", msg)
    username = payload.get("username")
    if username is not None and (not isinstance(username, str) or not 1 <= len(username) <= 80):
        _add(errors, ("username",), "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")
    if "allowed_mentions" in payload:
        _check_allowed_mentions(errors, payload["allowed_mentions"])
    if errors:
        return {"code": 50035, "message": "Invalid Form Body", "errors": errors}
    has_content = isinstance(content, str) and content.strip() != ""
    if not has_content and not embeds:
        # Real Discord uses a dedicated error code (not 50035) for this case.
        return {"code": 50006, "message": "Cannot send an empty message"}
    return None


def _rate_limit_reply(retry_after: float, global_: bool, bucket: str, limit: int) -> Reply:
    headers = {
        "Retry-After": str(math.ceil(retry_after)),
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
        "X-RateLimit-Scope": "global" if global_ else "user",
        "X-RateLimit-Bucket": bucket,
    }
    if global_:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": global_}
    return Reply(429, body, headers)


class FakeDiscord(RecordingServer):
    """Discord webhook API: ``POST /api/webhooks/<id>/<token>[?wait=true]``.

    Queued replies (``queue(FakeDiscord.rate_limited(1.0))``) take precedence over everything.
    With ``enforce_rate_limit=True`` each webhook allows ``rate_limit`` requests per sliding
    ``rate_window`` seconds (5 per 2 s; both are instance-tunable) and answers 429 beyond that.
    """

    rate_limit = 5
    rate_window = 2.0

    def __init__(self, enforce_rate_limit: bool = False) -> None:
        super().__init__()
        self.enforce_rate_limit = enforce_rate_limit
        self._windows: dict[str, deque[float]] = {}
        self._sequence = itertools.count()

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/api/webhooks/123456/fake-token"

    @property
    def messages(self) -> list[dict[str, Any]]:
        """JSON payloads of accepted (2xx) webhook executions, in arrival order."""
        accepted = []
        for request in list(self.requests):
            ok = request.reply is not None and 200 <= request.reply.status < 300
            if ok and request.method == "POST" and WEBHOOK_PATH.match(request.path):
                try:
                    accepted.append(request.json())
                except ValueError:
                    continue
        return accepted

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return [embed for message in self.messages for embed in message.get("embeds") or []]

    @staticmethod
    def rate_limited(retry_after: float, global_: bool = False) -> Reply:
        return _rate_limit_reply(retry_after, global_, _bucket("123456"), FakeDiscord.rate_limit)

    @staticmethod
    def server_error(status: int = 500) -> Reply:
        return Reply(status, {"message": "Internal Server Error", "code": 0})

    @staticmethod
    def not_found() -> Reply:
        return Reply(404, {"message": "Unknown Webhook", "code": 10015})

    @staticmethod
    def unauthorized() -> Reply:
        return Reply(401, {"message": "Invalid Webhook Token", "code": 50027})

    @staticmethod
    def hang() -> Reply:
        return Reply(hang=True)

    def respond(self, request: Request) -> Reply:
        scripted = self._take_queued()
        if scripted is not None:
            return scripted
        match = WEBHOOK_PATH.match(request.path)
        if match is None:
            return self.not_found()
        if request.method != "POST":
            return Reply(405, {"message": "405: Method Not Allowed", "code": 0})
        webhook_id, now = match["id"], request.received_at
        bucket = _bucket(webhook_id)
        window = self._windows.setdefault(webhook_id, deque())
        while window and window[0] <= now - self.rate_window:
            window.popleft()
        if self.enforce_rate_limit and len(window) >= self.rate_limit:
            retry_after = round(window[0] + self.rate_window - now, 3)
            return _rate_limit_reply(retry_after, False, bucket, self.rate_limit)
        window.append(now)
        reset_after = window[0] + self.rate_window - now
        headers = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - len(window))),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
        try:
            payload = request.json()
        except ValueError:
            body = {"code": 50109, "message": "The request body contains invalid JSON."}
            return Reply(400, body, headers)
        error = validate_message(payload)
        if error is not None:
            return Reply(400, error, headers)
        if request.query.get("wait", ["false"])[-1].lower() in ("true", "1"):
            return Reply(200, self._message(webhook_id, payload), headers)
        return Reply(204, b"", headers)

    def _message(self, webhook_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The message object Discord returns for ``?wait=true``."""
        snowflake = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22 | next(self._sequence)
        return {
            "id": str(snowflake),
            "type": 0,
            "channel_id": "987654321",
            "webhook_id": webhook_id,
            "author": {
                "id": webhook_id,
                "username": payload.get("username") or "Fake Webhook",
                "avatar": None,
                "bot": True,
            },
            "content": payload.get("content") or "",
            "embeds": payload.get("embeds") or [],
            "attachments": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": bool(payload.get("tts", False)),
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
        }
