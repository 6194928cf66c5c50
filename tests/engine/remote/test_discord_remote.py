"""Remote control against a loopback fake Discord: stale commands ignored, only allowed users
command (an unknown user's !stop does nothing), !accept resolves a real ApprovalDesk, every
command journaled, missing content intent detected, 429/5xx/401 handled; the EngineController's
refusals, rollback, tail, config; the parser; doctor rows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from engine_support import Recorder
from fakes.discord_server import (
    BOT_ID,
    BOT_TOKEN,
    WEBHOOK_TOKEN,
    DiscordApp,
    DiscordServer,
    Reply,
    rate_limited,
    scripted,
)
from virtual_time import VirtualTime
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_state import RunView
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.io.backups import apply_changes, create_backup
from phoenix_engine.remote.commands import Reply as Answer
from phoenix_engine.remote.controller import EngineController, doctor_lines
from phoenix_engine.remote.discord_poll import CONTENT_INTENT_HINT, RemoteControl, parse_command

START = ev.RunStarted(command="c", project="p", mode="auto", phoenix_pid=1)

pytestmark = pytest.mark.timeout(20)

ALICE, MALLORY = "111111111111111111", "666666666666666666"
SECRET = "sk-proj-REMOTEsecret0123456789abcdef"


class FakeController:
    """Records every call; answers with the method's name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Callable[..., Answer]:
        def method(*args: Any) -> Answer:
            self.calls.append((name, args))
            return Answer(text=f"{name} done")

        return method


def remote(
    server: DiscordServer,
    recorder: Recorder,
    controller: Any,
    vt: VirtualTime | None = None,
    **kw: Any,
) -> RemoteControl:
    vt = vt or VirtualTime()

    async def sleep(seconds: float) -> None:
        await vt.sleep(seconds)
        # A real delay, pacing only: the waits are virtual but every poll is a real request, and
        # without a pause the loop would flood the fake server's thread.
        await asyncio.sleep(0.002)

    return RemoteControl(
        api_base=server.api_base,
        token=kw.pop("token", BOT_TOKEN),
        channel_id=kw.pop("channel_id", "800000000000000001"),
        allowed_users=kw.pop("allowed_users", (ALICE,)),
        controller=controller,
        emit=recorder.emit,
        redactor=Redactor([SECRET]),
        clock=vt.clock,
        sleep=sleep,
        poll_s=5.0,
        timeout_s=5.0,
        **kw,
    )


@contextlib.asynccontextmanager
async def running(control: RemoteControl) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(control.run())
    try:
        await until(lambda: control.after is not None or task.done(), 3)
        yield task
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=2)


def polls(server: DiscordServer) -> int:
    return sum(1 for s in server.seen if s.method == "GET" and "messages" in s.path)


def commands(recorder: Recorder) -> list[tuple[str, str, bool]]:
    return [(e.user_id, e.command, e.allowed) for e in recorder.of(ev.RemoteCommand)]


async def test_stale_commands_are_ignored_and_new_ones_answered(recorder: Recorder) -> None:
    app, ctl = DiscordApp(), FakeController()
    app.post(ALICE, "!stop")  # yesterday's
    with DiscordServer(app) as server:
        control = remote(server, recorder, ctl)
        async with running(control):
            assert control.bot_id == BOT_ID
            app.post(ALICE, "!status")
            await until(lambda: len(app.bot_posts) == 1, 3)
    assert ctl.calls == [("status", ())]
    assert commands(recorder) == [(ALICE, "!status", True)]
    reply = app.bot_posts[0]
    assert reply["content"] == "status done"
    assert reply["allowed_mentions"] == {"parse": []}
    assert reply["message_reference"]["message_id"] == app.messages[1]["id"]
    gets = [s for s in server.seen if s.method == "GET" and "messages" in s.path]
    assert all(s.headers["authorization"] == f"Bot {BOT_TOKEN}" for s in gets)
    assert all(s.headers["user-agent"].startswith("DiscordBot (") for s in gets)


