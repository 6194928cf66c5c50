"""gemini_api: the wire format, 429/RetryInfo, failures as short reasons, the key's secrecy."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fakes.llm_servers import GeminiApp, LoopbackServer
from fakes.repair_requests import make_request

from phoenix_engine.errors import ProviderError
from phoenix_engine.llm.gemini_api import GeminiApi

KEY = "AIzaSyTEST-0123456789abcdefghijklmnopqrs"
REPLY = '{"patches": [{"path": "train.py"}]}'


def answer(text: str = REPLY, finish: str = "STOP") -> dict[str, Any]:
    parts = [{"text": "Let me think about lr.", "thought": True}, {"text": text}]
    return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": finish}]}


def rate_limited(delay: str) -> httpx.Response:
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    error = {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}
    return httpx.Response(429, json={"error": {**error, "details": [info]}})


class Script:
    """Answers requests with the given responses in turn and records what it saw."""

    def __init__(self, *responses: httpx.Response) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.responses.pop(0)


def provider(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> GeminiApi:
    sleeps: list[float] = kw.pop("sleeps", [])

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    kw.setdefault("timeout_s", 5.0)
    return GeminiApi(
        api_key=KEY,
        base_url="https://gemini.test",
        transport=httpx.MockTransport(handler),
        sleep=sleep,
        **kw,
    )


async def test_success_skips_thought_parts_and_asks_for_json() -> None:
    script = Script(httpx.Response(200, json=answer()))
    reply = await provider(script).complete(make_request("the prompt"))
    assert reply == REPLY
    (request,) = script.requests
    assert request.url.path == "/v1beta/models/gemini-flash-latest:generateContent"
    body = json.loads(request.content)
    assert body["contents"][0]["parts"] == [{"text": "the prompt"}]
    assert body["generationConfig"]["responseMimeType"] == "application/json"


async def test_diff_replies_are_not_forced_to_json() -> None:
    script = Script(httpx.Response(200, json=answer("--- a/x\n+++ b/x\n")))
    await provider(script).complete(make_request(reply_format="diff"))
    assert "responseMimeType" not in json.loads(script.requests[0].content)["generationConfig"]


async def test_key_only_in_header_never_in_url_or_reasons() -> None:
    refused = httpx.Response(400, json={"error": {"message": f"API key not valid: {KEY}"}})
    script = Script(refused)
    api = provider(script)
    with pytest.raises(ProviderError) as caught:
        await api.complete(make_request())
    request = script.requests[0]
    assert request.headers["x-goog-api-key"] == KEY
    assert KEY not in str(request.url)
    assert KEY not in str(caught.value) and KEY not in caught.value.reason
    assert KEY not in str(caught.value.__cause__) and KEY not in str(caught.value.__context__)
    assert "HTTP 400" in caught.value.reason
    assert KEY not in repr(api)


async def test_missing_key_is_a_failure_that_names_the_variable() -> None:
    api = GeminiApi(api_key="", key_env="MY_GEMINI_KEY", transport=httpx.MockTransport(Script()))
    with pytest.raises(ProviderError, match="MY_GEMINI_KEY is not set"):
        await api.complete(make_request())


async def test_429_retry_delay_is_honoured_then_succeeds() -> None:
    script = Script(rate_limited("2s"), httpx.Response(200, json=answer()))
    sleeps: list[float] = []
    assert await provider(script, sleeps=sleeps).complete(make_request()) == REPLY
    assert sleeps == [2.0]
    assert len(script.requests) == 2


async def test_429_delay_over_the_cap_fails_over_at_once() -> None:
    script = Script(rate_limited("45s"))
    sleeps: list[float] = []
    with pytest.raises(ProviderError, match=r"HTTP 429.*retry in 45s: over the cap"):
        await provider(script, sleeps=sleeps, max_retry_wait_s=30).complete(make_request())
    assert sleeps == []


async def test_429_delay_past_the_deadline_fails_over() -> None:
    script = Script(rate_limited("4s"))
    with pytest.raises(ProviderError, match="past the timeout"):
        await provider(script, timeout_s=3.0).complete(make_request())


async def test_429_gives_up_after_max_attempts() -> None:
    script = Script(rate_limited("1.5s"), rate_limited("1.5s"), rate_limited("1.5s"))
    sleeps: list[float] = []
    with pytest.raises(ProviderError, match="still after 3 attempts"):
        await provider(script, sleeps=sleeps, max_attempts=3).complete(make_request())
    assert sleeps == [1.5, 1.5]


async def test_server_error_is_a_short_reason() -> None:
    body = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    script = Script(httpx.Response(503, json=body))
    with pytest.raises(ProviderError, match=r"^gemini_api: HTTP 503: The model is overloaded\.$"):
        await provider(script).complete(make_request())


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"promptFeedback": {"blockReason": "SAFETY"}}, "prompt blocked (SAFETY)"),
        ({"candidates": []}, "reply has no answer"),
        (answer('{"patches": [{"pa', "MAX_TOKENS"), "reply truncated (finishReason MAX_TOKENS)"),
        (answer("text", "RECITATION"), "reply stopped early (finishReason RECITATION)"),
        ({"candidates": [{"content": {"parts": [{"text": "hm", "thought": True}]}}]}, "empty"),
        ([1, 2], "not a JSON object"),
    ],
)
async def test_unusable_answers_are_failures(data: Any, reason: str) -> None:
    script = Script(httpx.Response(200, json=data))
    with pytest.raises(ProviderError) as caught:
        await provider(script).complete(make_request())
    assert reason in caught.value.reason


async def test_html_body_is_refused_with_a_short_reason() -> None:
    page = b"<!DOCTYPE html><html><head><title>Sign in - Proxy</title></head>" + b"x" * 5000
    script = Script(httpx.Response(200, content=page, headers={"content-type": "text/html"}))
    with pytest.raises(ProviderError) as caught:
        await provider(script).complete(make_request())
    assert caught.value.reason == "got an HTML page, not JSON (HTTP 200: Sign in - Proxy)"


async def _endless() -> AsyncIterator[bytes]:
    yield b"{"
    while True:  # the provider must stop reading, not the stream stop sending
        yield b" " * 65536


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_huge_body_is_refused(declared: bool) -> None:
    body = b"{" + b" " * (3 * 1024 * 1024) if declared else _endless()
    script = Script(httpx.Response(200, content=body))
    with pytest.raises(ProviderError, match="larger than 2 MB"):
        await provider(script).complete(make_request())


async def test_loopback_server_round_trip() -> None:
    with LoopbackServer(GeminiApp(reply=REPLY)) as server:
        api = GeminiApi(
            api_key=KEY, base_url=server.url, timeout_s=5, transport=httpx.AsyncHTTPTransport()
        )
        assert await api.complete(make_request()) == REPLY
    (seen,) = server.seen
    assert seen.headers["x-goog-api-key"] == KEY and KEY not in seen.path
