"""Consoles attached to a running engine over engine.sock: snapshot, stream, commands,
a stuck console, garbage, another version, another user."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from collections.abc import Callable
from pathlib import Path

from engine_support import Recorder
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.remote.attach_client import (
    AttachedDesk,
    AttachedEngine,
    AttachError,
    query_status,
)
from phoenix_engine.remote.attach_server import socket_path
from phoenix_engine.remote.wire import pack
from phoenix_engine.services import add_services

Make = Callable[..., Settings]

TYPO = """
import time
print("step 1 loss 0.9", flush=True)
learning_rate = 0.1
print("step 2 loss", lerning_rate)
"""


def engine_with_socket(s: Settings, recorder: Recorder) -> tuple[Engine, ApprovalDesk]:
    desk = ApprovalDesk("manual")
    engine = Engine(s, env=os.environ, sinks=[recorder], approver=desk)
    add_services(engine, desk)
    return engine, desk


def test_attached_console_sees_the_run_and_its_accept_applies_the_patch(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(TYPO, patch_mode="auto", primary="builtin")
    engine, _ = engine_with_socket(s, recorder)
    seen = Recorder()

    async def scenario() -> ExitCode:
        run = asyncio.create_task(engine.run())
        await until(lambda: "approval_requested" in recorder.names(), 20, what="a patch waits")
        # a stuck console: says hello, then never reads a byte
        _stuck_r, stuck_w = await asyncio.open_unix_connection(str(socket_path(s.state_dir)))
        stuck_w.write(pack({"type": "hello", "version": 1}))
        attached = AttachedEngine(socket_path(s.state_dir))
        attached.add_sink(seen)
        follow = asyncio.create_task(attached.run())
        await until(lambda: "approval_requested" in seen.names(), 20, what="the snapshot arrived")
        proposed = seen.of(ev.PatchProposed)[0]
        assert AttachedDesk(attached).accept(proposed.id)
        code = await asyncio.wait_for(run, 30)
        assert await asyncio.wait_for(follow, 10) == ExitCode.COMPLETED
        stuck_w.close()
        return code

    assert asyncio.run(scenario()) == ExitCode.COMPLETED
    applied = recorder.of(ev.PatchApplied)
    assert applied and "lerning_rate" not in (s.project_dir / "train.py").read_text()
    assert applied[0].approved_by == f"attach:{os.getuid()}"  # from SO_PEERCRED
    journal = (s.state_dir / "run.log").read_text()
    assert f'"approved_by": "attach:{os.getuid()}"' in journal
    copies = list((s.state_dir / "backups").rglob("train.py"))  # the user's code, kept
    modes = {str(p): stat.S_IMODE(p.stat().st_mode) for p in s.state_dir.rglob("*")}
    assert copies and {p: m for p, m in modes.items() if m not in (0o600, 0o700)} == {}
    assert "run_completed" in seen.names() and "patch_applied" in seen.names()
    assert any("step 1 loss 0.9" in line for e in seen.of(ev.OutputLines) for line in e.lines)
    assert not socket_path(s.state_dir).exists()  # removed when the run ended


def test_socket_is_private_and_status_answers(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("import time\nprint('step 3 loss 0.5', flush=True)\ntime.sleep(30)\n")
    engine, _ = engine_with_socket(s, recorder)

    async def scenario() -> str:
        run = asyncio.create_task(engine.run())
        path = socket_path(s.state_dir)
        listening = lambda: "process_started" in recorder.names() and path.exists()  # noqa: E731
        await until(listening, 20, what="listening")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # The status view is a sink of the same emit, so it has the loss once the recorder has.
        parsed = lambda: any(m.loss == 0.5 for m in recorder.of(ev.MetricSample))  # noqa: E731
        await until(parsed, 20, what="the loss parsed")
        text = await query_status(path)
        engine.request_stop("test over", force=True)
        await asyncio.wait_for(run, 10)
        return text

    text = asyncio.run(scenario())
    assert "running" in text and "0.5" in text


def test_garbage_and_wrong_versions_get_an_error_not_a_crash(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings("import time\nprint('up', flush=True)\ntime.sleep(30)\n")
    engine, _ = engine_with_socket(s, recorder)

    async def talk(payload: bytes) -> bytes:
        reader, writer = await asyncio.open_unix_connection(str(socket_path(s.state_dir)))
        await reader.readline()  # the engine's hello
        writer.write(payload)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 5)  # then the engine closes
        writer.close()
        return answer

    async def scenario() -> list[bytes]:
        run = asyncio.create_task(engine.run())
        await until(lambda: socket_path(s.state_dir).exists(), 20, what="listening")
        answers = [
            await talk(b"\xff\xfe not json\n"),
            await talk(pack({"type": "hello", "version": 99})),
            await talk(pack({"type": "hello", "version": 1}) + b"[1, 2, 3]\n"),
            await talk(
                pack({"type": "hello", "version": 1})
                + pack({"type": "command", "command": "format_disk"})
            ),
        ]
        assert not run.done()  # the engine shrugged it all off
        engine.request_stop("test over", force=True)
        await asyncio.wait_for(run, 10)
        return answers

    answers = asyncio.run(scenario())
    assert b"not JSON" in answers[0]
    assert b"wire version 1, the console 99" in answers[1]
    assert b"JSON object" in answers[2].split(b"\n")[-2]
    assert b"unknown command 'format_disk'" in answers[3]


def test_another_user_is_refused(make_settings: Make, recorder: Recorder, tmp_path: Path) -> None:
    from phoenix_engine.core.run_state import RunView
    from phoenix_engine.remote.attach_server import AttachServer

    s = make_settings("print('x')\n")
    s.state_dir.mkdir(parents=True)
    server = AttachServer(
        state_dir=s.state_dir,
        emit=recorder.emit,
        request_stop=lambda reason: None,
        desk=None,
        view=RunView(),
        peer=lambda sock: (1, os.getuid() + 1),  # what SO_PEERCRED reports for someone else
    )

    async def scenario() -> None:
        serving = asyncio.create_task(server.run())
        await until(lambda: server.path.exists(), 20, what="listening")
        try:
            await AttachedEngine(server.path).run()
        except AttachError as exc:
            assert "only the engine's own user may attach" in str(exc)
        else:
            raise AssertionError("another user attached")
        await server.aclose()
        serving.cancel()

    asyncio.run(scenario())


def test_the_real_peer_credentials_are_read() -> None:
    from phoenix_engine.io.engine_socket import peer_credentials

    left, right = socket.socketpair(socket.AF_UNIX)
    try:  # the attach server's default ``peer``
        assert peer_credentials(left) == (os.getpid(), os.getuid())
    finally:
        left.close()
        right.close()


def test_no_engine_means_a_clear_attach_error(tmp_path: Path) -> None:
    try:
        asyncio.run(query_status(tmp_path / "engine.sock"))
    except AttachError as exc:
        assert "no phoenix engine answers" in str(exc)
    else:
        raise AssertionError("status answered without an engine")


def test_a_console_that_does_not_read_costs_a_bounded_buffer_and_sees_a_marker() -> None:
    from phoenix_engine.remote.attach_server import _Console

    console = _Console(writer=None, size=10, raw_bytes=1000)  # type: ignore[arg-type]
    for i in range(100):
        console.offer_output("stdout", f"line {i:03d} ".encode() * 5 + b"\n")
    skipped = console.skipped
    assert console.raw_size <= 1000 and skipped > 70
    batch = console.next_batch()
    assert isinstance(batch[0], ev.OutputLines)
    assert batch[0].lines == (f"… {skipped} lines skipped for this console (all are in train.log)",)
    lines = [line for e in batch[1:] if isinstance(e, ev.OutputLines) for line in e.lines]
    assert len(lines) + skipped == 100 and lines[-1].startswith("line 099")
    for i in range(20):  # milestones beyond the queue: the console is marked too slow
        console.offer(ev.Notice(message=str(i)))
    assert console.too_slow


def test_a_project_too_deep_for_a_unix_socket_still_gets_one(
    tmp_path: Path, recorder: Recorder
) -> None:
    from phoenix_engine.core.settings import resolve

    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 5)
    deep.mkdir(parents=True)
    (deep / "train.py").write_text("import time\nprint('up', flush=True)\ntime.sleep(30)\n")
    s = resolve(project_dir=deep, env={"PHOENIX_TRAIN_CMD": "python3 train.py"})
    path = socket_path(s.state_dir)
    assert len(str(path)) <= 100 and path != s.state_dir / "engine.sock"
    engine, _ = engine_with_socket(s, recorder)

    async def scenario() -> str:
        run = asyncio.create_task(engine.run())
        await until(lambda: path.exists() and "process_started" in recorder.names(), 20, what="up")
        text = await query_status(path)
        engine.request_stop("test over", force=True)
        await asyncio.wait_for(run, 10)
        return text

    assert asyncio.run(scenario()).startswith("phase: running")
    assert not [e for e in recorder.of(ev.Notice) if "background service" in e.message]


APPROVER = """
import json, socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.connect(sys.argv[1])
f = sock.makefile("rwb")
said = [f.readline()]
try:  # what a self-approving daemon would send
    for message in ({"type": "hello", "version": 1},
                    {"type": "command", "command": "accept", "patch_id": sys.argv[2]}):
        f.write(json.dumps(message).encode() + b"\\n")
        f.flush()
        said.append(f.readline())
