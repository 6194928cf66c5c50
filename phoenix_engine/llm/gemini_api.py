"""Gemini over its REST API: one ``generateContent`` call per repair request.

The key travels only in the ``x-goog-api-key`` header: never in the URL, a reason or a repr.
A 429 is retried after the delay the API asks for (``RetryInfo``) when that delay is under a
cap and inside the deadline; otherwise the chain fails over. A blocked prompt, a reply cut at
``MAX_TOKENS`` or stopped for any reason but ``STOP`` is a failure, never something to parse;
thought parts (``"thought": true``) are not part of the reply.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BASE_URL", "DEFAULT_MODEL", "GeminiApi"]

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx

from phoenix_engine.core.redact import MASK
from phoenix_engine.errors import ProviderError
from phoenix_engine.llm._base import RepairRequest
from phoenix_engine.llm._http import (
    MAX_REPLY_BYTES,
    HttpReply,
    deadline,
    decode_json,
    error_reason,
    make_client,
    send,
)

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
DEFAULT_MODEL = "gemini-flash-latest"

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)s?\s*$")
_FINISHED = frozenset({"", "STOP", "FINISH_REASON_UNSPECIFIED"})

Sleep = Callable[[float], Awaitable[None]]


class GeminiApi:
    """``POST {base}/v1beta/models/{model}:generateContent`` with the key in a header."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str = DEFAULT_MODEL,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 180.0,
        key_env: str = "GEMINI_API_KEY",
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_retry_wait_s: float = 30.0,
        max_attempts: int = 3,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.name = "gemini_api"
        self._key = api_key.strip()
        self._key_env = key_env
        self._model = model.strip().removeprefix("models/") or DEFAULT_MODEL
        self._url = f"{base_url.rstrip('/')}/v1beta/models/{quote(self._model, safe='')}"
        self._url += ":generateContent"
        self._timeout_s = timeout_s
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._max_wait_s = max_retry_wait_s
        self._max_attempts = max(1, max_attempts)
        self._cap = max_reply_bytes

    def __repr__(self) -> str:  # the key stays out of every rendering of this object
        return f"GeminiApi(model={self._model!r}, url={self._url!r})"

    async def complete(self, request: RepairRequest) -> str:
        if not self._key:
            raise ProviderError(self.name, f"no API key: {self._key_env} is not set")
        try:
            async with deadline(self.name, self._timeout_s):
                return await self._ask(request)
        except ProviderError as exc:
            if self._key not in exc.reason:
                raise
            masked, cause = exc.reason.replace(self._key, MASK), exc.__cause__
        # Raised outside the handler, so no __context__ keeps the reason that echoed the key.
        raise ProviderError(self.name, masked) from cause

    async def _ask(self, request: RepairRequest) -> str:
        deadline = self._clock() + self._timeout_s
        headers = {"x-goog-api-key": self._key}
        async with make_client(self._transport, self._timeout_s) as client:
            for attempt in range(1, self._max_attempts + 1):
                reply = await send(
                    client, self.name, "POST", self._url, body=_body(request), headers=headers
                )
                if reply.ok:
                    return _reply_text(decode_json(reply, self.name), self.name)
                if reply.status != 429:
                    raise ProviderError(self.name, error_reason(reply))
                await self._wait(reply, attempt, deadline)
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    async def _wait(self, reply: HttpReply, attempt: int, deadline: float) -> None:
        """Sleep as long as a 429 asks, or raise when that is not worth it (fail over)."""
        delay = _retry_delay(reply)
        said = error_reason(reply)
        if attempt >= self._max_attempts:
            raise ProviderError(self.name, f"{said} (still after {attempt} attempts)")
        if delay is None:
            raise ProviderError(self.name, f"{said} (no retry delay given)")
        if delay > self._max_wait_s:
            raise ProviderError(self.name, f"{said} (retry in {delay:g}s: over the cap)")
        if self._clock() + delay > deadline:
            raise ProviderError(self.name, f"{said} (retry in {delay:g}s: past the timeout)")
        await self._sleep(delay)


def _body(request: RepairRequest) -> dict[str, Any]:
    config = {"responseMimeType": "application/json"} if request.reply_format == "json" else {}
    return {
        "contents": [{"role": "user", "parts": [{"text": request.prompt}]}],
        "generationConfig": config,
    }


def _retry_delay(reply: HttpReply) -> float | None:
    """Seconds from a RetryInfo detail (``"2s"``, ``"1.5s"``), else from Retry-After."""
    try:
        data = decode_json(reply, "")
        details = data["error"]["details"]
        found = [d["retryDelay"] for d in details if d.get("@type") == _RETRY_INFO]
    except (ProviderError, TypeError, KeyError, AttributeError):
        found = []
    for raw in [*found, reply.retry_after]:
        match = _SECONDS.match(raw) if isinstance(raw, str) else None
        if match:
            return float(match.group(1))
    return None


def _reply_text(data: Any, name: str) -> str:
    """The answer's text without thought parts; a blocked or cut reply raises ProviderError."""
    if not isinstance(data, dict):
        raise ProviderError(name, "unexpected reply: not a JSON object")
    candidates = data.get("candidates") or []
    if not candidates:
        feedback = data.get("promptFeedback") or {}
        block = feedback.get("blockReason") if isinstance(feedback, dict) else None
        raise ProviderError(name, f"prompt blocked ({block})" if block else "reply has no answer")
    first = candidates[0] if isinstance(candidates[0], dict) else {}
    finish = str(first.get("finishReason") or "")
    if finish == "MAX_TOKENS":
        raise ProviderError(name, "reply truncated (finishReason MAX_TOKENS)")
    if finish not in _FINISHED:
        raise ProviderError(name, f"reply stopped early (finishReason {finish})")
    content = first.get("content")
    parts = (content.get("parts") if isinstance(content, dict) else None) or []
    text = "".join(
        p["text"]
        for p in parts
        if isinstance(p, dict) and not p.get("thought") and isinstance(p.get("text"), str)
    )
    if not text.strip():
        raise ProviderError(name, "empty reply")
    return text
