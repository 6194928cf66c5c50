"""openai: against a real loopback server; model auto-pick, the response_format ladder, and
the ways a server can misbehave (huge, dropped, HTML, hung, refused)."""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx
import pytest
from fakes.llm_servers import (
    Drop,
    Hang,
    Huge,
    LoopbackServer,
    OpenAIApp,
    Reply,
    Seen,
    json_reply,
)
from fakes.repair_requests import make_request

from phoenix_engine.errors import ProviderError
from phoenix_engine.llm.openai import OpenAICompat, models_url

GB = 1_000_000_000
MODELS = ("nomic-embed-text", "qwen2.5-coder:7b", "llama-3.1-70b-instruct-q4", "qwen2.5-coder:32b")
LLAMA_CPP_500 = json_reply({"error": {"code": 500, "message": "Internal Server Error"}}, 500)


def client(server: LoopbackServer, **kw: Any) -> OpenAICompat:
    kw.setdefault("timeout_s", 5.0)
    url = f"{server.url}/v1/chat/completions"
    return OpenAICompat(url=url, transport=httpx.AsyncHTTPTransport(), **kw)


def formats(server: LoopbackServer) -> list[str]:
    posts = [s.json for s in server.seen if s.method == "POST"]
    return [(body.get("response_format") or {}).get("type", "none") for body in posts]


def test_models_url_is_derived_from_the_chat_url() -> None:
    assert models_url("http://h:1234/v1/chat/completions") == "http://h:1234/v1/models"
    assert models_url("http://h/api/v1/chat/completions/") == "http://h/api/v1/models"
    assert models_url("http://h:8080/completion") == "http://h:8080/v1/models"


@pytest.mark.parametrize(
    ("free", "expected"),
    [
        (24 * GB, "qwen2.5-coder:32b"),
        (8 * GB, "qwen2.5-coder:7b"),
        (80 * GB, "llama-3.1-70b-instruct-q4"),
        (None, "qwen2.5-coder:7b"),  # no GPU known: the first chat model listed
        (1 * GB, "qwen2.5-coder:7b"),  # nothing fits: the first chat model listed
    ],
)
async def test_model_is_picked_once_from_v1_models_by_free_vram(
    free: int | None, expected: str
) -> None:
    with LoopbackServer(OpenAIApp(models=MODELS)) as server:
        llm = client(server, free_vram_bytes=lambda: free)
        await llm.complete(make_request())
        await llm.complete(make_request())
    assert [s.path for s in server.seen].count("/v1/models") == 1
    chats = [s.json for s in server.seen if s.method == "POST"]
    assert [body["model"] for body in chats] == [expected, expected]
    assert llm.model == expected


async def test_configured_model_skips_the_listing() -> None:
    with LoopbackServer(OpenAIApp(reply="ok")) as server:
        assert await client(server, model="my-model").complete(make_request()) == "ok"
    assert [s.path for s in server.seen] == ["/v1/chat/completions"]
    assert server.seen[0].json["model"] == "my-model"
    assert server.seen[0].json["messages"] == [{"role": "user", "content": make_request().prompt}]


async def test_listing_failure_says_what_to_set() -> None:
    def no_listing(seen: Seen) -> Reply:
        return json_reply({"error": "not found"}, 404)

    failing = pytest.raises(ProviderError, match=r"no model set and GET .*/v1/models failed")
    with LoopbackServer(no_listing) as server, failing:
        await client(server).complete(make_request())


async def test_json_schema_500_steps_down_and_is_remembered() -> None:
    app = OpenAIApp(reject={"json_schema": LLAMA_CPP_500})
    with LoopbackServer(app) as server:
        llm = client(server, model="m")
        await llm.complete(make_request())
        await llm.complete(make_request())
    assert formats(server) == ["json_schema", "json_object", "json_object"]
    assert llm.response_format == "json_object"


