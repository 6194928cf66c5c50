"""The engine's door for consoles: ``engine.sock`` (mode 0600, same user only).

Where the socket lives and who may trust it is :mod:`phoenix_engine.io.engine_socket`. Only a
process of the engine's own user that this engine did not start may attach (SO_PEERCRED): the
training, a shadow test and whatever they leave running may not, so code Phoenix runs cannot
approve its own patch. An answer from a console is recorded as ``attach:<uid>``.

A console that connects says hello with the wire version, receives a snapshot (recent events,
log lines, metrics and the last GPU sample, replayable as events: ``_attach_snapshot``) and then
the live stream; every line and event it receives is redacted, whole lines at a time. It may
send commands: accept, reject, stop and status, answered by the same command set and
controller as Discord's (:mod:`~phoenix_engine.remote.commands`), and record (an event the
console caused, e.g. a rollback it performed, validated field by field before it reaches any
sink), the one command only a console sends. A slow or stuck
console never slows the engine: each has a bounded queue and a bounded buffer of raw output
(split into lines only when sent), old output is dropped for it with a visible "N lines skipped"
marker, and GPU and metric samples keep only the newest.
"""

from __future__ import annotations

__all__ = ["AttachServer", "socket_path"]

import asyncio
import contextlib
import dataclasses
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phoenix_engine import __version__
from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_state import RunView
from phoenix_engine.io.engine_socket import (
    peer_credentials,
    serving_problem,
    socket_path,
    started_by,
)
from phoenix_engine.remote._attach_console import Console as _Console
from phoenix_engine.remote._attach_snapshot import RunMemory
from phoenix_engine.remote._run_controller import ATTACH, RunController
from phoenix_engine.remote.commands import Command, Reply, dispatch
from phoenix_engine.remote.wire import (
    MAX_LINE,
    VERSION,
    WireError,
    check_command,
    decode_event,
    encode_event,
    pack,
)
from phoenix_engine.remote.wire import parse_message as parse

_HELLO_TIMEOUT_S = 5.0

Peer = Callable[[socket.socket], tuple[int, int] | None]  # (pid, uid) of the other end


