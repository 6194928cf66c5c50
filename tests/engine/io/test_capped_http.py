"""The capped reader and the transport reasons that providers and Discord share."""

from __future__ import annotations

import httpx
import pytest

from phoenix_engine.io.capped_http import read_capped, transport_reason


@pytest.mark.parametrize(
    ("exc", "provider", "discord"),
    [
        (
            httpx.ConnectTimeout("x"),
            "timed out connecting to the server",
            "timed out connecting to Discord",
        ),
        (
            httpx.ReadTimeout("x"),
            "timed out waiting for the server",
            "timed out waiting for Discord",
        ),
        (TimeoutError(), "timed out waiting for the server", "timed out waiting for Discord"),
        (
            httpx.RemoteProtocolError("x"),
            "connection closed mid-reply",
            "connection closed mid-reply",
        ),
        (
            httpx.ConnectError("refused https://h/tok"),
            "cannot connect to the server (refused https://h/tok)",
            "cannot connect to Discord",
        ),
        (
            httpx.ConnectError(""),
            "cannot connect to the server (refused)",
            "cannot connect to Discord",
        ),
        (
            httpx.ReadError("boom https://h/tok"),
            "ReadError: boom https://h/tok",
            "ReadError talking to Discord",
        ),
    ],
)
def test_reasons_name_the_peer_and_only_providers_quote_the_error(
    exc: BaseException, provider: str, discord: str
) -> None:
    assert transport_reason(exc, "the server", detail=True) == provider
    assert transport_reason(exc, "Discord") == discord  # never the URL: it holds the token


@pytest.mark.parametrize(
    ("body", "cap", "kept", "more"), [(b"abc", 3, b"abc", False), (b"abcd", 3, b"abc", True)]
)
async def test_read_capped_stops_past_the_cap(
    body: bytes, cap: int, kept: bytes, more: bool
) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    async with (
        httpx.AsyncClient(transport=transport) as client,
        client.stream("GET", "http://x/") as response,
    ):
        assert await read_capped(response, cap) == (kept, more)
