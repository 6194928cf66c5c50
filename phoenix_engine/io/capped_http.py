"""Reading an HTTP reply with a size cap, and naming a transport failure: for providers and Discord.

Both the model providers (:mod:`phoenix_engine.llm._http`) and the Discord notifier and poller
(:mod:`phoenix_engine.remote._discord_http`) read replies as a stream and stop past a cap, so a
server that sends 10 MB (or never stops) costs at most the cap in memory; and both turn an
``httpx`` failure into a short line a person can read. What each does with a reply past the
cap (refuse it, or keep its start) is theirs to decide. A reason never quotes the request URL
unless the caller asks for the error's own words (``detail``): Discord's URLs hold secrets.
"""

from __future__ import annotations

__all__ = ["one_line", "read_capped", "transport_reason"]

import httpx

_REASON_CHARS = 160


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether it had more (the rest is left unread)."""
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) > cap:
            return bytes(data[:cap]), True
    return bytes(data), False


def transport_reason(exc: BaseException, peer: str, *, detail: bool = False) -> str:
    """Why no reply came from ``peer`` ("the server", "Discord"), in a few words; with
    ``detail`` the error's own message is added (it may name the host, never for Discord)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"timed out connecting to {peer}"
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timed out waiting for {peer}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed mid-reply"
    text = one_line(str(exc)) if detail else ""
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {peer}" + (f" ({text or 'refused'})" if detail else "")
    return f"{type(exc).__name__}: {text}" if detail else f"{type(exc).__name__} talking to {peer}"


def one_line(text: str, limit: int = _REASON_CHARS) -> str:
    """Whitespace collapsed, cut to ``limit`` characters: fit for a reason."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
