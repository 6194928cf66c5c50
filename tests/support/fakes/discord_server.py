"""A fake Discord on the loopback server (``fakes.loopback``): a webhook and one channel's REST.

``DiscordApp`` keeps the channel's messages (IDs increase like snowflakes) and answers
``POST /api/webhooks/{id}/{token}``, ``GET /api/v10/users/@me``,
``GET /api/v10/channels/{id}/messages`` (``after``/``limit``, newest first as Discord returns
them) and ``POST /api/v10/channels/{id}/messages``. A webhook post may be JSON or, with files,
multipart/form-data (``payload_json`` plus ``files[0]``...), as Discord accepts both.
Wrong tokens get Discord's 401/404 bodies.
Without ``content_intent`` a message's content reaches the bot empty unless it mentions it.
``hook`` scripts failures: it sees every request first and may answer it (a 429, a 503, a hang).
"""

from __future__ import annotations

__all__ = [
    "BOT_ID",
    "BOT_TOKEN",
    "CHANNEL_ID",
    "WEBHOOK_TOKEN",
    "Action",
    "DiscordApp",
    "DiscordServer",
    "Hang",
    "Hook",
    "Part",
    "Reply",
    "Seen",
    "json_reply",
    "rate_limited",
    "scripted",
]

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.loopback import Action, Hang, LoopbackServer, Part, Reply, Seen, json_reply

BOT_ID = "900000000000000001"
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GfakeX.fake-bot-token-0123456789abcdefghij"
CHANNEL_ID = "800000000000000001"
WEBHOOK_ID = "700000000000000001"
WEBHOOK_TOKEN = "fake-webhook-token-0123456789-abcdefghijklmnop"


Hook = Callable[[Seen], Action | None]


def rate_limited(retry_after: float, *, is_global: bool = False, in_body: bool = True) -> Reply:
    """Discord's 429: ``retry_after`` in the JSON body, or only in the Retry-After header."""
    headers = [("x-ratelimit-global", "true")] if is_global else []
    if not in_body:
        headers.append(("retry-after", f"{retry_after:g}"))
        return Reply(status=429, body=b"", headers=tuple(headers))
    data = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
    }
    return json_reply(data, 429, tuple(headers))


def scripted(*actions: Action, when: Callable[[Seen], bool] = lambda s: True) -> Hook:
    """A hook that answers the next matching requests with ``actions``, in order, then passes."""
    left = list(actions)
    lock = threading.Lock()

    def hook(seen: Seen) -> Action | None:
        with lock:
            return left.pop(0) if left and when(seen) else None

    return hook


@dataclass(slots=True, kw_only=True)
class DiscordApp:
    content_intent: bool = True
    hook: Hook | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)  # accepted payloads
    webhook_files: list[dict[str, Part]] = field(default_factory=list)  # their uploads
    bot_posts: list[dict[str, Any]] = field(default_factory=list)
    _next_id: int = 1_100_000_000_000_000_000
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def post(self, user_id: str, content: str, *, bot: bool = False, **extra: Any) -> str:
        """A message in the channel as a user (or bot) wrote it; returns its ID."""
        author = {"id": user_id, "username": f"user{user_id[-3:]}", "bot": bot}
        return self._add({"author": author, "content": content, "type": 0, **extra})

    def _add(self, message: dict[str, Any]) -> str:
        with self._lock:
            self._next_id += 1
            message = {"id": str(self._next_id), "channel_id": CHANNEL_ID, **message}
            self.messages.append(message)
            return str(self._next_id)

    def __call__(self, seen: Seen) -> Action:
        action = self.hook(seen) if self.hook is not None else None
        if action is not None:
            return action
        if seen.route.startswith("/api/webhooks/"):
            return self._webhook(seen)
        if seen.headers.get("authorization") != f"Bot {BOT_TOKEN}":
            return json_reply({"message": "401: Unauthorized", "code": 0}, 401)
        channel = f"/api/v10/channels/{CHANNEL_ID}/messages"
        if seen.method == "GET" and seen.route == "/api/v10/users/@me":
            return json_reply({"id": BOT_ID, "username": "Phoenix", "bot": True})
        if seen.method == "GET" and seen.route == channel:
            return json_reply(self._read(seen.query))
        if seen.method == "POST" and seen.route == channel:
            self.bot_posts.append(seen.json)
            author = {"id": BOT_ID, "username": "Phoenix", "bot": True}
            return json_reply({"id": self._add({"author": author, **seen.json})})
        return json_reply({"message": "Unknown Channel", "code": 10003}, 404)

    def _webhook(self, seen: Seen) -> Action:
        if seen.route != f"/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}":
            return json_reply({"message": "Unknown Webhook", "code": 10015}, 404)
        self.webhook_posts.append(seen.json)
        self.webhook_files.append({k: v for k, v in seen.files.items() if k != "payload_json"})
        author = {"id": WEBHOOK_ID, "username": "Phoenix", "bot": True}
        message_id = self._add({"author": author, "webhook_id": WEBHOOK_ID, **seen.json})
        if seen.query.get("wait") == "true":
            return json_reply({"id": message_id})
        return Reply(status=204)

    def _read(self, query: dict[str, str]) -> list[dict[str, Any]]:
        limit = int(query.get("limit", "50"))
        with self._lock:
            found = list(self.messages)
        if "after" in query:
            found = [m for m in found if int(m["id"]) > int(query["after"])][:limit]
        else:
            found = found[-limit:]
        return [self._as_bot_sees(m) for m in reversed(found)]

    def _as_bot_sees(self, message: dict[str, Any]) -> dict[str, Any]:
        own = message["author"]["id"] == BOT_ID
        if self.content_intent or own or f"<@{BOT_ID}>" in message.get("content", ""):
            return message
        return {**message, "content": "", "embeds": [], "attachments": []}

    @property
    def webhook_url_path(self) -> str:
        return f"/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"


class DiscordServer(LoopbackServer):
    """``with DiscordServer(app) as server:``, then ``server.webhook_url``, ``server.api_base``."""

    def __init__(self, app: DiscordApp) -> None:
        super().__init__(app)
        self.app = app

    @property
    def webhook_url(self) -> str:
        return self.url + self.app.webhook_url_path

    @property
    def api_base(self) -> str:
        return self.url + "/api/v10"