except OSError:
    pass
print(b"".join(said).decode())
"""


def test_a_process_phoenix_started_cannot_approve_its_own_patch(
    make_settings: Make, recorder: Recorder
) -> None:
    """What code from a run (the training, a shadow test, a daemon they left that Phoenix
    inherited as subreaper) sees: the engine answers nothing but a refusal."""
    s = make_settings(TYPO, patch_mode="auto", primary="builtin")
    engine, desk = engine_with_socket(s, recorder)

    async def scenario() -> str:
        run = asyncio.create_task(engine.run())
        await until(lambda: "approval_requested" in recorder.names(), 20, what="a patch waits")
        (waiting,) = desk.pending
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            APPROVER,
            str(socket_path(s.state_dir)),
            waiting.id,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(child.communicate(), 20)
        # A real delay: a window in which the refused accept must not apply the patch.
        await asyncio.sleep(0.2)
        assert desk.pending == [waiting] and not recorder.of(ev.PatchApplied)
        assert desk.accept(waiting.id, by="console")  # the operator, in the console
        await asyncio.wait_for(run, 30)
        return out.decode()

    said = asyncio.run(scenario())
    assert "may not attach" in said and "snapshot" not in said
    (applied,) = recorder.of(ev.PatchApplied)
    assert applied.approved_by == "console"


def test_output_dropped_for_a_slow_console_never_leaves_half_a_secret() -> None:
    from phoenix_engine.core.redact import Redactor
    from phoenix_engine.remote.attach_server import _Console

    secret = "sekrit-value-123456"
    console = _Console(
        writer=None,  # type: ignore[arg-type]
        size=10,
        raw_bytes=64,
        redactor=Redactor([secret]),
    )
    console.offer_output("stderr", b"err: key=" + secret[:6].encode())  # a partial line...
    assert console.next_batch() == []  # ...its head waits in the splitter
    console.offer_output("stdout", b"out: key=" + secret[:9].encode())  # dropped below
    console.offer_output("stdout", secret[9:].encode() + b" rest\n" + b"y" * 30 + b"\n")
    console.offer_output("stderr", secret[6:].encode() + b"\n")
    lines = [
        line for e in console.next_batch() if isinstance(e, ev.OutputLines) for line in e.lines
    ]
    shown = "\n".join(lines)
    assert "y" * 30 in lines and "err: key=[REDACTED]" in lines
    assert secret[9:] not in shown and secret[6:] not in shown.replace("[REDACTED]", "")
    assert "lines skipped for this console" in lines[0]


def test_socket_commands_are_the_remote_command_set() -> None:
    """status, stop, accept and reject answer as Discord's do (one controller); the reply's
    ``ok`` says whether it did what was asked; approvals name ``attach:<uid>``."""
    import json
    import tempfile

    from phoenix_engine.core.run_state import RunView
    from phoenix_engine.remote.attach_server import AttachServer

    view, stops = RunView(), []
    view.apply(ev.ProcessStarted(pid=2, command="t", attempt=1))
    running = view.summary()
    desk = ApprovalDesk("manual")
    proposal = ev.PatchProposed(
        id="abc123def", provider="local", signature="s", paths=("train.py",), diff="-a\n+b"
    )
    commands = [
        {"command": "status"},
        {"command": "accept", "patch_id": "nope"},
        {"command": "reject", "patch_id": "abc123"},
        {"command": "stop"},
        {"command": "stop", "reason": "the operator pressed s"},
    ]

    async def scenario(state: Path) -> tuple[list[dict[str, object]], object]:
        waiting = asyncio.create_task(desk.approve(proposal))
        server = AttachServer(
            state_dir=state,
            emit=lambda e: None,
            request_stop=stops.append,
            desk=desk,
            view=view,
            peer=lambda sock: (1, os.getuid()),
        )
        serving = asyncio.create_task(server.run())
        await until(lambda: server.path.exists() and bool(desk.pending), 20, what="listening")
        reader, writer = await asyncio.open_unix_connection(str(server.path))
        await reader.readline()  # hello
        writer.write(pack({"type": "hello", "version": 1}))
        await reader.readline()  # snapshot
        replies = []
        for n, command in enumerate(commands, 1):
            if n == len(commands):
                view.apply(ev.Stopped(reason="stop"))
            writer.write(pack({"type": "command", "id": n, "who": "forged", **command}))
            await writer.drain()
            replies.append(json.loads(await asyncio.wait_for(reader.readline(), 5)))
        writer.close()
        await server.aclose()
        serving.cancel()
        return replies, await waiting

    with tempfile.TemporaryDirectory(prefix="phx") as state:  # short: an AF_UNIX path
        replies, decision = asyncio.run(scenario(Path(state)))
    who = f"attach:{os.getuid()}"
    assert [(r["type"], r["id"], r["ok"]) for r in replies] == [
        ("reply", 1, True),
        ("reply", 2, False),
        ("reply", 3, True),
        ("reply", 4, True),
        ("reply", 5, False),
    ]
    assert replies[0]["text"] == running and running.startswith("phase: running")
    assert replies[1]["text"] == "no patch 'nope' waits for approval (waiting: abc123def)"
    assert replies[2]["text"] == "rejected patch abc123"
    assert decision == ev.Decision(
        approved=False, reason=f"rejected from an attached console ({who})", by=who
    )
    assert replies[3]["text"] == "stopping the training"
    assert stops == [f"stopped from an attached console ({who})"]  # once: the run then ended
    assert replies[4]["text"] == "nothing to stop: the run is stopped"