async def test_an_unknown_users_stop_does_nothing(recorder: Recorder) -> None:
    app, ctl = DiscordApp(), FakeController()
    with DiscordServer(app) as server:
        async with running(remote(server, recorder, ctl)):
            app.post(MALLORY, "!stop")
            app.post(MALLORY, "!stop")
            app.post(ALICE, "hello, not a command")
            app.post(ALICE, "!play despacito")  # another bot's command
            app.post(ALICE, "!tail 3")
            await until(lambda: len(commands(recorder)) == 3 and len(app.bot_posts) == 2, 3)
    assert ctl.calls == [("tail", (3,))]
    assert commands(recorder) == [
        (MALLORY, "!stop", False),
        (MALLORY, "!stop", False),
        (ALICE, "!tail 3", True),
    ]
    refused = recorder.of(ev.RemoteCommand)[0].reply
    assert "not in PHOENIX_DISCORD_ALLOWED_USERS" in refused
    assert [p["content"] for p in app.bot_posts] == [refused, "tail done"]  # told once


async def test_with_no_allowed_users_every_command_is_refused(recorder: Recorder) -> None:
    app, ctl = DiscordApp(), FakeController()
    with DiscordServer(app) as server:
        async with running(remote(server, recorder, ctl, allowed_users=())):
            app.post(ALICE, "!stop")
            await until(lambda: len(app.bot_posts) == 1, 3)
    assert ctl.calls == []
    assert commands(recorder) == [(ALICE, "!stop", False)]
    assert "PHOENIX_DISCORD_ALLOWED_USERS is empty" in app.bot_posts[0]["content"]
    assert "phoenix doctor" in app.bot_posts[0]["content"]


async def test_accept_from_an_allowed_user_approves_the_waiting_patch(
    recorder: Recorder, make_settings: Callable[..., Settings]
) -> None:
    desk = ApprovalDesk("manual")
    proposal = ev.PatchProposed(
        id="abc123def", provider="local", signature="s", paths=("train.py",), diff="-a\n+b"
    )
    waiting = asyncio.create_task(desk.approve(proposal))
    await until(lambda: bool(desk.pending), 3)
    engine = Engine(make_settings(), env={})
    ctl = EngineController(engine=engine, view=RunView(), desk=desk)
    app = DiscordApp()
    with DiscordServer(app) as server:
        async with running(remote(server, recorder, ctl)):
            app.post(MALLORY, "!accept abc123")
            app.post(ALICE, "!patches")
            app.post(ALICE, "!accept abc123")
            decision = await asyncio.wait_for(waiting, 3)
            await until(lambda: len(app.bot_posts) == 3, 3)
    assert decision.approved and decision.by == f"discord:{ALICE}"
    replies = [p["content"] for p in app.bot_posts]
    assert "waiting: abc123def from local: train.py" in replies[1]
    assert replies[2].startswith("accepted patch abc123")
    assert commands(recorder)[0] == (MALLORY, "!accept abc123", False)


async def test_missing_content_intent_is_detected_and_mentions_still_work(
    recorder: Recorder,
) -> None:
    app, ctl = DiscordApp(content_intent=False), FakeController()
    with DiscordServer(app) as server:
        control = remote(server, recorder, ctl)
        async with running(control):
            app.post(ALICE, "!status")
            app.post(ALICE, "!stop")
            app.post(ALICE, f"<@{BOT_ID}> !status")
            await until(lambda: len(app.bot_posts) == 2, 3)
    assert control.content_intent_missing
    assert commands(recorder) == [(ALICE, "", False), (ALICE, "!status", True)]
    assert recorder.of(ev.RemoteCommand)[0].reply == CONTENT_INTENT_HINT
    assert ctl.calls == [("status", ())]
    assert app.bot_posts[0]["content"] == CONTENT_INTENT_HINT


async def test_polling_honours_429_and_backs_off_a_5xx_outage(recorder: Recorder) -> None:
    vt, ctl = VirtualTime(), FakeController()
    polls = scripted(
        rate_limited(7.5),
        Reply(status=503),
        Reply(status=502),
        Reply(status=500),
        when=lambda s: s.method == "GET" and s.query.get("limit") == "100",
    )
    app = DiscordApp(hook=polls)
    with DiscordServer(app) as server:
        async with running(remote(server, recorder, ctl, vt)):
            app.post(ALICE, "!status")
            await until(lambda: len(app.bot_posts) == 1, 3)
    waits = vt.slept[:4]
    assert waits == [7.5, 10.0, 20.0, 40.0]
    (outage,) = recorder.of(ev.NotifyFailed)  # one event for the whole outage
    assert outage.channel == "discord_bot"
    assert outage.reason == "remote control cannot reach Discord (HTTP 503); retrying with backoff"
    assert ctl.calls == [("status", ())]