class AttachServer:
    """An engine service and event sink: serve consoles while the run lasts."""

    def __init__(
        self,
        *,
        state_dir: Path,
        emit: Callable[[ev.Event], None],
        request_stop: Callable[[str], None],
        desk: ApprovalDesk | None,
        view: RunView,
        recent_lines: Callable[[int], list[str]] = lambda n: [],
        queue_size: int = 2000,
        raw_bytes: int = 4 << 20,
        redactor: Redactor | None = None,
        peer: Peer = peer_credentials,
    ) -> None:
        self.path = socket_path(state_dir)
        self._emit = emit
        self._controller = RunController(view=view, stop=request_stop, desk=desk, origin=ATTACH)
        self._memory = RunMemory(recent_lines)
        self._raw_bytes = raw_bytes
        self._queue_size = queue_size
        self._redactor = redactor or Redactor()
        self._peer = peer
        self._bound = False
        self._consoles: set[_Console] = set()
        self._server: asyncio.AbstractServer | None = None

    # --- sink ---------------------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        self._memory.remember(event)
        for console in list(self._consoles):
            console.offer(event)

    def output(self, stream: str, data: bytes) -> None:
        """The engine's output hook: raw chunks, handed to each console's own buffer."""
        self._memory.count_lines(data)
        for console in self._consoles:
            console.offer_output(stream, data)

    # --- service ------------------------------------------------------------------------------

    async def run(self) -> None:
        problem = serving_problem(self.path, os.getuid())
        if problem:
            self._emit(ev.Notice(message=f"no attach socket for this run: {problem}"))
            return
        old = os.umask(0o177)  # created 0600: no window in which others could connect
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old)
        self._bound = True
        os.chmod(self.path, 0o600)
        await self._server.serve_forever()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for console in list(self._consoles):
            console.writer.close()
        if self._bound:  # never remove what another user put there
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    # --- one console --------------------------------------------------------------------------

    def _refusal(self, sock: socket.socket | None) -> tuple[str, str]:
        """(who, '') for a peer that may attach; ('', why not) otherwise."""
        creds = self._peer(sock) if sock is not None else None
        if creds is None:
            return "", "cannot tell which user is connecting (no SO_PEERCRED here)"
        pid, uid = creds
        if uid != os.getuid():
            return "", "only the engine's own user may attach"
        if pid != os.getpid() and started_by(pid, os.getpid()):
            why = "a process this phoenix started (the training, a test, what they left) may not"
            return "", why + " attach"
        return f"attach:{uid}", ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        who, refused = self._refusal(writer.get_extra_info("socket"))
        if refused:
            with contextlib.suppress(OSError):
                await _send(writer, {"type": "error", "message": refused})
            writer.close()
            return
        await _send(writer, {"type": "hello", "version": VERSION, "phoenix": __version__})
        console: _Console | None = None
        try:
            hello = parse(await asyncio.wait_for(reader.readline(), _HELLO_TIMEOUT_S))
            if hello.get("type") != "hello" or hello.get("version") != VERSION:
                theirs = hello.get("version", "?")
                raise WireError(f"this engine speaks wire version {VERSION}, the console {theirs}")
            console = _Console(writer, self._queue_size, self._raw_bytes, self._redactor, who)
            await _send(writer, {"type": "snapshot", "events": self._snapshot()})
            self._consoles.add(console)
            pump = asyncio.ensure_future(self._pump(console))
            try:
                await self._commands(reader, writer, who)
            finally:
                pump.cancel()
        except (WireError, TimeoutError, ValueError) as exc:
            with contextlib.suppress(OSError):
                await _send(writer, {"type": "error", "message": str(exc)})
        except (OSError, asyncio.IncompleteReadError):
            pass  # the console went away (a dropped SSH connection): the run goes on
        finally:
            if console is not None:
                self._consoles.discard(console)
            writer.close()

    def _snapshot(self) -> list[dict[str, Any]]:
        return [self._encode(e) for e in self._memory.snapshot(self._redactor.redact_lines)]

    def _encode(self, event: ev.Event) -> dict[str, Any]:
        """Output lines come redacted already; every other event is redacted here."""
        data = encode_event(event)
        if isinstance(event, ev.OutputLines):
            return data
        clean = self._redactor.redact_obj(data)
        assert isinstance(clean, dict)
        return clean

    async def _pump(self, console: _Console) -> None:
        while True:
            await console.wake.wait()
            if console.too_slow:
                await _send(console.writer, {"type": "error", "message": "console too slow"})
                console.writer.close()
                return
            for event in console.next_batch():
                console.writer.write(pack({"type": "event", "event": self._encode(event)}))
            await console.writer.drain()

    async def _commands(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str
    ) -> None:
        while line := await reader.readline():
            message = check_command(parse(line))
            reply = self._command(message, who)
            answer = {"type": "reply", "id": message.get("id"), "ok": reply.ok, "text": reply.text}
            await _send(writer, answer)

    def _command(self, message: dict[str, Any], who: str) -> Reply:
        """``who`` is what SO_PEERCRED said (``attach:<uid>``), never what the console says.

        ``record`` is the socket's own (only a console reports what it did); every other
        command is the remote command set's, answered as Discord's is."""
        if message["command"] == "record":
            event = decode_event(message["event"])  # every field checked against its type
            if not isinstance(event, ev.RolledBack | ev.Notice):
                raise WireError(f"a console may not record {event.name}")
            self._emit(dataclasses.replace(event, ts=0.0))  # the engine's clock stamps it
            return Reply(text="recorded")
        command = Command(
            name=str(message["command"]),
            arg=str(message.get("patch_id", "")),
            reason=str(message.get("reason", "")),
        )
        return dispatch(self._controller, command, by=who)


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(pack(message))
    await writer.drain()
