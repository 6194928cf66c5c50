"""The one loopback HTTP fake of the test suite: a real server on 127.0.0.1 (port 0, own thread).

A handler (an app) maps each request, as ``Seen``, to an action: a reply, a connection dropped
mid-body, a hang until the server stops, or a huge body streamed until the client hangs up.
Every request is kept in ``server.seen``. The LLM fakes (``llm_servers``) and the fake Discord
(``discord_server``) are apps on this server.
"""

from __future__ import annotations

__all__ = [
    "Action",
    "Drop",
    "Handler",
    "Hang",
    "Huge",
    "LoopbackServer",
    "Part",
    "Reply",
    "Seen",
    "json_reply",
]

import email.policy
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One request: ``path`` as sent (query included), ``route`` without the query."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    @property
    def json(self) -> Any:
        """The JSON body, or a multipart upload's ``payload_json`` part (as Discord reads it)."""
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
                ctype, filename = part.get_content_type(), part.get_filename() or ""
                parts[name] = Part(filename=filename, content_type=ctype, data=data)
        return parts


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: Headers = ()


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


def json_reply(data: Any, status: int = 200, headers: Headers = ()) -> Reply:
    return Reply(status=status, body=json.dumps(data).encode(), headers=headers)


class LoopbackServer:
    """``with LoopbackServer(handler) as server:`` then ``server.url``; ``server.seen`` records."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.stop = threading.Event()  # set on exit: ends hangs and huge bodies
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        # poll_interval: shutdown() waits for one poll of the serving thread
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> Self:
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
                self._head(action.status, action.content_type, len(action.body), action.headers)
                self.wfile.write(action.body)

        def _head(self, status: int, ctype: str, length: int | None, extra: Headers = ()) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            if length is not None:
                self.send_header("content-length", str(length))
            else:
                self.send_header("connection", "close")
            for name, value in extra:
                self.send_header(name, value)
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
