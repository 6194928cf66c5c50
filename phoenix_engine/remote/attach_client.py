"""The console's side of ``engine.sock``: an engine it can drive as if it were local.

:class:`AttachedEngine` has the engine methods a console uses (``run``, ``request_stop``,
``emit``, ``add_sink``); :class:`AttachedDesk` answers approvals through the socket.
``run`` replays the snapshot into the sinks, then streams events until the engine ends or
the console detaches; detaching never touches the run. A socket, or a process listening on
it, that belongs to another user is refused before a byte is read from it.
"""

from __future__ import annotations

__all__ = ["AttachError", "AttachedDesk", "AttachedEngine", "connect", "query_status"]

import asyncio
import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.errors import ExitCode, PhoenixError
from phoenix_engine.io.engine_socket import peer_credentials, trust_problem
from phoenix_engine.remote.wire import (
    MAX_LINE,
    VERSION,
    WireError,
    decode_event,
    encode_event,
    pack,
)
from phoenix_engine.remote.wire import parse_message as parse

_ENDINGS = {
    "run_completed": ExitCode.COMPLETED,
    "gave_up": ExitCode.GAVE_UP,
    "stopped": ExitCode.STOPPED,
}


class AttachError(PhoenixError):
    """No engine listens there, or it speaks another wire version."""

    exit_code = ExitCode.GAVE_UP


async def connect(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, list[Any]]:
    """Open the socket, exchange hellos, read the snapshot (a list of encoded events)."""
    problem = trust_problem(path, os.getuid())
    if problem:
        raise AttachError(problem)
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=MAX_LINE)
    except OSError as exc:
        raise AttachError(f"no phoenix engine answers at {path} ({exc.strerror or exc})") from exc
    sock = writer.get_extra_info("socket")
    creds = peer_credentials(sock) if sock is not None else None
    if creds is not None and creds[1] != os.getuid():
        writer.close()
        raise AttachError(
            f"refusing {path}: the process listening there (PID {creds[0]}) belongs to uid "
            f"{creds[1]}, not to you (uid {os.getuid()}); it is not a phoenix of yours"
        )
    try:
        hello = parse(await asyncio.wait_for(reader.readline(), 5))
        if hello.get("type") == "error":
            raise AttachError(f"the engine refused: {hello.get('message')}")
        if hello.get("version") != VERSION:
            raise AttachError(
                f"the engine speaks wire version {hello.get('version')}, this console {VERSION}: "
                "use the same phoenix version for both"
            )
        writer.write(pack({"type": "hello", "version": VERSION}))
        await writer.drain()
        snapshot = parse(await asyncio.wait_for(reader.readline(), 10))
        if snapshot.get("type") != "snapshot":
            raise AttachError(f"the engine refused: {snapshot.get('message', snapshot)}")
    except (WireError, TimeoutError, OSError) as exc:
        writer.close()
        raise AttachError(f"the engine at {path} did not answer properly: {exc}") from exc
    return reader, writer, list(snapshot.get("events", []))


async def query_status(path: Path) -> str:
    """The running engine's status summary (for ``phoenix status``)."""
    reader, writer, _ = await connect(path)
    try:
        writer.write(pack({"type": "command", "id": 1, "command": "status", "who": "status"}))
        await writer.drain()
        while line := await asyncio.wait_for(reader.readline(), 10):
            message = parse(line)
            if message.get("type") == "reply":
                return str(message.get("text", ""))
        raise AttachError("the engine closed the connection before answering")
    finally:
        writer.close()


class AttachedEngine:
    """A running engine seen through its socket."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sinks: list[ev.EventSink] = []
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._code = ExitCode.COMPLETED
        self.detached = False
        self.who = str(os.getpid())

    def add_sink(self, sink: ev.EventSink) -> None:
        self._sinks.append(sink)

    async def run(self) -> ExitCode:
        reader, self._writer, snapshot = await connect(self.path)
        for data in snapshot:
            self._deliver(data)
        try:
            while line := await reader.readline():
                message = parse(line)
                if message.get("type") == "event":
                    self._deliver(message["event"])
                elif message.get("type") == "error":
                    self._local(ev.Notice(message=f"engine: {message.get('message')}"))
        except (OSError, WireError) as exc:
            self._local(ev.Notice(message=f"connection to the engine lost: {exc}"))
        return self._code

    def detach(self) -> None:
        """Leave the run untouched."""
        self.detached = True
        if self._writer is not None:
            self._writer.close()

    def request_stop(self, reason: str, *, force: bool = False, leave: bool = True) -> None:
        self.send({"command": "stop", "reason": reason})

    @property
    def holding(self) -> bool:
        """A stopped engine's resume is Discord's (``!resume``), not an attached console's."""
        return False

    def resume(self, by: str = "operator") -> bool:
        return False

    def emit(self, event: ev.Event) -> None:
        """An event the console caused (a rollback it made): the engine journals it."""
        if isinstance(event, ev.RolledBack | ev.Notice):
            self.send({"command": "record", "event": encode_event(event)})
        else:
            self._local(event)

    def send(self, command: dict[str, Any]) -> None:
        if self._writer is None or self._writer.is_closing():
            return
        message = {"type": "command", "id": next(self._ids), "who": self.who, **command}
        with contextlib.suppress(OSError):
            self._writer.write(pack(message))

    def _deliver(self, data: dict[str, Any]) -> None:
        try:
            event = decode_event(data)
        except WireError as exc:
            event = ev.Notice(message=f"unreadable event from the engine: {exc}")
        if event.name in _ENDINGS:
            self._code = _ENDINGS[event.name]
        self._local(event)

    def _local(self, event: ev.Event) -> None:
        for sink in list(self._sinks):
            sink.emit(event)


class AttachedDesk(ApprovalDesk):
    """Approvals answered through the engine (its desk decides; this one only relays)."""

    def __init__(self, engine: AttachedEngine, setting: str = "manual") -> None:
        super().__init__(setting, default="manual")
        self._engine = engine

    def accept(self, patch_id: str, *, by: str = "operator") -> bool:
        self._engine.send({"command": "accept", "patch_id": patch_id})
        return True

    def reject(self, patch_id: str, *, by: str = "operator", reason: str = "rejected") -> bool:
        self._engine.send({"command": "reject", "patch_id": patch_id, "reason": reason})
        return True
