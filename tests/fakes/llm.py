"""A fake LLM provider speaking the OpenAI chat-completions and the Anthropic Messages API.

Precedence per request: a queued Reply (``queue(FakeLLM.rate_limited(1))``) first, then the
request is checked (auth, headers, body) like the real API does, then the answer text comes
from the ``answer()`` queue, else ``responder(request_json)``, else ``default_answer``.
Streaming (``"stream": true``) is not supported and answered with 400.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .recorder import RecordingServer, Reply, Request

OPENAI_PATHS = ("/v1/chat/completions", "/chat/completions")
ANTHROPIC_PATHS = ("/v1/messages",)
Answer = str | dict[str, Any] | list[Any]


def openai_error(message: str, type_: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


def anthropic_error(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}}


@dataclass
class ProviderReply(Reply):
    """A scripted reply whose shape depends on the API called: ``status``/``body``/``headers``
    are the OpenAI variant (also used for unknown paths), ``anthropic`` the Anthropic one."""

    anthropic: Reply | None = None

    def for_api(self, api: str) -> Reply:
        if api == "anthropic" and self.anthropic is not None:
            return self.anthropic
        return Reply(self.status, self.body, dict(self.headers), self.delay, self.hang)


def _api_of(path: str) -> str | None:
    path = path.rstrip("/")
    if path in OPENAI_PATHS:
        return "openai"
    return "anthropic" if path in ANTHROPIC_PATHS else None


def _as_text(answer: Answer) -> str:
    return answer if isinstance(answer, str) else json.dumps(answer)


def _content_text(content: Any) -> str:
    """Text of a message ``content``: a string or a list of content parts/blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            _content_text(part.get("text")) for part in content if isinstance(part, dict)
        )
    return ""


def _tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


def _retry_headers(retry_after: float) -> dict[str, str]:
    # Both official SDKs prefer retry-after-ms (fractional) over Retry-After (whole seconds).
    return {
        "Retry-After": str(math.ceil(retry_after)),
        "retry-after-ms": str(round(retry_after * 1000)),
    }