@pytest.mark.parametrize(
    ("kw", "status", "hint"),
    [
        (
            {"token": "MTExMTExMTExMTExMTExMTEx.Gwrong.wrong-token-0123456789abcdefghij"},
            401,
            "PHOENIX_DISCORD_BOT_TOKEN",
        ),
        ({"channel_id": "123"}, 404, "PHOENIX_DISCORD_CHANNEL_ID"),
    ],
)
async def test_a_bad_token_or_channel_stops_the_remote_with_one_event(
    recorder: Recorder, kw: dict[str, str], status: int, hint: str
) -> None:
    app = DiscordApp()
    with DiscordServer(app) as server:
        control = remote(server, recorder, FakeController(), **kw)
        await asyncio.wait_for(control.run(), 5)  # returns by itself
        requests = len(server.seen)
    assert control.disabled
    assert requests == (1 if status == 401 else 2)  # /users/@me, then the channel
    (failed,) = recorder.of(ev.NotifyFailed)
    assert f"HTTP {status}" in failed.reason and hint in failed.reason
    assert "wrong-token" not in failed.reason


async def test_own_replies_and_webhook_posts_are_not_commands(recorder: Recorder) -> None:
    app, ctl = DiscordApp(), FakeController()
    with DiscordServer(app) as server:
        async with running(remote(server, recorder, ctl)):
            app.post(ALICE, "!help")
            app.post("700000000000000001", "!stop", bot=True, webhook_id="700000000000000001")
            app.post("222", "!stop", bot=True)
            await until(lambda: len(app.bot_posts) == 1, 3)
            seen = polls(server)
            # Two more polls answered and read (a third has been sent) see the bot's own reply.
            await until(lambda: polls(server) >= seen + 3, 3, what="three more polls")
    assert commands(recorder) == [(ALICE, "!help", True)]
    assert app.bot_posts[0]["content"].startswith("Phoenix commands: !status")
    assert ctl.calls == []


async def test_replies_are_redacted_and_within_2000_characters(
    recorder: Recorder, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(
        DISCORD_BOT_TOKEN=BOT_TOKEN,
        DISCORD_ALLOWED_USERS=ALICE,
        FALLBACK_LLM_URL="https://bob:hunter2pass@llm.example/v1",
    )
    engine = Engine(settings, env={"OPENAI_API_KEY": SECRET})
    engine.tail.add("stdout", (f"loss 0.5 key={SECRET} " + "x" * 500 + "\n").encode() * 40)
    app = DiscordApp()
    ctl = EngineController(engine=engine, view=RunView())
    with DiscordServer(app) as server:
        async with running(remote(server, recorder, ctl)):
            app.post(ALICE, "!tail 100")
            app.post(ALICE, "!config")
            await until(lambda: len(app.bot_posts) == 2, 3)
    tail, config = (p["content"] for p in app.bot_posts)
    assert len(tail) <= 2000 and tail.startswith("```\n") and "[REDACTED]" in tail
    assert "PHOENIX_DISCORD_BOT_TOKEN=(set, hidden)" in config
    assert "PHOENIX_DISCORD_ALLOWED_USERS=" + ALICE in config
    assert "PHOENIX_FALLBACK_LLM_URL=https://[REDACTED]@llm.example/v1" in config
    for seen in server.seen:
        for secret in (SECRET, BOT_TOKEN, WEBHOOK_TOKEN, "hunter2pass"):
            assert secret.encode() not in seen.body


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("!status", ("status", "")),
        ("  !Accept abc123  ", ("accept", "abc123")),
        ("!tail 50", ("tail", "50")),
        (f"<@{BOT_ID}> !stop", ("stop", "")),
        (f"<@!{BOT_ID}> status", ("status", "")),
        ("status", None),
        ("!play music", None),
        ("<@555> !stop", None),  # a mention of someone else
        ("", None),
    ],
)
def test_parse_command(text: str, parsed: tuple[str, str] | None) -> None:
    command = parse_command(text, BOT_ID)
    assert (None if command is None else (command.name, command.arg)) == parsed


