"""A real HTTP server on 127.0.0.1 (port 0, own thread) that speaks both LLM wire formats.

A handler maps each request to an action: a reply, a connection dropped mid-body, a hang, or a
huge body streamed until the client gives up. ``OpenAIApp`` serves ``GET /v1/models`` and
``POST /v1/chat/completions`` (optionally refusing some ``response_format`` types the way
llama.cpp does); ``GeminiApp`` serves ``POST /v1beta/models/{model}:generateContent``.
"""

from __future__ import annotations

__all__ = [
    "Action",
    "Drop",
    "GeminiApp",
    "Handler",
    "Hang",
    "Huge",
    "LoopbackServer",
    "OpenAIApp",
    "Reply",
    "Seen",
    "json_reply",
]

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True, kw_only=True)
class Drop:
    """Promise ``declared`` bytes, send ``sent``, then close the connection."""

    declared: int = 1000
    sent: bytes = b'{"choices": [{"message": {"content": "hal'


@dataclass(frozen=True, slots=True, kw_only=True)
class Hang:
    """Read the request and never answer (until the server stops)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Huge:
    """A 200 of ``size`` bytes, streamed in 64 KB chunks; the client is expected to hang up."""

    size: int = 10 * 1024 * 1024
    declare_length: bool = True


Action = Reply | Drop | Hang | Huge
Handler = Callable[[Seen], Action]


def json_reply(data: Any, status: int = 200) -> Reply:
    return Reply(status=status, body=json.dumps(data).encode())


class LoopbackServer:
    """``with LoopbackServer(handler) as server:`` then ``server.url``; ``server.seen`` records."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.stop = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def _serve(self) -> None:
        self._httpd.serve_forever(poll_interval=0.02)  # shutdown waits for one poll

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _make_handler(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
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
            seen = Seen(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
            )
            server.seen.append(seen)
            try:
                self._act(server.handler(seen))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _act(self, action: Action) -> None:
            if isinstance(action, Hang):
                server.stop.wait(10)
                self.close_connection = True
            elif isinstance(action, Drop):
                self._head(200, "application/json", action.declared)
                self.wfile.write(action.sent)
                self.wfile.flush()
                self.close_connection = True
            elif isinstance(action, Huge):
                self._huge(action)
            else:
                self._head(action.status, action.content_type, len(action.body))
                self.wfile.write(action.body)

        def _head(self, status: int, content_type: str, length: int | None) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            if length is not None:
                self.send_header("content-length", str(length))
            else:
                self.send_header("connection", "close")
            self.end_headers()

        def _huge(self, action: Huge) -> None:
            self._head(200, "application/json", action.size if action.declare_length else None)
            chunk = b"a" * 65536
            for _ in range(action.size // len(chunk)):
                if server.stop.is_set():
                    break
                self.wfile.write(chunk)
            self.close_connection = True

    return _Handler


def _completion(text: str, finish: str = "stop") -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"object": "chat.completion", "choices": [{"message": message, "finish_reason": finish}]}


@dataclass(slots=True, kw_only=True)
class OpenAIApp:
    """An OpenAI-compatible server; ``reject`` maps a response_format type to a refusal."""

    models: Sequence[str] = ("local-model",)
    reply: str = '{"patches": []}'
    reject: dict[str, Reply] = field(default_factory=dict)

    def __call__(self, seen: Seen) -> Action:
        if seen.method == "GET" and seen.path == "/v1/models":
            data = [{"id": name, "object": "model"} for name in self.models]
            return json_reply({"object": "list", "data": data})
        if seen.method == "POST" and seen.path == "/v1/chat/completions":
            kind = (seen.json.get("response_format") or {}).get("type", "none")
            return self.reject.get(kind) or json_reply(_completion(self.reply))
        return json_reply({"error": {"message": f"no route {seen.path}"}}, 404)


@dataclass(slots=True, kw_only=True)
class GeminiApp:
    """Gemini's generateContent, with a thought part before the answer."""

    model: str = "gemini-flash-latest"
    reply: str = '{"patches": []}'

    def __call__(self, seen: Seen) -> Action:
        if seen.method == "POST" and seen.path == f"/v1beta/models/{self.model}:generateContent":
            parts = [{"text": "thinking...", "thought": True}, {"text": self.reply}]
            candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}
            return json_reply({"candidates": [candidate]})
        return json_reply({"error": {"code": 404, "message": "not found"}}, 404)
