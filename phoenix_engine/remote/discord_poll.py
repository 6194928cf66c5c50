"""Remote control over Discord: poll a channel over the REST API, run allowed users' commands.

No gateway: ``GET /channels/{id}/messages?after=...`` every ``PHOENIX_DISCORD_POLL_SEC``. At
start-up the cursor is set after the newest message already there, so a stale ``!stop`` from
yesterday never ends tonight's run. Only ``PHOENIX_DISCORD_ALLOWED_USERS`` may command (with no
list, nobody); every command, allowed or refused, becomes a ``remote_command`` event with the
user ID. Replies go to the channel with mentions disabled. 429s wait what Discord asks; a 5xx
or a dropped connection backs off; 401/403/404 (bad token, no access, no such channel) stop
the remote control with one ``notify_failed`` event instead of hammering Discord.
"""

from __future__ import annotations

__all__ = ["CONTENT_INTENT_HINT", "Command", "Controller", "RemoteControl", "parse_command"]

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpx

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.remote._discord_http import Answer, exchange, transport_reason
from phoenix_engine.remote.commands import Command, Controller, dispatch, parse_command
from phoenix_engine.remote.embeds import MAX_CONTENT

CONTENT_INTENT_HINT = (
    "message content arrives empty: enable the Message Content Intent (Discord Developer "
    "Portal > your application > Bot > Privileged Gateway Intents), or mention the bot: "
    "@Phoenix !status"
)
_REFUSED_NO_LIST = (
    "commands are refused: PHOENIX_DISCORD_ALLOWED_USERS is empty; add your Discord user ID "
    "(phoenix doctor says how)"
)
_REFUSED = "command refused: your user ID is not in PHOENIX_DISCORD_ALLOWED_USERS"
_FATAL = {
    401: "the bot token was refused: check PHOENIX_DISCORD_BOT_TOKEN",
    403: "the bot may not read this channel: give it View Channel and Read Message History",
    404: "no such channel: check PHOENIX_DISCORD_CHANNEL_ID (is the bot on that server?)",
}
_CHANNEL = "discord_bot"
_USER_TYPES = (0, 19)  # a plain message and a reply; joins, pins and the like have no text


