"""A fake Discord on 127.0.0.1 (port 0, own thread): a webhook and one channel's REST endpoints.

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

import email.policy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT_ID = "900000000000000001"
BOT_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GfakeX.fake-bot-token-0123456789abcdefghij"
CHANNEL_ID = "800000000000000001"
WEBHOOK_ID = "700000000000000001"
WEBHOOK_TOKEN = "fake-webhook-token-0123456789-abcdefghijklmnop"


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The JSON body, or a multipart upload's ``payload_json`` part, as Discord reads it."""
        if self.is_multipart:
            part = self.files.get("payload_json")
            return json.loads(part.data) if part is not None else None
        return json.loads(self.body) if self.body else None

    @property
    def is_multipart(self) -> bool:
        return self.headers.get("content-type", "").startswith("multipart/form-data")

    @property
    def files(self) -> dict[str, Part]:
        """The parts of a multipart/form-data body by field name (``files[0]``...)."""
        if not self.is_multipart:
            return {}
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        parts: dict[str, Part] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(data, bytes):
                parts[name] = Part(
                    filename=part.get_filename() or "",
                    content_type=part.get_content_type(),
                    data=data,
                )
        return parts


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Hang:
    """Read the request and never answer (until the server stops)."""


Action = Reply | Hang
Hook = Callable[[Seen], Action | None]


def json_reply(data: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()) -> Reply:
    return Reply(status=status, body=json.dumps(data).encode(), headers=headers)


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
        if seen.path.startswith("/api/webhooks/"):
            return self._webhook(seen)
        if seen.headers.get("authorization") != f"Bot {BOT_TOKEN}":
            return json_reply({"message": "401: Unauthorized", "code": 0}, 401)
        channel = f"/api/v10/channels/{CHANNEL_ID}/messages"
        if seen.method == "GET" and seen.path == "/api/v10/users/@me":
            return json_reply({"id": BOT_ID, "username": "Phoenix", "bot": True})
        if seen.method == "GET" and seen.path == channel:
            return json_reply(self._read(seen.query))
        if seen.method == "POST" and seen.path == channel:
            self.bot_posts.append(seen.json)
            author = {"id": BOT_ID, "username": "Phoenix", "bot": True}
            return json_reply({"id": self._add({"author": author, **seen.json})})
        return json_reply({"message": "Unknown Channel", "code": 10003}, 404)

    def _webhook(self, seen: Seen) -> Action:
        if seen.path != f"/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}":
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


class DiscordServer:
    """``with DiscordServer(app) as server:``, then ``server.webhook_url``, ``server.api_base``."""

    def __init__(self, app: DiscordApp) -> None:
        self.app = app
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def webhook_url(self) -> str:
        return self.url + self.app.webhook_url_path

    @property
    def api_base(self) -> str:
        return self.url + "/api/v10"

    def __enter__(self) -> DiscordServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _make_handler(server: DiscordServer) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return None

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            headers = {k.lower(): v for k, v in self.headers.items()}
            seen = Seen(
                method=self.command,
                path=parts.path,
                query=query,
                headers=headers,
                body=self.rfile.read(length),
            )
            server.seen.append(seen)
            try:
                self._act(server.app(seen))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _act(self, action: Action) -> None:
            if isinstance(action, Hang):
                server.stop.wait(10)
                self.close_connection = True
                return
            self.send_response(action.status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(action.body)))
            for name, value in action.headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(action.body)

    return _Handler