class FakeLLM(RecordingServer):
    """``POST /v1/chat/completions`` (OpenAI) and ``POST /v1/messages`` (Anthropic)."""

    def __init__(
        self,
        api_key: str = "test-key",
        default_answer: Answer = '{"findings": []}',
        responder: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.default_answer = _as_text(default_answer)
        self.responder = responder
        self._answers: deque[str] = deque()

    def answer(self, *answers: Answer) -> None:
        """Queue answer texts for the next successful completions (dict/list → JSON)."""
        with self._cond:
            self._answers.extend(_as_text(answer) for answer in answers)

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Request JSON of every successfully answered completion, in arrival order."""
        calls = []
        for request in list(self.requests):
            if _api_of(request.path) and request.reply and request.reply.status == 200:
                try:
                    calls.append(request.json())
                except ValueError:
                    continue
        return calls

    @staticmethod
    def rate_limited(retry_after: float = 1.0) -> ProviderReply:
        headers = _retry_headers(retry_after)
        message = f"Rate limit reached for requests. Please try again in {retry_after}s."
        return ProviderReply(
            429,
            openai_error(message, "requests", "rate_limit_exceeded"),
            headers,
            anthropic=Reply(429, anthropic_error("rate_limit_error", message), dict(headers)),
        )

    @staticmethod
    def server_error() -> ProviderReply:
        message = "The server had an error while processing your request. Sorry about that!"
        return ProviderReply(
            500,
            openai_error(message, "server_error"),
            anthropic=Reply(500, anthropic_error("api_error", "Internal server error")),
        )

    @staticmethod
    def overloaded() -> ProviderReply:
        # Anthropic answers 529 overloaded_error; OpenAI's equivalent is a 503.
        message = "The engine is currently overloaded, please try again later"
        return ProviderReply(
            503,
            openai_error(message, "server_error"),
            anthropic=Reply(529, anthropic_error("overloaded_error", "Overloaded")),
        )

    @staticmethod
    def billing_error() -> ProviderReply:
        # What the real APIs do when the account is out of money:
        # - OpenAI: 429 (not 402) with type/code "insufficient_quota". Unlike a rate limit it has
        #   no Retry-After; retrying does not help.
        # - Anthropic: 400 invalid_request_error "Your credit balance is too low ...".
        openai_message = (
            "You exceeded your current quota, please check your plan and billing details."
        )
        anthropic_message = (
            "Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits."
        )
        return ProviderReply(
            429,
            openai_error(openai_message, "insufficient_quota", "insufficient_quota"),
            anthropic=Reply(400, anthropic_error("invalid_request_error", anthropic_message)),
        )

    @staticmethod
    def hang() -> Reply:
        return Reply(hang=True)

    def respond(self, request: Request) -> Reply:
        api = _api_of(request.path)
        scripted = self._take_queued()
        if scripted is not None:
            return (
                scripted.for_api(api or "openai")
                if isinstance(scripted, ProviderReply)
                else scripted
            )
        if api is None:
            message = f"Invalid URL ({request.method} {request.path})"
            return Reply(404, openai_error(message, "invalid_request_error"))
        if request.method != "POST":
            message = f"Method {request.method} not allowed"
            if api == "anthropic":
                return Reply(405, anthropic_error("invalid_request_error", message))
            return Reply(405, openai_error(message, "invalid_request_error"))
        return self._openai(request) if api == "openai" else self._anthropic(request)

    def _next_text(self, payload: dict[str, Any]) -> str:
        if self._answers:
            return self._answers.popleft()
        if self.responder is not None:
            return self.responder(payload)
        return self.default_answer

    def _openai(self, request: Request) -> Reply:
        def error(status: int, message: str, code: str | None = None) -> Reply:
            return Reply(status, openai_error(message, "invalid_request_error", code))

        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            return error(401, "You didn't provide an API key.", "invalid_api_key")
        if auth.removeprefix("Bearer ") != self.api_key:
            return error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            payload = request.json()
        except ValueError:
            return error(400, "We could not parse the JSON body of your request.")
        if not isinstance(payload, dict) or not payload.get("model"):
            return error(400, "you must provide a model parameter")
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "'messages' must be a non-empty array")
        if payload.get("stream"):
            return error(400, "FakeLLM does not support stream=true")
        text = self._next_text(payload)
        prompt = "".join(_content_text(m.get("content")) for m in messages if isinstance(m, dict))
        prompt_tokens = _tokens(prompt)
        completion_tokens = _tokens(text)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": payload["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return Reply(200, body, {"x-request-id": f"req_{uuid.uuid4().hex}"})

    def _anthropic(self, request: Request) -> Reply:
        def error(status: int, type_: str, message: str) -> Reply:
            return Reply(status, anthropic_error(type_, message))

        key = request.headers.get("x-api-key")
        if key is None:
            return error(401, "authentication_error", "x-api-key header is required")
        if key != self.api_key:
            return error(401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in request.headers:
            return error(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            payload = request.json()
        except ValueError:
            return error(400, "invalid_request_error", "Request body is not valid JSON")
        if not isinstance(payload, dict) or not payload.get("model"):
            return error(400, "invalid_request_error", "model: Field required")
        max_tokens = payload.get("max_tokens")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            return error(400, "invalid_request_error", "max_tokens: Field required")
        messages = payload.get("messages")
        if not isinstance(messages, list) or not messages:
            return error(400, "invalid_request_error", "messages: at least one message is required")
        if payload.get("stream"):
            return error(400, "invalid_request_error", "FakeLLM does not support stream=true")
        text = self._next_text(payload)
        prompt = _content_text(payload.get("system")) + "".join(
            _content_text(m.get("content")) for m in messages if isinstance(m, dict)
        )
        body = {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": payload["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": _tokens(prompt), "output_tokens": _tokens(text)},
        }
        return Reply(200, body, {"request-id": f"req_{uuid.uuid4().hex}"})
