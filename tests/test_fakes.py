"""The fake third-party servers in tests/fakes, exercised through real HTTP."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fakes import FakeDiscord, FakeHealthchecks, FakeLLM, RecordingServer, Reply

UUID = "5f4d6e1a-2b3c-4d5e-8f90-123456789abc"


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as srv:
        yield srv


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def hc() -> Iterator[FakeHealthchecks]:
    with FakeHealthchecks() as fake:
        yield fake


@pytest.fixture
def llm() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


# --- RecordingServer ---------------------------------------------------------------------------


def test_records_requests(server: RecordingServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert not server.url.endswith("/")
    before = time.monotonic()
    resp = requests.post(
        f"{server.url}/a/b?x=1&x=2&empty=", json={"k": "v"}, headers={"X-Thing": "yes"}, timeout=5
    )
    assert resp.status_code == 200
    assert resp.content == b""
    (req,) = server.requests
    assert (req.method, req.path) == ("POST", "/a/b")
    assert req.query == {"x": ["1", "2"], "empty": [""]}
    assert req.headers["x-thing"] == "yes"
    assert req.headers["content-type"] == "application/json"
    assert req.json() == {"k": "v"}
    assert req.text == '{"k": "v"}'
    assert before <= req.received_at <= time.monotonic()
    assert req.reply is not None and req.reply.status == 200


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"])
def test_all_methods(server: RecordingServer, method: str) -> None:
    server.set_default(Reply(201, "hello"))
    resp = requests.request(method, f"{server.url}/m", data=b"xyz", timeout=5)
    assert resp.status_code == 201
    assert resp.headers["Content-Length"] == "5"
    assert resp.text == ("" if method == "HEAD" else "hello")
    assert server.requests[0].method == method
    assert server.requests[0].body == b"xyz"


def test_chunked_body(server: RecordingServer) -> None:
    requests.post(server.url, data=iter([b"ab", b"cde"]), timeout=5)
    assert server.requests[0].body == b"abcde"


def test_queue_fifo_then_default(server: RecordingServer) -> None:
    server.queue(Reply(500), Reply(201, {"a": [1]}, {"X-Custom": "1"}), Reply(202, "txt"))
    statuses, bodies = [], []
    for _ in range(5):
        resp = requests.get(server.url, timeout=5)
        statuses.append(resp.status_code)
        bodies.append(resp.content)
    assert statuses == [500, 201, 202, 200, 200]
    assert bodies[1:3] == [b'{"a": [1]}', b"txt"]
    server.set_default(Reply(418))
    assert requests.get(server.url, timeout=5).status_code == 418


def test_body_content_types(server: RecordingServer) -> None:
    server.queue(Reply(body=[1, 2]), Reply(body="é"), Reply(204, headers={"X-A": "b"}))
    resp = requests.get(server.url, timeout=5)
    assert resp.headers["Content-Type"] == "application/json" and resp.json() == [1, 2]
    resp = requests.get(server.url, timeout=5)
    assert resp.headers["Content-Type"].startswith("text/plain") and resp.text == "é"
    resp = requests.get(server.url, timeout=5)
    assert resp.status_code == 204 and resp.headers["X-A"] == "b" and resp.content == b""


def test_delay(server: RecordingServer) -> None:
    server.queue(Reply(delay=0.2))
    start = time.monotonic()
    assert requests.get(server.url, timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.2


def test_hang_then_prompt_stop() -> None:
    srv = RecordingServer().start()
    srv.queue(Reply(hang=True))
    url = srv.url
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(srv.url, timeout=0.2)
    assert len(srv.wait_for(1, timeout=1)) == 1
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 1
    srv.stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=1)


def test_stop_releases_pending_hang() -> None:
    srv = RecordingServer(default=Reply(hang=True)).start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            requests.get(srv.url, timeout=5)
        except requests.RequestException as exc:
            errors.append(exc)

    client = threading.Thread(target=call)
    client.start()
    srv.wait_for(1)
    start = time.monotonic()
    srv.stop()
    client.join(timeout=5)
    assert time.monotonic() - start < 2
    assert not client.is_alive() and errors  # connection closed without an answer


def test_wait_for_blocks_until_requests_arrive(server: RecordingServer) -> None:
    threading.Timer(0.05, lambda: requests.get(f"{server.url}/late", timeout=5)).start()
    (req,) = server.wait_for(1, timeout=5)
    assert req.path == "/late"


def test_wait_for_timeout_message(server: RecordingServer) -> None:
    requests.get(f"{server.url}/only", timeout=5)
    with pytest.raises(AssertionError, match=r"at least 2 request.*got 1.*GET /only"):
        server.wait_for(2, timeout=0.05)


def test_url_before_start_and_context_manager() -> None:
    srv = RecordingServer()
    with pytest.raises(RuntimeError):
        _ = srv.url
    with srv:
        assert requests.get(srv.url, timeout=5).ok
    with pytest.raises(RuntimeError):
        _ = srv.url


def test_concurrent_requests(server: RecordingServer) -> None:
    threads = [
        threading.Thread(target=requests.get, args=(f"{server.url}/{i}",), kwargs={"timeout": 5})
        for i in range(20)
    ]
    for t in threads:
        t.start()
    assert len(server.wait_for(20)) == 20
    for t in threads:
        t.join()
    assert sorted(r.path for r in server.requests) == sorted(f"/{i}" for i in range(20))


def test_respond_hook_and_crash() -> None:
    class Echo(RecordingServer):
        def respond(self, request: Any) -> Reply:
            if request.path == "/boom":
                raise ValueError("kaput")
            return Reply(200, {"path": request.path})

    with Echo() as srv:
        assert requests.get(f"{srv.url}/x", timeout=5).json() == {"path": "/x"}
        resp = requests.get(f"{srv.url}/boom", timeout=5)
        assert resp.status_code == 500 and "kaput" in resp.text


# --- Discord -----------------------------------------------------------------------------------


def post(url: str, payload: Any, **kwargs: Any) -> requests.Response:
    return requests.post(url, json=payload, timeout=5, **kwargs)


def test_discord_accepts_with_204(discord: FakeDiscord) -> None:
    embed = {
        "title": "t",
        "description": "d",
        "color": 0xFF0000,
        "fields": [{"name": "n", "value": "v"}],
    }
    resp = post(discord.webhook_url, {"content": "hi", "embeds": [embed]})
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["X-RateLimit-Limit"] == "5"
    assert resp.headers["X-RateLimit-Remaining"] == "4"
    assert 0 < float(resp.headers["X-RateLimit-Reset-After"]) <= 2
    assert resp.headers["X-RateLimit-Bucket"]
    assert post(discord.webhook_url, {"content": "second"}).headers["X-RateLimit-Remaining"] == "3"
    assert [m["content"] for m in discord.messages] == ["hi", "second"]
    assert discord.embeds == [embed]


def test_discord_wait_true_returns_message(discord: FakeDiscord) -> None:
    resp = post(f"{discord.webhook_url}?wait=true", {"content": "hi", "username": "bot"})
    assert resp.status_code == 200
    message = resp.json()
    assert message["id"].isdigit() and message["content"] == "hi"
    assert message["author"]["username"] == "bot" and message["webhook_id"] == "123456"


def test_discord_versioned_path_and_unknown_paths(discord: FakeDiscord) -> None:
    assert post(f"{discord.url}/api/v10/webhooks/1/tok", {"content": "x"}).status_code == 204
    resp = post(f"{discord.url}/api/webhooks/123456", {"content": "x"})
    assert resp.status_code == 404
    assert resp.json() == {"message": "Unknown Webhook", "code": 10015}
    assert requests.get(discord.webhook_url, timeout=5).status_code == 405
    resp = requests.post(discord.webhook_url, data=b"{nope", timeout=5)
    assert resp.status_code == 400 and resp.json()["code"] == 50109
    assert discord.messages == [{"content": "x"}]


def big(n: int) -> str:
    return "x" * n


def fields(n: int) -> list[dict[str, str]]:
    return [{"name": "n", "value": "v"} for _ in range(n)]


@pytest.mark.parametrize(
    ("payload", "error_path", "code"),
    [
        ({"content": big(2001)}, ["content"], "BASE_TYPE_MAX_LENGTH"),
        ({"content": 5}, ["content"], "BASE_TYPE_STRING"),
        ({"embeds": [{"title": "t"}] * 11}, ["embeds"], "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": {"title": "t"}}, ["embeds"], "LIST_TYPE_CONVERT"),
        ({"embeds": ["x"]}, ["embeds", "0"], "DICT_TYPE_CONVERT"),
        ({"embeds": [{"title": big(257)}]}, ["embeds", "0", "title"], "BASE_TYPE_MAX_LENGTH"),
        (
            {"embeds": [{"title": "ok"}, {"description": big(4097)}]},
            ["embeds", "1", "description"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        ({"embeds": [{"fields": fields(26)}]}, ["embeds", "0", "fields"], "BASE_TYPE_MAX_LENGTH"),
        (
            {"embeds": [{"fields": [*fields(3), {"name": big(257), "value": "v"}]}]},
            ["embeds", "0", "fields", "3", "name"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": big(1025)}]}]},
            ["embeds", "0", "fields", "0", "value"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"embeds": [{"fields": [{"name": "n"}]}]},
            ["embeds", "0", "fields", "0", "value"],
            "BASE_TYPE_REQUIRED",
        ),
        (
            {"embeds": [{"footer": {"text": big(2049)}}]},
            ["embeds", "0", "footer", "text"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"embeds": [{"author": {"name": big(257)}}]},
            ["embeds", "0", "author", "name"],
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"embeds": [{"description": big(4000)}, {"description": big(2001)}]},
            ["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
        ),
        (
            {
                "embeds": [
                    {"description": big(4096), "fields": [{"name": "n", "value": big(1000)}] * 2}
                ]
            },
            ["embeds"],
            "MAX_EMBED_SIZE_EXCEEDED",
        ),
        ({"embeds": [{"color": 0x1000000}]}, ["embeds", "0", "color"], "NUMBER_TYPE_MAX"),
        ({"embeds": [{"color": -1}]}, ["embeds", "0", "color"], "NUMBER_TYPE_MIN"),
        ({"embeds": [{"color": "#ff0000"}]}, ["embeds", "0", "color"], "NUMBER_TYPE_COERCE"),
        ({"embeds": [{"color": True}]}, ["embeds", "0", "color"], "NUMBER_TYPE_COERCE"),
        ({"embeds": [{"color": 1.5}]}, ["embeds", "0", "color"], "NUMBER_TYPE_COERCE"),
        ({"embeds": [{"timestamp": "yesterday"}]}, ["embeds", "0", "timestamp"], "DATE_TYPE_PARSE"),
        ({"content": "x", "username": ""}, ["username"], "BASE_TYPE_BAD_LENGTH"),
        ({"content": "x", "allowed_mentions": []}, ["allowed_mentions"], "DICT_TYPE_CONVERT"),
        (
            {"content": "x", "allowed_mentions": {"parse": ["here"]}},
            ["allowed_mentions", "parse", "0"],
            "ENUM_TYPE_COERCE",
        ),
        (
            {"content": "x", "allowed_mentions": {"parse": "users"}},
            ["allowed_mentions", "parse"],
            "LIST_TYPE_CONVERT",
        ),
        (
            {"content": "x", "allowed_mentions": {"users": ["abc"]}},
            ["allowed_mentions", "users", "0"],
            "NUMBER_TYPE_COERCE",
        ),
        (
            {"content": "x", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
            ["allowed_mentions"],
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
        ),
        (
            {"content": "x", "allowed_mentions": {"replied_user": "yes"}},
            ["allowed_mentions", "replied_user"],
            "BASE_TYPE_BOOLEAN",
        ),
    ],
)
def test_discord_validation(
    discord: FakeDiscord, payload: dict[str, Any], error_path: list[str], code: str
) -> None:
    resp = post(discord.webhook_url, payload)
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert (body["code"], body["message"]) == (50035, "Invalid Form Body")
    node = body["errors"]
    for key in error_path:
        node = node[key]
    assert code in [e["code"] for e in node["_errors"]]
    assert discord.messages == []


@pytest.mark.parametrize("payload", [{}, {"content": ""}, {"content": "  "}, {"embeds": []}])
def test_discord_empty_message(discord: FakeDiscord, payload: dict[str, Any]) -> None:
    resp = post(discord.webhook_url, payload)
    assert resp.status_code == 400
    assert resp.json() == {"code": 50006, "message": "Cannot send an empty message"}


def test_discord_accepts_payloads_at_the_limits(discord: FakeDiscord) -> None:
    full = {
        "title": big(256),
        "description": big(4096),
        "footer": {"text": big(1000)},
        "author": {"name": big(256)},
        "fields": [{"name": "n", "value": big(391)}],  # 256+4096+1000+256+1+391 == 6000
        "color": 0xFFFFFF,
        "timestamp": "2024-01-02T03:04:05Z",
    }
    mentions = {"parse": ["roles"], "users": ["1", 2], "replied_user": False}
    assert post(discord.webhook_url, {"content": big(2000)}).status_code == 204
    assert post(discord.webhook_url, {"embeds": [full], "allowed_mentions": mentions}).ok
    assert post(discord.webhook_url, {"embeds": [{"color": 0}] * 10}).status_code == 204
    fields_25 = [{"fields": [{"name": big(256), "value": big(1)}] * 1 + fields(24)}]
    assert post(discord.webhook_url, {"embeds": fields_25}).status_code == 204
    assert len(discord.messages) == 4 and len(discord.embeds) == 12


def test_discord_rate_limited_helper(discord: FakeDiscord) -> None:
    discord.queue(FakeDiscord.rate_limited(1.2), FakeDiscord.rate_limited(0.5, global_=True))
    resp = post(discord.webhook_url, {"content": "x"})
    assert resp.status_code == 429
    assert resp.json() == {
        "message": "You are being rate limited.",
        "retry_after": 1.2,
        "global": False,
    }
    h = resp.headers
    assert h["Retry-After"] == "2"
    assert (h["X-RateLimit-Limit"], h["X-RateLimit-Remaining"]) == ("5", "0")
    assert h["X-RateLimit-Reset-After"] == "1.200"
    assert h["X-RateLimit-Scope"] == "user" and h["X-RateLimit-Bucket"]
    resp = post(discord.webhook_url, {"content": "x"})
    assert resp.json()["global"] is True and resp.headers["X-RateLimit-Global"] == "true"
    assert resp.headers["Retry-After"] == "1"
    assert post(discord.webhook_url, {"content": "x"}).status_code == 204
    assert discord.messages == [{"content": "x"}]


def test_discord_failure_helpers(discord: FakeDiscord) -> None:
    discord.queue(
        FakeDiscord.server_error(),
        FakeDiscord.server_error(502),
        FakeDiscord.not_found(),
        FakeDiscord.unauthorized(),
    )
    statuses = [post(discord.webhook_url, {"content": "x"}).status_code for _ in range(5)]
    assert statuses == [500, 502, 404, 401, 204]
    assert FakeDiscord.hang().hang is True
    assert FakeDiscord.not_found().body == {"message": "Unknown Webhook", "code": 10015}


def test_discord_enforced_rate_limit() -> None:
    with FakeDiscord(enforce_rate_limit=True) as fake:
        fake.rate_window = 0.3
        remaining = []
        for _ in range(5):
            resp = post(fake.webhook_url, {"content": "x"})
            assert resp.status_code == 204
            remaining.append(resp.headers["X-RateLimit-Remaining"])
        assert remaining == ["4", "3", "2", "1", "0"]
        resp = post(fake.webhook_url, {"content": "over"})
        assert resp.status_code == 429
        assert 0 < resp.json()["retry_after"] <= 0.3
        assert resp.headers["X-RateLimit-Remaining"] == "0"
        # another webhook has its own bucket
        other = post(f"{fake.url}/api/webhooks/999/other", {"content": "y"})
        assert other.status_code == 204
        assert other.headers["X-RateLimit-Bucket"] != resp.headers["X-RateLimit-Bucket"]
        time.sleep(resp.json()["retry_after"] + 0.02)
        assert post(fake.webhook_url, {"content": "again"}).status_code == 204
        assert [m["content"] for m in fake.messages] == ["x"] * 5 + ["y", "again"]


def test_discord_not_enforced_by_default(discord: FakeDiscord) -> None:
    statuses = [post(discord.webhook_url, {"content": "x"}).status_code for _ in range(7)]
    assert statuses == [204] * 7


# --- healthchecks ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "kind"),
    [
        (f"/{UUID}", "success"),
        (f"/{UUID}/start", "start"),
        (f"/{UUID}/fail", "fail"),
        (f"/{UUID}/log", "log"),
        (f"/{UUID}/0", "0"),
        (f"/{UUID}/255", "255"),
        ("/pingKey_abc-123/db-backup", "success"),
        ("/pingKey_abc-123/db-backup/start", "start"),
        ("/pingKey_abc-123/db-backup/fail", "fail"),
        ("/pingKey_abc-123/db-backup/log", "log"),
        ("/pingKey_abc-123/db-backup/7", "7"),
        (f"/ping/{UUID}/start", "start"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_healthchecks_ping_forms(hc: FakeHealthchecks, suffix: str, kind: str, method: str) -> None:
    resp = requests.request(method, f"{hc.url}{suffix}", data=b"log line", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == ("" if method == "HEAD" else "OK")
    assert hc.pings == [(kind, "log line")]


def test_healthchecks_ping_url(hc: FakeHealthchecks) -> None:
    assert hc.ping_url == f"{hc.url}/{UUID}"
    requests.get(hc.ping_url, timeout=5)
    requests.post(f"{hc.ping_url}/1", data="exit 1 output", timeout=5)
    assert hc.pings == [("success", ""), ("1", "exit 1 output")]


@pytest.mark.parametrize(
    "suffix",
    [
        "/",
        "/not-a-uuid",
        f"/{UUID}/bogus",
        f"/{UUID}/start/extra",
        f"/{UUID}/-1",
        "/key/slug/bogus",
        "/key/Bad.Slug",
        "/a/b/c/d",
    ],
)
def test_healthchecks_404(hc: FakeHealthchecks, suffix: str) -> None:
    resp = requests.get(f"{hc.url}{suffix}", timeout=5)
    assert (resp.status_code, resp.text) == (404, "not found")
    assert hc.pings == []


def test_healthchecks_bad_requests(hc: FakeHealthchecks) -> None:
    assert requests.get(f"{hc.ping_url}/256", timeout=5).status_code == 400
    assert requests.get(f"{hc.ping_url}?rid=nope", timeout=5).status_code == 400
    assert requests.get(f"{hc.ping_url}?rid={UUID}", timeout=5).status_code == 200
    assert requests.post(hc.ping_url, data=b"x" * 100_001, timeout=5).status_code == 400
    assert requests.post(hc.ping_url, data=b"x" * 100_000, timeout=5).status_code == 200
    assert requests.put(hc.ping_url, timeout=5).status_code == 405
    assert [kind for kind, _ in hc.pings] == ["success", "success"]


def test_healthchecks_scripted_failure(hc: FakeHealthchecks) -> None:
    hc.queue(Reply(503, "busy"))
    assert requests.get(hc.ping_url, timeout=5).status_code == 503
    assert requests.get(hc.ping_url, timeout=5).status_code == 200
    assert len(hc.pings) == 1 and len(hc.requests) == 2


# --- LLM ---------------------------------------------------------------------------------------

OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello " * 20}]}
ANTHROPIC_BODY = {
    "model": "claude-sonnet-4",
    "max_tokens": 100,
    "system": "be brief",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello " * 20}]}],
}
OPENAI_AUTH = {"Authorization": "Bearer test-key"}
ANTHROPIC_AUTH = {"x-api-key": "test-key", "anthropic-version": "2023-06-01"}


def openai(
    fake: FakeLLM, body: Any = None, headers: Any = None, path: str = "/v1/chat/completions"
) -> requests.Response:
    return requests.post(
        f"{fake.url}{path}",
        json=OPENAI_BODY if body is None else body,
        headers=OPENAI_AUTH if headers is None else headers,
        timeout=5,
    )


def anthropic(fake: FakeLLM, body: Any = None, headers: Any = None) -> requests.Response:
    return requests.post(
        f"{fake.url}/v1/messages",
        json=ANTHROPIC_BODY if body is None else body,
        headers=ANTHROPIC_AUTH if headers is None else headers,
        timeout=5,
    )


def openai_text(resp: requests.Response) -> str:
    return resp.json()["choices"][0]["message"]["content"]


def anthropic_text(resp: requests.Response) -> str:
    return resp.json()["content"][0]["text"]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/chat/completions"])
def test_openai_completion_shape(llm: FakeLLM, path: str) -> None:
    resp = openai(llm, path=path)
    assert resp.status_code == 200
    data = resp.json()
    assert data["id"].startswith("chatcmpl-") and data["object"] == "chat.completion"
    assert isinstance(data["created"], int) and data["model"] == "gpt-4o-mini"
    assert data["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": '{"findings": []}'},
            "finish_reason": "stop",
        }
    ]
    usage = data["usage"]
    assert usage["prompt_tokens"] == 30 and usage["completion_tokens"] == 4
    assert usage["total_tokens"] == 34
    assert llm.calls == [OPENAI_BODY]


def test_anthropic_message_shape(llm: FakeLLM) -> None:
    resp = anthropic(llm)
    assert resp.status_code == 200
    data = resp.json()
    assert data["id"].startswith("msg_")
    assert (data["type"], data["role"], data["model"]) == (
        "message",
        "assistant",
        "claude-sonnet-4",
    )
    assert data["content"] == [{"type": "text", "text": '{"findings": []}'}]
    assert data["stop_reason"] == "end_turn"
    assert data["usage"] == {"input_tokens": 32, "output_tokens": 4}


def test_openai_auth_failures(llm: FakeLLM) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-key"}):
        resp = openai(llm, headers=headers)
        assert resp.status_code == 401
        error = resp.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        assert error["message"]
    with FakeLLM(api_key="sk-other") as other:
        assert openai(other, headers={"Authorization": "Bearer sk-other"}).ok


def test_anthropic_auth_and_version(llm: FakeLLM) -> None:
    for headers in ({"anthropic-version": "2023-06-01"}, {**ANTHROPIC_AUTH, "x-api-key": "no"}):
        resp = anthropic(llm, headers=headers)
        assert resp.status_code == 401
        body = resp.json()
        assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    resp = anthropic(llm, headers={"x-api-key": "test-key"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in resp.json()["error"]["message"]


def test_request_validation(llm: FakeLLM) -> None:
    assert openai(llm, body={"messages": [{"role": "user", "content": "x"}]}).status_code == 400
    assert openai(llm, body={"model": "m", "messages": []}).status_code == 400
    assert openai(llm, body={**OPENAI_BODY, "stream": True}).status_code == 400
    no_max = {k: v for k, v in ANTHROPIC_BODY.items() if k != "max_tokens"}
    resp = anthropic(llm, body=no_max)
    assert resp.status_code == 400 and "max_tokens" in resp.json()["error"]["message"]
    resp = requests.post(f"{llm.url}/v1/embeddings", json={}, headers=OPENAI_AUTH, timeout=5)
    assert resp.status_code == 404 and "Invalid URL" in resp.json()["error"]["message"]
    assert llm.calls == []


def test_scripted_answers_then_default(llm: FakeLLM) -> None:
    llm.answer("first", {"findings": [{"severity": "high"}]})
    assert openai_text(openai(llm)) == "first"
    assert anthropic_text(anthropic(llm)) == '{"findings": [{"severity": "high"}]}'
    assert openai_text(openai(llm)) == '{"findings": []}'


def test_default_answer_and_responder() -> None:
    with FakeLLM(default_answer={"ok": True}) as fake:
        assert openai_text(openai(fake)) == '{"ok": true}'

    def echo(payload: dict[str, Any]) -> str:
        return "echo:" + str(payload["messages"][-1]["content"])[:11]

    with FakeLLM(responder=echo) as fake:
        assert openai_text(openai(fake)) == "echo:Hello Hello"
        fake.answer("scripted wins")
        assert anthropic_text(anthropic(fake)) == "scripted wins"
        body = {**ANTHROPIC_BODY, "messages": [{"role": "user", "content": "ping"}]}
        assert anthropic_text(anthropic(fake, body=body)) == "echo:ping"


def test_llm_failure_helpers_openai(llm: FakeLLM) -> None:
    llm.answer("kept for later")
    llm.queue(
        FakeLLM.rate_limited(2.5),
        FakeLLM.server_error(),
        FakeLLM.overloaded(),
        FakeLLM.billing_error(),
    )
    resp = openai(llm)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    assert resp.headers["retry-after-ms"] == "2500"
    assert resp.json()["error"]["code"] == "rate_limit_exceeded"
    resp = openai(llm)
    assert resp.status_code == 500 and resp.json()["error"]["type"] == "server_error"
    assert openai(llm).status_code == 503
    resp = openai(llm)
    assert resp.status_code == 429 and resp.json()["error"]["code"] == "insufficient_quota"
    assert "Retry-After" not in resp.headers
    assert openai_text(openai(llm)) == "kept for later"


def test_llm_failure_helpers_anthropic(llm: FakeLLM) -> None:
    llm.queue(
        FakeLLM.rate_limited(1),
        FakeLLM.server_error(),
        FakeLLM.overloaded(),
        FakeLLM.billing_error(),
    )
    expected = [
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
        (400, "invalid_request_error"),
    ]
    for status, error_type in expected:
        resp = anthropic(llm)
        body = resp.json()
        assert (resp.status_code, body["type"], body["error"]["type"]) == (
            status,
            "error",
            error_type,
        )
    assert "credit balance" in body["error"]["message"]
    assert anthropic(llm).ok


def test_llm_queued_plain_reply_and_hang(llm: FakeLLM) -> None:
    llm.queue(Reply(502, "bad gateway"), FakeLLM.hang())
    assert anthropic(llm).status_code == 502
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(
            f"{llm.url}/v1/chat/completions", json=OPENAI_BODY, headers=OPENAI_AUTH, timeout=0.2
        )
    assert openai(llm).ok
    assert len(llm.wait_for(3)) == 3
