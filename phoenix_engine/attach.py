"""The engine's door for consoles: ``.phoenix_cli/engine.sock`` (mode 0600, same user only).

A console that connects says hello with the wire version, receives a snapshot (recent events,
log lines, metrics and the last GPU sample, replayable as events) and then the live stream.
It may send commands: accept, reject, stop, status, record (an event the console caused, e.g.
a rollback it performed). A slow or stuck console never slows the engine: each has a bounded
queue and a bounded buffer of raw output (split into lines only when sent), old output is
dropped for it with a visible "N lines skipped" marker, and GPU and metric samples keep only
the newest.
"""

from __future__ import annotations

__all__ = ["AttachServer", "socket_path"]

import asyncio
import contextlib
import hashlib
import os
import socket
import struct
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phoenix_engine import __version__
from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.lines import LineSplitter
from phoenix_engine.runview import RunView
from phoenix_engine.wire import MAX_LINE, VERSION, WireError, decode_event, encode_event, pack
from phoenix_engine.wire import parse_message as parse

_LATEST = (ev.GpuStatus, ev.MetricSample)
_RECENT_EVENTS = 400
_RECENT_LINES = 500
_HELLO_TIMEOUT_S = 5.0
_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def socket_path(state_dir: Path) -> Path:
    """``.phoenix_cli/engine.sock``; a project path too deep for a Unix socket (about 107
    bytes) gets a per-project socket in the temp directory instead, found the same way."""
    path = state_dir / "engine.sock"
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"phoenix-{os.getuid()}-{digest}.sock"


