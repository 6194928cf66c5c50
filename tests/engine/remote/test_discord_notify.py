"""The Discord notifier against a loopback fake Discord: milestones delivered in order and within
Discord's limits; 429s, 5xx and outages waited out in virtual time; 401/403/404 disable the
webhook with one event; a hanging Discord never slows emit() or a real engine run; no secret in
any request body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from engine_support import Recorder
from fakes.discord_server import (
    BOT_TOKEN,
    WEBHOOK_TOKEN,
    DiscordApp,
    DiscordServer,
    Hang,
    Reply,
    Seen,
    json_reply,
    rate_limited,
    scripted,
)
from virtual_time import VirtualTime
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.remote.discord_notify import DiscordNotifier
from phoenix_engine.remote.embeds import fit

pytestmark = pytest.mark.timeout(20)

SECRET = "sk-proj-NOTIFYsecret0123456789abcdef"

STARTED = ev.RunStarted(command="python train.py", project="/p", mode="auto", phoenix_pid=1)
CRASH = ev.Failure(kind="exception", signature="abcdef0123456789", summary="KeyError: 'lr'")
PROPOSED = ev.PatchProposed(
    id="p1",
    provider="local",
    signature="abcdef",
    paths=("train.py",),
    diff="-a\n+b",
    diagnosis="typo",
)
APPLIED = ev.PatchApplied(id="p1", backup_id="b1", paths=("train.py",), approved_by="discord:42")
RESTART = ev.Restarting(
    attempt=1, max_attempts=3, restarts_used=1, max_restarts=20, cooldown_s=5.0, reason="patched"
)
DONE = ev.RunCompleted(duration_s=3725.0, restarts=1)
TITLES = ["Phoenix started", "Training crashed", "Patch p1 proposed by local", "Patch p1 applied"]


def notifier(
    url: str, recorder: Recorder, vt: VirtualTime | None = None, **kw: Any
) -> DiscordNotifier:
    vt = vt or VirtualTime()
    return DiscordNotifier(
        url,
        redactor=Redactor([SECRET]),
        emit=recorder.emit,
        clock=vt.clock,
        sleep=vt.sleep,
        timeout_s=kw.pop("timeout_s", 5.0),
        **kw,
    )


async def deliver(n: DiscordNotifier, events: Iterable[ev.Event], close_s: float = 5.0) -> None:
    """Queue ``events`` (one burst), run the sender, flush and close."""
    for event in events:
        n.emit(event)
    task = asyncio.create_task(n.run())
    await n.aclose(close_s)
    await asyncio.wait({task}, timeout=2)
    assert task.done()


def titles(app: DiscordApp) -> list[str]:
    return [e["title"] for post in app.webhook_posts for e in post["embeds"]]


def webhook_requests(server: DiscordServer) -> list[Seen]:
    return [s for s in server.seen if s.path.startswith("/api/webhooks/")]


def failures(recorder: Recorder) -> list[str]:
    return [e.reason for e in recorder.of(ev.NotifyFailed)]


def no_secret_in(texts: Iterable[str], server: DiscordServer) -> None:
    for text in texts:
        for secret in (server.webhook_url, WEBHOOK_TOKEN, SECRET, BOT_TOKEN):
            assert secret not in text


async def test_milestones_arrive_in_order_and_other_events_are_not_sent(recorder: Recorder) -> None:
    app = DiscordApp()
    lines = ev.OutputLines(stream="stdout", lines=("step 1",))
    metric = ev.MetricSample(step=100, total_steps=400, loss=0.4321)
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder)
        task = asyncio.create_task(n.run())
        for event in [STARTED, lines, CRASH, PROPOSED, metric, APPLIED, RESTART, DONE]:
            n.emit(event)
            await asyncio.sleep(0.01)  # emitted while the sender runs
        await n.aclose()
        await task
    assert titles(app) == [*TITLES, "Restarting: attempt 1/3", "Training completed"]
    (applied,) = [
        e for post in app.webhook_posts for e in post["embeds"] if "p1 applied" in e["title"]
    ]
    assert {f["name"]: f["value"] for f in applied["fields"]}["approved by"] == "discord:42"
    done = app.webhook_posts[-1]["embeds"][-1]
    assert {f["name"]: f["value"] for f in done["fields"]} == {
        "duration": "1h02m",
        "final loss": "0.4321",
        "restarts": "1",
    }
    seen = webhook_requests(server)
    assert all(s.query.get("wait") == "true" for s in seen)
    assert all(s.json["allowed_mentions"] == {"parse": []} for s in seen)
    assert failures(recorder) == []


async def test_a_burst_is_batched_ten_embeds_a_message_in_order(recorder: Recorder) -> None:
    app = DiscordApp()
    burst = [ev.Progress(step=i, loss=f"{i / 100:.2f}") for i in range(1, 26)]
    with DiscordServer(app) as server:
        await deliver(notifier(server.webhook_url, recorder), burst)
    assert [len(p["embeds"]) for p in app.webhook_posts] == [10, 10, 5]
    assert titles(app) == [f"Step {i}" for i in range(1, 26)]


async def test_content_stays_within_discords_limits(recorder: Recorder) -> None:
    app = DiscordApp()
    huge = [
        ev.Failure(
            kind="exception", signature="s" * 500, summary="x" * 20_000, location="y" * 3000
        ),
        ev.PatchProposed(
            id="i" * 400, provider="p", signature="s", paths=("f.py",) * 900, diff="```\n+" * 9000
        ),
        *[ev.GaveUp(reason="r" * 5000) for _ in range(12)],
    ]
    with DiscordServer(app) as server:
        await deliver(notifier(server.webhook_url, recorder), huge)
    assert len(titles(app)) == 14
    for post in app.webhook_posts:
        assert len(post["embeds"]) <= 10
        total = 0
        for e in post["embeds"]:
            assert len(e["title"]) <= 256 and len(e.get("description", "")) <= 4096
            assert len(e.get("fields", [])) <= 25
            for f in e.get("fields", []):
                assert len(f["name"]) <= 256 and len(f["value"]) <= 1024
                assert f["value"].count("```") % 2 == 0  # a code block the diff cannot break
            total += len(e["title"]) + len(e.get("description", ""))
            total += sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))
        assert total <= 6000


@pytest.mark.parametrize(
    ("limit", "wait"),
    [
        (rate_limited(2.5), 2.5),
        (rate_limited(3, in_body=False), 3.0),
        (rate_limited(1.25, is_global=True), 1.25),
    ],
)
async def test_429_waits_what_discord_asks(recorder: Recorder, limit: Reply, wait: float) -> None:
    app = DiscordApp(hook=scripted(limit))
    vt = VirtualTime()
    with DiscordServer(app) as server:
        await deliver(notifier(server.webhook_url, recorder, vt), [STARTED])
    assert vt.slept == [wait]
    assert titles(app) == ["Phoenix started"]
    assert len(webhook_requests(server)) == 2
    assert failures(recorder) == []


async def test_an_empty_bucket_pauses_before_the_next_message(recorder: Recorder) -> None:
    bucket = (("x-ratelimit-remaining", "0"), ("x-ratelimit-reset-after", "1.5"))
    app = DiscordApp(hook=scripted(json_reply({"id": "1"}, headers=bucket)))
    vt = VirtualTime()
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder, vt)
        task = asyncio.create_task(n.run())
        n.emit(STARTED)
        await until(lambda: n.sent == 1, 3.0)
        n.emit(CRASH)
        await n.aclose()
        await task
    assert vt.slept == [1.5]
    assert titles(app) == ["Training crashed"]  # the first reply was the hook's


async def test_5xx_backs_off_exponentially_then_delivers(recorder: Recorder) -> None:
    app = DiscordApp(hook=scripted(Reply(status=503), Reply(status=502), Reply(status=500)))
    vt = VirtualTime()
    with DiscordServer(app) as server:
        await deliver(notifier(server.webhook_url, recorder, vt), [STARTED])
    assert vt.slept == [2.0, 4.0, 8.0]
    assert titles(app) == ["Phoenix started"]
    assert failures(recorder) == []


async def test_a_message_is_dropped_after_max_attempts_with_one_event(recorder: Recorder) -> None:
    app = DiscordApp(hook=scripted(*[Reply(status=503, body=b'{"message": "overloaded"}')] * 5))
    vt = VirtualTime()
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder, vt, max_attempts=4, max_backoff_s=5.0)
        n.emit(STARTED)
        n.emit(CRASH)
        task = asyncio.create_task(n.run())
        await until(lambda: bool(failures(recorder)), 3.0)
        n.emit(DONE)
        await n.aclose()
        await task
    assert failures(recorder) == ["2 notifications dropped after 4 attempts: HTTP 503: overloaded"]
    assert vt.slept == [2.0, 4.0, 5.0, 5.0]  # the backoff carries over to the next message
    assert titles(app) == ["Training completed"]
    assert len(webhook_requests(server)) == 6


@pytest.mark.parametrize("status", [401, 403, 404])
async def test_401_403_404_disable_the_webhook_with_one_event(
    recorder: Recorder, status: int
) -> None:
    app = DiscordApp(hook=lambda seen: json_reply({"message": "Unknown Webhook"}, status))
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder)
        task = asyncio.create_task(n.run())
        n.emit(STARTED)
        n.emit(CRASH)
        await asyncio.wait_for(task, 5)  # the sender ends by itself
        n.emit(DONE)
        await n.aclose()
    assert len(webhook_requests(server)) == 1  # no hammering
    (reason,) = failures(recorder)
    assert f"HTTP {status} (Unknown Webhook)" in reason
    assert "Notifications are off for this run (2 dropped)" in reason
    assert "PHOENIX_DISCORD_WEBHOOK_URL" in reason
    assert n.disabled
    no_secret_in([reason], server)


async def test_a_wrong_webhook_url_is_named_without_leaking_it(recorder: Recorder) -> None:
    app = DiscordApp()
    with DiscordServer(app) as server:
        wrong = server.url + "/api/webhooks/1/wrong-token-abcdefgh"
        await deliver(notifier(wrong, recorder), [STARTED])
    (reason,) = failures(recorder)
    assert reason.startswith("Discord webhook answered HTTP 404 (Unknown Webhook)")
    assert wrong not in reason and "wrong-token-abcdefgh" not in reason


async def test_a_30_second_outage_delays_nothing_and_loses_nothing(recorder: Recorder) -> None:
    vt = VirtualTime()
    app = DiscordApp(hook=lambda seen: Reply(status=503) if vt.now < 30 else None)
    events = [STARTED, CRASH, PROPOSED, APPLIED]
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder, vt)
        task = asyncio.create_task(n.run())
        slowest = 0.0
        for event in events:
            before = time.perf_counter()
            n.emit(event)
            slowest = max(slowest, time.perf_counter() - before)
            await asyncio.sleep(0.01)  # the training goes on while Discord is down
        await n.aclose()
        await task
    assert slowest < 0.05  # microseconds in fact; the bound leaves room for a loaded machine
    assert vt.now >= 30  # the outage really lasted 30 (virtual) seconds
    assert titles(app) == TITLES
    assert len(webhook_requests(server)) > 2
    assert failures(recorder) == []


async def test_emit_of_1000_events_is_instant_while_discord_hangs(recorder: Recorder) -> None:
    app = DiscordApp(hook=lambda seen: Hang())
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder, max_queue=200)
        task = asyncio.create_task(n.run())
        n.emit(STARTED)
        await until(lambda: len(webhook_requests(server)) == 1, 3.0)  # the sender is stuck now
        before = time.perf_counter()
        for i in range(1000):
            n.emit(ev.Stopped(reason=f"m{i}") if i % 20 == 0 else ev.Progress(step=i, loss="0.1"))
        elapsed = time.perf_counter() - before
        assert n.queued == 200 and n.dropped == 800
        await n.aclose(0.2)
        await asyncio.wait({task}, timeout=2)
    assert elapsed < 0.5
    assert task.done()
    reasons = failures(recorder)
    assert reasons[0].startswith("800 notifications dropped: the queue of 200 was full")
    assert reasons[1].startswith("201 notifications not sent")  # 200 queued, 1 in flight


async def test_a_full_queue_drops_progress_first(recorder: Recorder) -> None:
    app = DiscordApp()
    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder, max_queue=20)
        for i in range(15):
            n.emit(ev.Progress(step=i, loss="1"))
        for i in range(10):
            n.emit(ev.Stopped(reason=f"m{i}"))
        await deliver(n, [])
    sent = titles(app)
    assert sent.count("Phoenix stopped") == 10
    assert [t for t in sent if t.startswith("Step")] == [f"Step {i}" for i in range(5, 15)]
    assert failures(recorder) == [
        "5 notifications dropped: the queue of 20 was full "
        "(Discord slow or down); progress messages went first"
    ]


async def test_no_secret_in_any_request_body(recorder: Recorder) -> None:
    app = DiscordApp()
    with DiscordServer(app) as server:
        leaky = [
            ev.Failure(kind="exception", signature="s", summary=f"bad key {SECRET}"),
            ev.PatchProposed(
                id="p", provider="x", signature="s", paths=("a.py",), diff=f"+KEY='{SECRET}'"
            ),
            ev.GaveUp(reason=f"posting to {server.webhook_url} failed"),
            ev.Stopped(reason=f"token {BOT_TOKEN}"),
        ]
        await deliver(notifier(server.webhook_url, recorder), leaky)
    bodies = [s.body.decode() for s in server.seen]
    assert len(bodies) == 1 and bodies[0].count("[REDACTED]") == 4
    no_secret_in(bodies, server)


async def test_emit_never_raises(recorder: Recorder) -> None:
    n = notifier("http://127.0.0.1:9/api/webhooks/1/t", recorder)
    broken: Any = ev.Failure(kind="exception", signature=None, summary="x")  # type: ignore[arg-type]
    n.emit(broken)
    assert n.queued == 0
    n.emit(CRASH)
    assert n.queued == 1


async def test_a_real_engine_run_is_not_slowed_by_a_hanging_discord(
    recorder: Recorder, make_settings: Callable[..., Settings]
) -> None:
    app = DiscordApp(hook=lambda seen: Hang())
    settings = make_settings("print('step 1 loss 0.5')\n")
    with DiscordServer(app) as server:
        engine = Engine(settings, env={}, sinks=[recorder])
        n = notifier(server.webhook_url, recorder)
        engine.add_sink(n)
        task = asyncio.create_task(n.run())
        before = time.perf_counter()
        code = await engine.run()
        elapsed = time.perf_counter() - before
        await n.aclose(0.2)
        await asyncio.wait({task}, timeout=2)
    assert code is ExitCode.COMPLETED
    assert elapsed < 4  # the hang lasts 10 s; the run does not wait for it
    assert len(webhook_requests(server)) == 1
    assert "notifications not sent" in failures(recorder)[-1]


async def test_a_real_engine_run_is_reported(
    recorder: Recorder, make_settings: Callable[..., Settings]
) -> None:
    app = DiscordApp()
    settings = make_settings("import sys; print('boom'); sys.exit(3)\n", MAX_RETRIES="0")
    with DiscordServer(app) as server:
        engine = Engine(settings, env={}, sinks=[recorder])
        n = notifier(server.webhook_url, recorder)
        engine.add_sink(n)
        task = asyncio.create_task(n.run())
        code = await engine.run()
        await n.aclose()
        await task
    assert code is ExitCode.GAVE_UP
    assert titles(app) == ["Phoenix started", "Training crashed", "Phoenix gave up"]


def test_fit_closes_a_code_block_it_cuts() -> None:
    long_block = "```diff\n" + "+x\n" * 600 + "```"
    (field,) = fit({"title": "t" * 300, "fields": [{"name": "diff", "value": long_block}]})[
        "fields"
    ]
    assert len(field["value"]) <= 1024 and field["value"].endswith("\n```")
    assert field["value"].count("```") == 2


async def test_the_last_message_carries_the_picture_of_the_night(recorder: Recorder) -> None:
    app = DiscordApp()
    drawn: list[int] = []

    def picture() -> bytes:
        drawn.append(1)
        return b"\x89PNG\r\n\x1a\nnight"

    with DiscordServer(app) as server:
        n = notifier(server.webhook_url, recorder, picture=picture)
        await deliver(n, [STARTED])
        n = notifier(server.webhook_url, recorder, picture=picture)
        await deliver(n, [CRASH, DONE])
    first, last = webhook_requests(server)
    assert not first.is_multipart and drawn == [1]  # drawn once, for the final message only
    assert last.is_multipart
    assert last.files["files[0]"].data == b"\x89PNG\r\n\x1a\nnight"
    assert last.files["files[0]"].filename == "night.png"
    assert last.files["files[0]"].content_type == "image/png"
    body = last.json
    assert body["attachments"] == [{"id": 0, "filename": "night.png"}]
    assert [e.get("image") for e in body["embeds"]] == [None, {"url": "attachment://night.png"}]
    assert app.webhook_files[-1]["files[0]"].data.startswith(b"\x89PNG")
    assert failures(recorder) == []


@pytest.mark.parametrize("event", [ev.GaveUp(reason="budget"), ev.Stopped(reason="SIGTERM")])
async def test_gave_up_and_stopped_carry_it_too(event: ev.Event, recorder: Recorder) -> None:
    app = DiscordApp()
    with DiscordServer(app) as server:
        await deliver(notifier(server.webhook_url, recorder, picture=lambda: b"png"), [event])
    (seen,) = webhook_requests(server)
    assert seen.files["files[0]"].data == b"png"


async def test_a_picture_that_cannot_be_drawn_leaves_the_message_as_it_was(
    recorder: Recorder,
) -> None:
    def broken() -> bytes:
        raise RuntimeError("no matplotlib")

    app = DiscordApp()
    with DiscordServer(app) as server:
        await deliver(notifier(server.webhook_url, recorder, picture=broken), [DONE])
    (seen,) = webhook_requests(server)
    assert not seen.is_multipart and seen.json["embeds"][0]["title"] == "Training completed"
    assert "image" not in seen.json["embeds"][0] and failures(recorder) == []


def test_containment_breach_is_a_milestone_for_the_owner() -> None:
    from phoenix_engine.core.run_state import RunView
    from phoenix_engine.remote.embeds import embed_for

    breach = ev.ContainmentBreach(
        ts=1.0,
        id="abc123",
        paths=("data/train.csv",),
        reason="containment breach: the shadow run changed 1 real path(s): data/train.csv",
        sandboxed=False,
    )
    embed = embed_for(breach, RunView())
    assert embed is not None and "Containment breach" in embed["title"]
    assert embed["color"] == 0xE74C3C
    assert any("data/train.csv" in f["value"] for f in embed["fields"])