class RemoteControl:
    """Polls one channel and answers commands; start :meth:`run` as a task, cancel to stop."""

    def __init__(
        self,
        *,
        api_base: str,
        token: str,
        channel_id: str,
        allowed_users: Iterable[str],
        controller: Controller,
        emit: Callable[[ev.Event], None],
        redactor: Redactor,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout_s: float = 15.0,
        max_backoff_s: float = 300.0,
    ) -> None:
        self._base = api_base.rstrip("/")
        self._auth = {"authorization": f"Bot {token}"}
        self._channel = channel_id
        self._allowed = frozenset(allowed_users)
        self._controller, self._emit = controller, emit
        self._redactor = Redactor([*redactor.values, token])
        self._transport, self._clock, self._sleep = transport, clock, sleep
        self._poll_s, self._timeout_s, self._max_backoff_s = poll_s, timeout_s, max_backoff_s
        self._failures = 0
        self._not_before = 0.0
        self._told_refused: set[str] = set()
        self.after: str | None = None  # the newest message ID seen
        self.bot_id = ""
        self._know_me = False
        self.disabled = False
        self.content_intent_missing = False

    async def run(self) -> None:
        async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout_s) as c:
            while True:
                delay = await self._step(c)
                if self.disabled:
                    return
                if delay > 0:
                    await self._sleep(delay)

    async def _step(self, client: httpx.AsyncClient) -> float:
        """Start up or poll once; the seconds to wait before the next step."""
        if not self._know_me:
            answer = await self._call(client, "GET", "/users/@me")
            if answer is not None and answer.ok:
                me = answer.data if isinstance(answer.data, dict) else {}
                self.bot_id, self._know_me = str(me.get("id", "")), True  # "": any mention
                return 0.0
            return self._next_delay(answer)
        path = f"/channels/{self._channel}/messages?limit=" + ("1" if self.after is None else "100")
        if self.after is not None:
            path += f"&after={self.after}"
        answer = await self._call(client, "GET", path)
        if answer is not None and answer.ok and isinstance(answer.data, list):
            messages = sorted(
                (m for m in answer.data if isinstance(m, dict) and str(m.get("id", "")).isdigit()),
                key=lambda m: int(m["id"]),
            )
            if self.after is None:  # start-up: everything already there is history
                self.after = str(messages[-1]["id"]) if messages else "0"
                return 0.0
            for message in messages:
                self.after = str(message["id"])
                try:
                    await self._handle(client, message)
                except Exception as exc:  # one odd message must not end the remote control
                    self._fail(f"could not handle message {self.after}: {type(exc).__name__}")
        return self._next_delay(answer)

    def _next_delay(self, answer: Answer | None) -> float:
        if answer is not None and answer.status == 429:
            return answer.retry_after
        if answer is None or answer.status >= 500:
            return min(self._poll_s * 2.0**self._failures, self._max_backoff_s)
        return self._poll_s

    async def _call(
        self, client: httpx.AsyncClient, method: str, path: str, body: Any = None
    ) -> Answer | None:
        """One request; None when no reply came. Reports outages once and 401/403/404 fatally."""
        wait = self._not_before - self._clock()
        if wait > 0:
            await self._sleep(wait)
        try:
            async with asyncio.timeout(self._timeout_s):
                answer = await exchange(
                    client, method, self._base + path, body=body, headers=self._auth
                )
        except (httpx.HTTPError, TimeoutError) as exc:
            self._outage(transport_reason(exc))
            return None
        self._not_before = self._clock() + answer.bucket_wait
        if answer.status >= 500:
            self._outage(f"HTTP {answer.status}")
        elif answer.status != 429:
            self._failures = 0
        if answer.status in _FATAL and method == "GET":
            self.disabled = True
            told = f" ({answer.message})" if answer.message else ""
            self._fail(
                f"Discord answered HTTP {answer.status}{told}: {_FATAL[answer.status]}; "
                "remote control is off for this run"
            )
        return answer

    def _outage(self, why: str) -> None:
        if self._failures == 0:  # one event per outage, not one per poll
            self._fail(f"remote control cannot reach Discord ({why}); retrying with backoff")
        self._failures += 1

    async def _handle(self, client: httpx.AsyncClient, message: dict[str, Any]) -> None:
        author = message.get("author") or {}
        if author.get("bot") or message.get("webhook_id"):
            return  # our own replies, the notifier's webhook posts, other bots
        user = str(author.get("id", ""))
        content = str(message.get("content") or "")
        if not content and message.get("type", 0) in _USER_TYPES and not _has_payload(message):
            await self._content_missing(client, message, user)
            return
        command = parse_command(content, self.bot_id)
        if command is None:
            return
        allowed = user in self._allowed
        if allowed:
            reply = self._run(command, user)
        else:
            reply = _REFUSED if self._allowed else _REFUSED_NO_LIST
        reply = self._fit(self._redactor.redact(reply))
        typed = self._redactor.redact(command.text)
        self._emit(ev.RemoteCommand(user_id=user, command=typed, allowed=allowed, reply=reply))
        if not allowed:
            if user in self._told_refused:
                return  # a refused user is told once, not answered at every message
            self._told_refused.add(user)
        await self._reply(client, str(message["id"]), reply)

    def _run(self, command: Command, user: str) -> str:
        try:
            return dispatch(self._controller, command, user).text
        except Exception as exc:  # a broken command must not end the remote control
            return f"!{command.name} failed: {type(exc).__name__}: {exc}"

    async def _content_missing(
        self, client: httpx.AsyncClient, message: dict[str, Any], user: str
    ) -> None:
        if self.content_intent_missing:
            return
        self.content_intent_missing = True
        self._emit(
            ev.RemoteCommand(user_id=user, command="", allowed=False, reply=CONTENT_INTENT_HINT)
        )
        await self._reply(client, str(message["id"]), CONTENT_INTENT_HINT)

    async def _reply(self, client: httpx.AsyncClient, message_id: str, text: str) -> None:
        body = {
            "content": text,
            "allowed_mentions": {"parse": []},  # no @everyone, no pings from quoted text
            "message_reference": {"message_id": message_id, "fail_if_not_exists": False},
        }
        for _ in range(3):
            answer = await self._call(client, "POST", f"/channels/{self._channel}/messages", body)
            if answer is None or answer.status != 429:
                break
            await self._sleep(answer.retry_after)
        if answer is not None and not answer.ok:
            self._fail(
                f"could not reply in the channel: HTTP {answer.status} {answer.message}".strip()
            )

    @staticmethod
    def _fit(text: str) -> str:
        return text if len(text) <= MAX_CONTENT else text[: MAX_CONTENT - 12] + "\n… (cut)"

    def _fail(self, reason: str) -> None:
        self._emit(ev.NotifyFailed(channel=_CHANNEL, reason=self._redactor.redact(reason)))


def _has_payload(message: dict[str, Any]) -> bool:
    """Something besides text: then empty content is not a sign of a missing intent."""
    return bool(message.get("embeds") or message.get("attachments") or message.get("sticker_items"))