async def test_format_refusals_that_mention_it_step_down_to_none() -> None:
    said = {"error": {"message": "response_format type 'json_object' is unsupported"}}
    app = OpenAIApp(
        reject={"json_schema": LLAMA_CPP_500, "json_object": json_reply(said, 400)}, reply="x"
    )
    with LoopbackServer(app) as server:
        llm = client(server, model="m")
        assert await llm.complete(make_request()) == "x"
        await llm.complete(make_request())
    assert formats(server) == ["json_schema", "json_object", "none", "none"]


async def test_a_500_after_json_schema_worked_is_a_failure_not_a_step_down() -> None:
    app = OpenAIApp()
    with LoopbackServer(app) as server:
        llm = client(server, model="m")
        await llm.complete(make_request())
        app.reject["json_schema"] = LLAMA_CPP_500
        with pytest.raises(ProviderError, match="HTTP 500: Internal Server Error"):
            await llm.complete(make_request())
    assert formats(server) == ["json_schema", "json_schema"]
    assert llm.response_format == "json_schema"


async def test_diff_requests_send_no_response_format() -> None:
    with LoopbackServer(OpenAIApp()) as server:
        await client(server, model="m").complete(make_request(reply_format="diff"))
    assert formats(server) == ["none"]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "streamed"])
async def test_ten_megabyte_reply_is_refused(declared: bool) -> None:
    with LoopbackServer(lambda seen: Huge(declare_length=declared)) as server:
        started = time.monotonic()
        with pytest.raises(ProviderError, match="larger than 2 MB"):
            await client(server, model="m").complete(make_request())
    assert time.monotonic() - started < 3


async def test_mid_reply_disconnect() -> None:
    dropped = pytest.raises(ProviderError, match="connection closed mid-reply")
    with LoopbackServer(lambda seen: Drop()) as server, dropped:
        await client(server, model="m").complete(make_request())


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (
            Reply(body=b"<html><title>LM Studio</title></html>", content_type="text/html"),
            "got an HTML page, not JSON (HTTP 200: LM Studio)",
        ),
        (
            Reply(
                status=502, body=b"<html><title>502 Bad Gateway</title>", content_type="text/html"
            ),
            "error page (HTTP 502: 502 Bad Gateway)",
        ),
        (Reply(body=b"Hello from a plain server", content_type="text/plain"), "is not JSON"),
    ],
)
async def test_html_and_other_non_json_bodies(action: Reply, reason: str) -> None:
    with LoopbackServer(lambda seen: action) as server, pytest.raises(ProviderError) as caught:
        await client(server, model="m").complete(make_request())
    assert reason in caught.value.reason
    assert len(caught.value.reason) < 200


async def test_hung_server_times_out() -> None:
    with LoopbackServer(lambda seen: Hang()) as server:
        started = time.monotonic()
        with pytest.raises(ProviderError, match=r"timed out|no reply within"):
            await client(server, model="m", timeout_s=0.3).complete(make_request())
        assert time.monotonic() - started < 2


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    llm = OpenAICompat(
        url=f"http://127.0.0.1:{port}/v1/chat/completions",
        model="m",
        timeout_s=2,
        transport=httpx.AsyncHTTPTransport(),
    )
    with pytest.raises(ProviderError, match="cannot connect"):
        await llm.complete(make_request())


@pytest.mark.parametrize(
    ("completion", "outcome"),
    [
        ({"choices": [{"message": {"content": "<think>hmm</think>\n{}"}}]}, "{}"),
        ({"choices": [{"message": {"content": "{"}, "finish_reason": "length"}]}, "truncated"),
        ({"choices": [{"message": {"content": "  "}}]}, "empty reply"),
        ({"error": {"message": "model not loaded"}}, "no choices (error: model not loaded)"),
        ({"choices": [{"message": {"content": [{"type": "text", "text": "hi"}]}}]}, "hi"),
    ],
)
async def test_completion_shapes(completion: dict[str, Any], outcome: str) -> None:
    with LoopbackServer(lambda seen: json_reply(completion)) as server:
        llm = client(server, model="m")
        try:
            reply = await llm.complete(make_request())
        except ProviderError as exc:
            reply = exc.reason
    assert outcome in reply
