"""One Discord REST exchange, read the way Discord's rate limits need it read.

Shared by the webhook notifier and the remote-control poller: the reply's JSON, Discord's error
message, how long a 429 asks us to wait (the JSON ``retry_after`` first, then the
``Retry-After`` header), whether the limit is global, and how long the route's bucket wants us
to pause when ``X-RateLimit-Remaining`` reached 0. Transport failures stay ``httpx`` errors;
:func:`transport_reason` turns them into a line a person can read (never the URL).
"""

from __future__ import annotations

__all__ = ["USER_AGENT", "Answer", "exchange", "transport_reason"]

import json
from dataclasses import dataclass
from typing import Any

import httpx

from phoenix_engine import __version__
from phoenix_engine.io import capped_http
from phoenix_engine.io.capped_http import read_capped

# Discord rejects requests without a User-Agent of this shape.
USER_AGENT = f"DiscordBot (https://github.com/phoenix-supervisor/phoenix, {__version__})"
_BODY_CAP = 1 << 20
_MAX_WAIT_S = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    status: int
    data: Any = None  # the JSON body, None when there is none or it is not JSON
    message: str = ""  # Discord's error message, one line
    retry_after: float = 0.0  # seconds a 429 asks us to wait
    global_limit: bool = False
    bucket_wait: float = 0.0  # seconds before the next request on this route

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _float(text: str | None) -> float:
    try:
        value = float(text or 0)
    except ValueError:
        return 0.0
    return min(max(value, 0.0), _MAX_WAIT_S) if value == value else 0.0


def _answer(response: httpx.Response, body: bytes) -> Answer:
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    info = data if isinstance(data, dict) else {}
    headers = response.headers
    retry_after = 0.0
    if response.status_code == 429:
        retry_after = _float(str(info.get("retry_after", ""))) or _float(headers.get("retry-after"))
        retry_after = retry_after or 1.0  # a 429 that names no wait still asks for one
    bucket_wait = 0.0
    if headers.get("x-ratelimit-remaining") == "0":
        bucket_wait = _float(headers.get("x-ratelimit-reset-after"))
    is_global = bool(info.get("global")) or headers.get("x-ratelimit-global", "").lower() == "true"
    message = str(info.get("message", "")) if info else body[:200].decode("utf-8", "replace")
    return Answer(
        status=response.status_code,
        data=data,
        message=" ".join(message.split())[:200],
        retry_after=retry_after,
        global_limit=is_global,
        bucket_wait=bucket_wait,
    )


async def exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    files: dict[str, tuple[str, bytes, str]] | None = None,
) -> Answer:
    """One request; raises ``httpx.HTTPError`` when no HTTP reply came back.

    With ``files`` (field -> (file name, bytes, type)) the request is multipart/form-data and
    the JSON body travels as its ``payload_json`` field, as Discord wants uploads.
    """
    sent = {"user-agent": USER_AGENT, **(headers or {})}
    content: dict[str, Any] = {"json": body}
    if files:
        content = {"data": {"payload_json": json.dumps(body)}, "files": files}
    async with client.stream(method, url, headers=sent, **content) as response:
        data, _ = await read_capped(response, _BODY_CAP)  # the start is enough to read
        return _answer(response, data)


def transport_reason(exc: BaseException) -> str:
    """Why no reply came, in words; deliberately without the request URL (it holds secrets)."""
    return capped_http.transport_reason(exc, "Discord")
