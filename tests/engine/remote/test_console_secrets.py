"""What reaches a console, with a real engine: no secret (even one split across two reads),
a private state directory, a redacted state.json, and a journal that a console cannot break."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable

from engine_support import PY, Recorder
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.redact import MASK
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.remote.attach_client import AttachedEngine, connect
from phoenix_engine.remote.attach_server import socket_path
from phoenix_engine.remote.wire import decode_event, pack
from phoenix_engine.services import add_services

Make = Callable[..., Settings]
SECRET = "sekrit-value-123456"
GOOGLE = "AIzaSyDUMMYdummyDUMMYdummyDUMMYdummy123"  # a shape, in no variable

SPLIT = f"""
import os, sys, time
w = sys.stdout
w.write("step 1 loss 0.5\\n"); w.flush()
while not os.path.exists("go"):
    time.sleep(0.02)
w.write("connecting with key={SECRET[:9]}"); w.flush()
time.sleep(0.4)  # two reads for Phoenix, one line for the screen
w.write("{SECRET[9:]} and {GOOGLE[:20]}"); w.flush()
time.sleep(0.4)
w.write("{GOOGLE[20:]} done\\n"); w.flush()
print("ready", flush=True)
time.sleep(60)
"""


def lines_of(events: list[ev.Event]) -> list[str]:
    return [line for e in events if isinstance(e, ev.OutputLines) for line in e.lines]


def test_no_console_sees_a_secret_even_split_across_two_reads(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings(SPLIT)
    env = {**os.environ, "MY_API_KEY": SECRET}
    desk = ApprovalDesk("manual")
    engine = Engine(s, env=env, sinks=[recorder], approver=desk, want_lines=True)
    add_services(engine, desk)
    live = Recorder()

    async def scenario() -> list[ev.Event]:
        run = asyncio.create_task(engine.run())
        await until(lambda: "step 1 loss 0.5" in lines_of(recorder.events), 20, what="first line")
        attached = AttachedEngine(socket_path(s.state_dir))
        attached.add_sink(live)
        follow = asyncio.create_task(attached.run())
        await until(lambda: "step 1 loss 0.5" in lines_of(live.events), 20, what="attached")
        (s.project_dir / "go").touch()
        await until(lambda: "ready" in lines_of(live.events), 20, what="the secret went by")
        _, writer, snapshot = await connect(socket_path(s.state_dir))  # a late console
        writer.close()
        engine.request_stop("test over", force=True)
        await asyncio.wait_for(run, 15)
        await asyncio.wait_for(follow, 10)
        return [decode_event(data) for data in snapshot]

    snapshot = asyncio.run(scenario())
    expected = f"connecting with key={MASK} and {MASK} done"
    for who, events in (("console", recorder.events), ("attached", live.events)):
        shown = "\n".join(lines_of(events))
        assert expected in shown.splitlines(), who
        assert SECRET[:9] not in shown and SECRET[9:] not in shown, who
        assert GOOGLE[:20] not in shown and GOOGLE[20:] not in shown, who
    replay = "\n".join(lines_of(snapshot))
    assert "step 1 loss 0.5" in replay and expected in replay.splitlines()
    assert SECRET not in replay and GOOGLE not in replay


def test_the_state_dir_is_private_and_state_json_keeps_no_secret(
    make_settings: Make, recorder: Recorder
) -> None:
    script = "import time\nprint('up', flush=True)\ntime.sleep(60)\n"
    s = make_settings(script, train_cmd=f"{PY} train.py --token {SECRET}")
    s.state_dir.mkdir(mode=0o755)
    s.state_dir.chmod(0o755)  # as an older Phoenix left it
    (s.state_dir / "train.log.1").write_text("old output\n")
    (s.state_dir / "train.log.1").chmod(0o644)
    engine = Engine(s, env={**os.environ, "RUN_TOKEN": SECRET}, sinks=[recorder])
    add_services(engine, None)

    async def scenario() -> str:
        run = asyncio.create_task(engine.run())
        state = s.state_dir / "state.json"
        await until(lambda: "up" in engine.tail.lines(5) and state.exists(), 20, what="running")
        text = state.read_text()
        engine.request_stop("test over", force=True)
        await asyncio.wait_for(run, 15)
        return text

    saved = asyncio.run(scenario())
    assert SECRET not in saved and "train.py --token" in saved
    assert stat.S_IMODE(s.state_dir.stat().st_mode) == 0o700
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in s.state_dir.rglob("*")}
    assert {"run.log", "train.log", "state.json", "train.lock", "train.log.1"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o600} == {}


def test_a_malformed_record_gets_an_error_and_the_journal_keeps_writing(
    make_settings: Make, recorder: Recorder
) -> None:
    s = make_settings("import time\nprint('up', flush=True)\ntime.sleep(60)\n")
    engine = Engine(s, env=os.environ, sinks=[recorder])
    add_services(engine, None)
    bad = [
        {"event": "notice", "message": "x", "ts": "yesterday"},
        {"event": "notice", "message": "x", "ts": 1e400},
        {"event": "notice", "message": {"nested": 1}},
        {"event": "rolled_back", "backup_id": "b", "paths": 5},
        "not an object",
    ]

    async def record(event: object) -> bytes:
        reader, writer = await asyncio.open_unix_connection(str(socket_path(s.state_dir)))
        await reader.readline()  # hello
        writer.write(pack({"type": "hello", "version": 1}))
        await reader.readline()  # snapshot
        writer.write(pack({"type": "command", "id": 1, "command": "record", "event": event}))
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 5)
        writer.close()
        return answer

    async def scenario() -> list[bytes]:
        run = asyncio.create_task(engine.run())
        await until(lambda: "up" in engine.tail.lines(5), 20, what="running")
        answers = [await record(event) for event in bad]
        good = {"event": "notice", "message": "recorded by a console", "ts": 2.0}
        answers.append(await record(good))
        engine.request_stop("test over", force=True)
        await asyncio.wait_for(run, 15)
        return answers

    answers = asyncio.run(scenario())
    for answer in answers[:-1]:
        assert json.loads(answer)["type"] == "error", answer
    assert json.loads(answers[-1]) == {"type": "reply", "id": 1, "ok": True, "text": "recorded"}
    journal = [json.loads(line) for line in (s.state_dir / "run.log").read_text().splitlines()]
    names = [row["event"] for row in journal]
    assert names[-1] == "stopped"  # the journal sink is still there
    (note,) = [row for row in journal if row.get("message") == "recorded by a console"]
    assert note["ts"] != "1970-01-01T00:00:02.000Z"  # stamped by the engine, not the console
    assert not [e for e in recorder.of(ev.Notice) if "sink failed" in e.message]
