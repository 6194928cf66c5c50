"""What an attaching console receives first: the run's start, then the journal's events
among the log lines in the order they happened (not all events, then all lines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.io.output import OutputTail
from phoenix_engine.remote.attach_server import AttachServer
from phoenix_engine.remote.wire import decode_event


class _View:
    def summary(self, now: float | None = None) -> str:
        return ""


def _server(tmp_path: Path, tail: OutputTail) -> AttachServer:
    return AttachServer(
        state_dir=tmp_path,
        emit=lambda e: None,
        request_stop=lambda reason: None,
        desk=None,
        view=_View(),  # type: ignore[arg-type]
        recent_lines=tail.lines,
    )


def _say(server: AttachServer, tail: OutputTail, text: str) -> None:
    data = text.encode()
    tail.add("stdout", data)
    server.output("stdout", data)


def _flat(snapshot: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for data in snapshot:
        event = decode_event(data)
        if isinstance(event, ev.OutputLines):
            out.extend(event.lines)
        else:
            out.append(event.name)
    return out


def test_the_snapshot_keeps_time_order(tmp_path: Path) -> None:
    tail = OutputTail()
    server = _server(tmp_path, tail)
    server.emit(ev.RunStarted(command="t", project="p", mode="auto", phoenix_pid=1))
    for n in range(500):  # enough for "run_started" to leave the recent events' window
        server.emit(ev.Notice(message=f"n{n}"))
    server.emit(ev.ProcessStarted(pid=2, command="t", attempt=1))
    _say(server, tail, "step 1\nstep 2\n")
    server.emit(ev.Failure(kind="exception", signature="s", summary="NameError"))
    _say(server, tail, "Traceback\n")
    server.emit(
        ev.Restarting(
            attempt=1, max_attempts=3, restarts_used=1, max_restarts=5, cooldown_s=0, reason="r"
        )
    )
    _say(server, tail, "step 1 again\n")
    flat = _flat(server._snapshot())
    assert flat[0] == "run_started"  # always there: the console shows the run's age
    start = flat.index("process_started")
    assert flat[start:] == [
        "process_started",
        "step 1",
        "step 2",
        "failure",
        "Traceback",
        "restarting",
        "step 1 again",
    ]


def test_a_live_batch_keeps_time_order_too() -> None:
    from phoenix_engine.remote.attach_server import _Console

    console = _Console(writer=None, size=10, raw_bytes=1000)  # type: ignore[arg-type]
    console.offer(ev.ProcessStarted(pid=2, command="t", attempt=1))
    console.offer_output("stderr", b"Traceback\nNameError: x\n")
    console.offer(ev.Failure(kind="exception", signature="s", summary="NameError"))
    console.offer_output("stdout", b"after\n")
    flat: list[str] = []
    for event in console.next_batch():
        flat += list(event.lines) if isinstance(event, ev.OutputLines) else [event.name]
    assert flat == ["process_started", "Traceback", "NameError: x", "failure", "after"]
