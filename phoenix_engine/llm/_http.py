"""HTTP plumbing shared by the HTTP providers: one capped request and short failure reasons.

Owns what every HTTP provider must get right the same way: the reply is read as a stream
(:mod:`phoenix_engine.io.capped_http`, shared with Discord) and abandoned past a size cap (a
10 MB body never reaches memory whole), a dropped connection or a timeout becomes a reason a
person can read, and an HTML page or other non-JSON body where JSON was expected is refused
with a one-line reason instead of a parse attempt.
"""

from __future__ import annotations

__all__ = [
    "MAX_REPLY_BYTES",
    "HttpReply",
    "deadline",
    "decode_json",
    "error_reason",
    "make_client",
    "one_line",
    "send",
    "server_message",
]

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from phoenix_engine.errors import ProviderError
from phoenix_engine.io.capped_http import one_line, read_capped, transport_reason

MAX_REPLY_BYTES = 2 * 1024 * 1024
# An error body is only read for its message; past this it is cut, not refused.
_ERROR_BODY_CAP = 64 * 1024
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpReply:
    """A finished response: status, content type, the (capped) body and the headers we use."""

    status: int
    content_type: str
    body: bytes
    retry_after: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class _KeepOpen(httpx.AsyncBaseTransport):
    """Lends an injected transport to a short-lived client without letting the client close it."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None


@contextlib.asynccontextmanager
async def deadline(provider: str, seconds: float) -> AsyncIterator[None]:
    """Bound the whole exchange: per-read timeouts alone let a trickling server run forever."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise ProviderError(provider, f"no reply within {seconds:g}s") from exc


def make_client(transport: httpx.AsyncBaseTransport | None, timeout_s: float) -> httpx.AsyncClient:
    """A client for one request; an injected transport outlives it."""
    lent = _KeepOpen(transport) if transport is not None else None
    return httpx.AsyncClient(transport=lent, timeout=httpx.Timeout(timeout_s))


async def send(
    client: httpx.AsyncClient,
    provider: str,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    cap: int = MAX_REPLY_BYTES,
) -> HttpReply:
    """Send one request and read the reply, at most ``cap`` bytes; ProviderError on any failure."""
    try:
        async with client.stream(method, url, json=body, headers=headers) as response:
            data = await _read(response, provider, cap)
            return HttpReply(
                status=response.status_code,
                content_type=response.headers.get("content-type", ""),
                body=data,
                retry_after=response.headers.get("retry-after", ""),
            )
    except httpx.HTTPError as exc:
        raise ProviderError(provider, transport_reason(exc, "the server", detail=True)) from exc


async def _read(response: httpx.Response, provider: str, cap: int) -> bytes:
    cut = not response.is_success  # an error body is only read for its message
    limit = _ERROR_BODY_CAP if cut else cap
    declared = response.headers.get("content-length", "")
    if not cut and declared.isdigit() and int(declared) > limit:
        raise ProviderError(provider, _too_big(limit))
    data, more = await read_capped(response, limit)
    if more and not cut:
        raise ProviderError(provider, _too_big(limit))
    return data


def _too_big(cap: int) -> str:
    return f"reply larger than {cap / 1024 / 1024:g} MB; aborted"


def _is_html(reply: HttpReply) -> bool:
    return "html" in reply.content_type.lower() or reply.body.lstrip()[:1] == b"<"


def _html_reason(reply: HttpReply) -> str:
    title = _TITLE.search(reply.body[:_ERROR_BODY_CAP])
    named = one_line(title.group(1).decode("utf-8", "replace"), 60) if title else ""
    return f"got an HTML page, not JSON (HTTP {reply.status}{': ' + named if named else ''})"


def decode_json(reply: HttpReply, provider: str) -> Any:
    """The body as JSON, or ProviderError with a short reason (HTML page, not JSON)."""
    if _is_html(reply):
        raise ProviderError(provider, _html_reason(reply))
    try:
        return json.loads(reply.body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        start = one_line(reply.body[:200].decode("utf-8", "replace"), 60)
        reason = f"reply is not JSON (HTTP {reply.status}): {start!r}"
        raise ProviderError(provider, reason) from exc


def error_reason(reply: HttpReply) -> str:
    """``HTTP 503: <the server's message>`` from a JSON error body, an HTML page or plain text."""
    if _is_html(reply):
        return _html_reason(reply).replace("got an HTML page, not JSON", "error page")
    try:
        data = json.loads(reply.body)
    except ValueError:
        data = reply.body.decode("utf-8", "replace")
    message = server_message(data)
    return f"HTTP {reply.status}" + (f": {one_line(message)}" if message else "")


def server_message(data: Any) -> str:
    """The human part of an error body: Google, OpenAI, llama.cpp and FastAPI shapes."""
    if isinstance(data, dict):
        for key in ("error", "message", "detail", "msg"):
            if key in data:
                return server_message(data[key])
        return ""
    if isinstance(data, list) and data:
        return server_message(data[0])
    return data if isinstance(data, str) else ""