@dataclass(frozen=True)
class Change:
    path: str
    before: bytes | None
    after: bytes | None
    mode: int | None = None


def test_controller_refuses_what_is_unsafe_and_rolls_back_when_stopped(
    make_settings: Callable[..., Settings], tmp_path: Path, recorder: Recorder
) -> None:
    settings = make_settings("x = 1\n")
    engine = Engine(settings, env={}, sinks=[recorder])
    change = Change(path="train.py", before=b"x = 1\n", after=b"x = 2\n")
    record = create_backup(
        settings.state_dir,
        tmp_path,
        [change],
        proposal_id="p1",
        provider="t",
        signature="s",
        diagnosis="d",
    )
    apply_changes(tmp_path, [change], record, dry_run=False)
    view, resumed, stops = RunView(), [], []
    ctl = EngineController(engine=engine, view=view, resume=lambda by: resumed.append(by) or True)
    view.apply(ev.ProcessStarted(pid=1, command="c", attempt=1))
    assert ctl.rollback(record.id, "42").text.startswith("refused: the training is running")
    assert ctl.resume("42").text == "nothing to resume: the run is running"
    assert "stopping" in ctl.stop("42").text
    assert engine._stop.is_set() and engine._control.reason == "!stop from Discord user 42"
    view.apply(ev.Stopped(reason="stop"))
    refusal = ctl.stop("42")
    assert refusal.text == "nothing to stop: the run is stopped" and not refusal.ok
    reply = ctl.rollback(record.id[:10], "42")
    assert reply.ok and reply.text.startswith(f"rolled back {record.id} for 42: restored train.py")
    assert (tmp_path / "train.py").read_bytes() == b"x = 1\n"
    assert [e.backup_id for e in recorder.of(ev.RolledBack)] == [record.id]
    assert "rollback refused: no backup 'nope'" in ctl.rollback("nope", "42").text
    assert ctl.resume("42").text.startswith("resuming") and resumed == ["42"]
    assert ctl.resume("42").text == "already resuming: the training is about to start"
    assert ctl.rollback(record.id, "42").text.startswith("refused: the training is stopped")
    view.apply(START)
    view.apply(ev.GaveUp(reason="budget"))
    assert ctl.rollback(record.id, "42").text.startswith("rollback refused: backup")  # done
    assert ctl.accept("p1", "42").text == "no patch 'p1' waits for approval"
    held = EngineController(engine=engine, view=RunView(), stop=stops.append)
    held.stop("7")
    assert stops == ["!stop from Discord user 7"]
    leaving = EngineController(engine=engine, view=view, resume=lambda by: False)
    assert leaving.resume("42").text.startswith("could not resume")


def test_doctor_lines(make_settings: Callable[..., Settings]) -> None:
    off = doctor_lines(make_settings())
    assert [(name, ok) for name, ok, _ in off] == [
        ("discord notifications", True),
        ("discord remote control", True),
    ]
    half = doctor_lines(make_settings(DISCORD_BOT_TOKEN=BOT_TOKEN))
    assert half[1] == (
        "discord remote control",
        False,
        "off: PHOENIX_DISCORD_CHANNEL_ID is not set",
    )
    on = doctor_lines(make_settings(DISCORD_BOT_TOKEN=BOT_TOKEN, DISCORD_CHANNEL_ID="8"))
    users = dict((name, (ok, detail)) for name, ok, detail in on)["discord allowed users"]
    assert users[0] is False and "Developer Mode" in users[1] and "Copy User ID" in users[1]
    assert "Message Content Intent" in on[-1][2]
    allowed = make_settings(
        DISCORD_BOT_TOKEN=BOT_TOKEN,
        DISCORD_CHANNEL_ID="8",
        DISCORD_ALLOWED_USERS=f"{ALICE},{MALLORY}",
    )
    assert ("discord allowed users", True, "2 user(s) may command") in doctor_lines(allowed)
