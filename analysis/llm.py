"""A small client for OpenAI-compatible chat completions and Anthropic's Messages API,
written on ``requests``: timeouts, retries on 429/5xx/529 (honouring Retry-After), no
retries on authentication or billing errors, and token accounting from the ``usage`` block.

Error messages are netmon's: the HTTP status, what it means, and the provider's error code
when it is a plain identifier (``insufficient_quota``). The provider's message is not
passed on, because it lands on the run, in the API and in alerts, and providers echo parts
of the request (a masked API key, the prompt) in it; it goes to the server log instead.
"""

import logging
import random
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.utils import timezone

logger = logging.getLogger(__name__)
USER_AGENT = "netmon log analysis"
# A provider's error code or type shown in messages: lower-case words joined by underscores.
ERROR_CODE = re.compile(r"^[a-z][a-z_]{0,49}$")
ANTHROPIC_VERSION = "2023-06-01"
RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}


class LLMError(Exception):
    """A failed completion. ``kind``: auth, billing, rate_limit, server, timeout, connection,
    request, invalid_response or invalid_answer."""

    def __init__(self, kind: str, message: str, retryable: bool = False, wait: float | None = None):
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.wait = wait


@dataclass
class Completion:
    text: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Usage:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def cost(self) -> Decimal | None:
        prices = settings.LLM_PRICE_INPUT_PER_MTOK, settings.LLM_PRICE_OUTPUT_PER_MTOK
        if not any(prices):
            return None
        total = self.input_tokens * prices[0] + self.output_tokens * prices[1]
        return (Decimal(str(total)) / Decimal(1_000_000)).quantize(Decimal("0.000001"))


def llm_configured() -> bool:
    return bool(settings.LLM_API_URL)


def endpoint(url: str, style: str) -> str:
    """LLM_API_URL may be a base URL (…/v1) or the full endpoint."""
    url = url.rstrip("/")
    if style == "anthropic":
        if url.endswith("/messages"):
            return url
        return f"{url}/messages" if url.endswith("/v1") else f"{url}/v1/messages"
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