class _Console:
    """One attached console: its queue, its raw output buffer, what was dropped for it.

    Output arrives as raw chunks and is split into lines only when the console's pump sends
    it, so a console that reads nothing costs the engine an append per chunk, no more.
    """

    def __init__(self, writer: asyncio.StreamWriter, size: int, raw_bytes: int) -> None:
        self.writer = writer
        # Each event with the number of output chunks that arrived before it: a batch puts
        # it among the lines in the order they happened (a traceback, then the failure).
        self.queue: asyncio.Queue[tuple[int, ev.Event]] = asyncio.Queue(size)
        self.chunks_in = self.chunks_out = 0
        self.latest: dict[type[ev.Event], ev.Event] = {}
        self.raw: deque[tuple[str, bytes]] = deque()
        self.raw_size, self.raw_cap = 0, raw_bytes
        self.splitters: dict[str, LineSplitter] = {}
        self.wake = asyncio.Event()
        self.skipped = 0
        self.too_slow = False

    def offer(self, event: ev.Event) -> None:
        """Never blocks: the engine calls this for every event."""
        if isinstance(event, _LATEST):
            self.latest[type(event)] = event
        elif not isinstance(event, ev.OutputLines):  # lines come raw, through offer_output
            try:
                self.queue.put_nowait((self.chunks_in, event))
            except asyncio.QueueFull:
                self.too_slow = True  # it missed a milestone: it must reconnect for a snapshot
        self.wake.set()

    def offer_output(self, stream: str, data: bytes) -> None:
        self.raw.append((stream, data))
        self.chunks_in += 1
        self.raw_size += len(data)
        while self.raw_size > self.raw_cap and len(self.raw) > 1:
            _, old = self.raw.popleft()
            self.chunks_out += 1
            self.raw_size -= len(old)
            self.skipped += old.count(b"\n")
            self.splitters.clear()  # the next line starts mid-way: better cut than spliced
        self.wake.set()

    def next_batch(self) -> list[ev.Event]:
        batch = [*self.latest.values()]
        self.latest.clear()
        events: deque[tuple[int, ev.Event]] = deque()
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        if self.skipped:
            text = f"… {self.skipped} lines skipped for this console (all are in train.log)"
            batch.append(ev.OutputLines(stream="phoenix", lines=(text,)))
            self.skipped = 0
        while self.raw:
            while events and events[0][0] <= self.chunks_out:  # came before this chunk
                batch.append(events.popleft()[1])
            stream, data = self.raw.popleft()
            self.chunks_out += 1
            lines = self.splitters.setdefault(stream, LineSplitter()).feed(data)
            if lines:
                batch.append(ev.OutputLines(stream=stream, lines=tuple(lines)))
        batch.extend(event for _, event in events)
        self.raw_size = 0
        self.wake.clear()
        return batch


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
        peer_uid: Callable[[socket.socket], int | None] | None = None,
    ) -> None:
        self.path = socket_path(state_dir)
        self._emit, self._stop = emit, request_stop
        self._desk, self._view = desk, view
        self._recent_lines = recent_lines
        self._raw_bytes = raw_bytes
        self._queue_size = queue_size
        self._peer_uid = peer_uid or _peer_uid
        self._consoles: set[_Console] = set()
        # Each recent event with the number of output lines seen before it, so that the
        # snapshot puts the events among the log lines in the order they happened.
        self._recent: deque[tuple[int, ev.Event]] = deque(maxlen=_RECENT_EVENTS)
        self._newlines = 0
        self._started: ev.Event | None = None  # kept: the console shows the run's age
        self._metrics: deque[ev.Event] = deque(maxlen=200)
        self._gpu: ev.Event | None = None
        self._server: asyncio.AbstractServer | None = None

    # --- sink ---------------------------------------------------------------------------------

    def emit(self, event: ev.Event) -> None:
        if isinstance(event, ev.MetricSample):
            self._metrics.append(event)
        elif isinstance(event, ev.GpuStatus):
            self._gpu = event
        elif isinstance(event, ev.RunStarted):
            self._started = event
        elif event.journal:
            self._recent.append((self._newlines, event))
        for console in list(self._consoles):
            console.offer(event)

    def output(self, stream: str, data: bytes) -> None:
        """The engine's output hook: raw chunks, handed to each console's own buffer."""
        self._newlines += data.count(b"\n")
        for console in self._consoles:
            console.offer_output(stream, data)

    # --- service ------------------------------------------------------------------------------

    async def run(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # a socket left by a phoenix that died (we hold the lock)
        old = os.umask(0o177)  # created 0600: no window in which others could connect
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.path), limit=MAX_LINE
            )
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        await self._server.serve_forever()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for console in list(self._consoles):
            console.writer.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # --- one console --------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and self._peer_uid(sock) not in (None, os.getuid()):
            await _send(
                writer, {"type": "error", "message": "only the engine's own user may attach"}
            )
            writer.close()
            return
        await _send(writer, {"type": "hello", "version": VERSION, "phoenix": __version__})
        console: _Console | None = None
        try:
            hello = parse(await asyncio.wait_for(reader.readline(), _HELLO_TIMEOUT_S))
            if hello.get("type") != "hello" or hello.get("version") != VERSION:
                theirs = hello.get("version", "?")
                raise WireError(f"this engine speaks wire version {VERSION}, the console {theirs}")
            console = _Console(writer, self._queue_size, self._raw_bytes)
            await _send(writer, {"type": "snapshot", "events": self._snapshot()})
            self._consoles.add(console)
            pump = asyncio.ensure_future(self._pump(console))
            try:
                await self._commands(reader, writer)
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
        events: list[ev.Event] = [self._started] if self._started is not None else []
        lines = self._recent_lines(_RECENT_LINES)
        first = self._newlines - len(lines)  # the number of the oldest line in ``lines``
        taken = 0
        for mark, event in self._recent:  # the lines before each event, then the event
            upto = min(len(lines), max(taken, mark - first))
            if upto > taken:
                events.append(ev.OutputLines(stream="stdout", lines=tuple(lines[taken:upto])))
                taken = upto
            events.append(event)
        if taken < len(lines):
            events.append(ev.OutputLines(stream="stdout", lines=tuple(lines[taken:])))
        events += list(self._metrics)
        if self._gpu is not None:
            events.append(self._gpu)
        return [encode_event(e) for e in events]

    async def _pump(self, console: _Console) -> None:
        while True:
            await console.wake.wait()
            if console.too_slow:
                await _send(console.writer, {"type": "error", "message": "console too slow"})
                console.writer.close()
                return
            for event in console.next_batch():
                console.writer.write(pack({"type": "event", "event": encode_event(event)}))
            await console.writer.drain()

    async def _commands(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            message = parse(line)
            if message["type"] != "command":
                raise WireError(f"unexpected message type {message['type']!r}")
            ok, text = self._command(message)
            await _send(writer, {"type": "reply", "id": message.get("id"), "ok": ok, "text": text})

    def _command(self, message: dict[str, Any]) -> tuple[bool, str]:
        name, who = str(message.get("command")), f"console:{message.get('who', '?')}"
        if name == "status":
            return True, self._view.summary()
        if name == "stop":
            self._stop(str(message.get("reason") or f"stopped from an attached {who}"))
            return True, "stopping the training"
        if name in ("accept", "reject") and self._desk is not None:
            patch = str(message.get("patch_id", ""))
            if name == "accept":
                done = self._desk.accept(patch, by=who)
            else:
                done = self._desk.reject(patch, by=who, reason=str(message.get("reason", "")))
            return done, f"{name}ed {patch}" if done else f"no patch {patch!r} is waiting"
        if name == "record":
            event = decode_event(dict(message.get("event") or {}))
            if not isinstance(event, ev.RolledBack | ev.Notice):
                raise WireError(f"a console may not record {event.name}")
            self._emit(event)
            return True, "recorded"
        raise WireError(f"unknown command {name!r}")


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(pack(message))
    await writer.drain()


def _peer_uid(sock: socket.socket) -> int | None:
    """The connecting process's user (Linux SO_PEERCRED); None where the OS cannot say."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)