class LLMClient:
    def __init__(
        self,
        url: str,
        api_key: str,
        style: str = "openai",
        model: str = "claude-sonnet-4.5",
        timeout: float = 90.0,
        max_retries: int = 3,
        retry_base: float = 2.0,
        retry_max_wait: float = 60.0,
        max_output_tokens: int = 4096,
        sleep=time.sleep,
    ) -> None:
        self.url = endpoint(url, style)
        self.api_key = api_key
        self.style = style
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_base = retry_base
        self.retry_max_wait = retry_max_wait
        self.max_output_tokens = max_output_tokens
        self.sleep = sleep
        self.usage = Usage()
        self.session = requests.Session()

    @classmethod
    def from_settings(cls, model: str = "") -> "LLMClient":
        return cls(
            url=settings.LLM_API_URL,
            api_key=settings.LLM_API_KEY,
            style=settings.LLM_API_STYLE,
            model=model or settings.LLM_DEFAULT_MODEL,
            timeout=settings.LLM_TIMEOUT_SECONDS,
            max_retries=settings.LLM_MAX_RETRIES,
            retry_base=settings.LLM_RETRY_BASE_SECONDS,
            retry_max_wait=settings.LLM_RETRY_MAX_WAIT_SECONDS,
            max_output_tokens=settings.LLM_MAX_OUTPUT_TOKENS,
        )

    def complete(self, system: str, messages: list[dict[str, str]]) -> Completion:
        """One completion, retried on rate limits, server errors, timeouts and lost
        connections (at most ``max_retries`` times); raises LLMError otherwise."""
        attempt = 0
        while True:
            try:
                return self._request(system, messages)
            except LLMError as error:
                if not error.retryable or attempt >= self.max_retries:
                    if error.retryable:
                        raise LLMError(
                            error.kind, f"{error} (gave up after {attempt + 1} attempts)"
                        ) from None
                    raise
                wait = error.wait
                if wait is None:
                    wait = self.retry_base * (2**attempt) * random.uniform(0.5, 1.0)
                elif wait > self.retry_max_wait:
                    raise LLMError(
                        error.kind,
                        f"{error} (asked to wait {wait:g} s, more than "
                        f"LLM_RETRY_MAX_WAIT_SECONDS={self.retry_max_wait:g})",
                    ) from None
                self.usage.notes.append(f"LLM {error.kind}: retried after {wait:.2f} s")
                self.sleep(min(wait, self.retry_max_wait))
                attempt += 1

    def _request(self, system: str, messages: list[dict[str, str]]) -> Completion:
        if self.style == "anthropic":
            headers = {"x-api-key": self.api_key, "anthropic-version": ANTHROPIC_VERSION}
            body = {
                "model": self.model,
                "max_tokens": self.max_output_tokens,
                "system": system,
                "messages": messages,
                "temperature": 0,
            }
        else:
            headers = {"Authorization": f"Bearer {self.api_key}"}
            body = {
                "model": self.model,
                "messages": [{"role": "system", "content": system}, *messages],
                "max_tokens": self.max_output_tokens,
                "temperature": 0,
            }
        headers["User-Agent"] = USER_AGENT
        self.usage.requests += 1
        try:
            response = self.session.post(
                self.url,
                json=body,
                headers=headers,
                timeout=(min(10.0, self.timeout), self.timeout),
                allow_redirects=False,
            )
        except requests.Timeout:
            raise LLMError(
                "timeout", f"no answer from the LLM API within {self.timeout:g} s", True
            ) from None
        except requests.ConnectionError as error:
            reason = error.__class__.__name__
            raise LLMError("connection", f"cannot reach the LLM API ({reason})", True) from None
        if response.status_code != 200:
            raise _error_of(response)
        return self._parse(response)

    def _parse(self, response: requests.Response) -> Completion:
        try:
            data = response.json()
            usage = data.get("usage") or {}
            if self.style == "anthropic":
                text = "".join(
                    block.get("text", "")
                    for block in data["content"]
                    if isinstance(block, dict) and block.get("type") == "text"
                )
                tokens = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
            else:
                content = data["choices"][0]["message"]["content"]
                if isinstance(content, list):
                    content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
                text = content or ""
                tokens = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise LLMError(
                "invalid_response", "the LLM API answered 200 with no completion in it", True
            ) from None
        input_tokens, output_tokens = (int(n) if isinstance(n, int) else 0 for n in tokens)
        self.usage.input_tokens += input_tokens
        self.usage.output_tokens += output_tokens
        return Completion(text, input_tokens, output_tokens)


def _retry_after(response: requests.Response) -> float | None:
    milliseconds = response.headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    header = response.headers.get("Retry-After")
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(header) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def _error_detail(response: requests.Response) -> tuple[str, str]:
    """The provider's error type/code and message."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", response.text[:200]
    if not isinstance(error, dict):
        return "", str(error)[:200]
    kind = str(error.get("code") or error.get("type") or "")
    return kind, str(error.get("message", ""))[:300]


def _error_of(response: requests.Response) -> LLMError:
    status = response.status_code
    kind, message = _error_detail(response)
    logger.warning("LLM API answered HTTP %s %s: %s", status, kind[:50], message)
    summary = f"LLM API answered HTTP {status}" + (f" {kind}" if ERROR_CODE.match(kind) else "")
    lowered = f"{kind} {message}".lower()
    if status == 402 or "insufficient_quota" in lowered or "credit balance" in lowered:
        return LLMError("billing", f"{summary} (billing: add credit or change the plan)")
    if status in (401, 403):
        return LLMError("auth", f"{summary} (check LLM_API_KEY)")
    if status == 404:
        return LLMError("request", f"{summary} (check LLM_API_URL and the model name)")
    if status == 429:
        return LLMError("rate_limit", summary, True, _retry_after(response))
    if status in RETRYABLE_STATUS or status >= 500:
        return LLMError("server", summary, True, _retry_after(response))
    return LLMError("request", summary)
