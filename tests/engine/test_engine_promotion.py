"""The engine after a clean completion: evaluate, promote or keep, and the exit code."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

from engine_support import Recorder
from fakes.discord_server import DiscordApp, DiscordServer
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.remote.discord_notify import DiscordNotifier

Make = Callable[..., Settings]
PY = sys.executable
TRAIN = """
import os, pathlib
pathlib.Path("out/final").mkdir(parents=True, exist_ok=True)
pathlib.Path("out/final/model.txt").write_text(os.environ["LOSS"])
print("step 1 loss", os.environ["LOSS"])
"""
EVAL = """
import sys, pathlib, time
print("evaluating", sys.argv[1])
if pathlib.Path("slow").exists():
    pathlib.Path("evaluating").touch()
    time.sleep(60)
print("eval_loss:", pathlib.Path(sys.argv[1], "model.txt").read_text())
"""


def settings(make_settings: Make, tmp_path: Path) -> Settings:
    (tmp_path / "evaluate.py").write_text(EVAL)
    (tmp_path / "models").mkdir(exist_ok=True)
    return make_settings(
        TRAIN,
        eval_cmd=f"{PY} evaluate.py {{checkpoint}}",
        eval_metric_regex=r"eval_loss: (\S+)",
        candidate_glob="out/final",
        promote_path="models/current",
    )


def night(s: Settings, loss: str, recorder: Recorder, **kw: bool) -> ExitCode:
    engine = Engine(s, env={**os.environ, "LOSS": loss}, sinks=[recorder], **kw)
    return asyncio.run(asyncio.wait_for(engine.run(), 30))


def test_completed_run_is_evaluated_then_promoted_or_kept(
    make_settings: Make, tmp_path: Path
) -> None:
    s = settings(make_settings, tmp_path)
    first = Recorder()
    assert night(s, "0.5", first) == ExitCode.COMPLETED
    assert first.names()[-5:] == [
        "process_exited",
        "run_completed",
        "evaluation_started",
        "evaluation_finished",
        "model_promoted",
    ]
    log = (s.state_dir / "train.log").read_text()
    assert log == "step 1 loss 0.5\nevaluating out/final\neval_loss: 0.5\n"
    worse = Recorder()
    assert night(s, "0.75", worse) == ExitCode.NOT_PROMOTED
    assert worse.names()[-1] == "promotion_skipped"
    finished = worse.of(ev.EvaluationFinished)[0]
    assert (finished.passed, finished.score, finished.previous_score) == (False, 0.75, 0.5)
    assert "0.25 (50.0%) worse" in finished.reason
    assert (tmp_path / "models" / "current" / "model.txt").read_text() == "0.5"


def test_not_promoted_ends_the_run_even_when_phoenix_would_wait_for_a_resume(
    make_settings: Make, tmp_path: Path
) -> None:
    s = settings(make_settings, tmp_path)
    (tmp_path / "evaluate.py").write_text("raise SystemExit(1)")
    recorder = Recorder()
    assert night(s, "0.5", recorder, hold_after_end=True) == ExitCode.NOT_PROMOTED
    assert "exited with code 1" in recorder.of(ev.PromotionSkipped)[0].reason


def test_a_stop_during_the_evaluation_stops_it(make_settings: Make, tmp_path: Path) -> None:
    s = settings(make_settings, tmp_path)
    (tmp_path / "slow").write_text("")
    recorder = Recorder()
    engine = Engine(s, env={**os.environ, "LOSS": "0.5"}, sinks=[recorder])

    async def scenario() -> ExitCode:
        task = asyncio.ensure_future(engine.run())
        evaluating = tmp_path / "evaluating"  # the evaluator has reached its long sleep
        await until(
            lambda: recorder.of(ev.EvaluationStarted) and evaluating.exists(),
            10,
            what="the evaluation to be under way",
        )
        engine.request_stop("test")
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(scenario()) == ExitCode.STOPPED
    assert recorder.names()[-3:] == ["evaluation_finished", "promotion_skipped", "stopped"]
    assert not (tmp_path / "models" / "current").exists()


def test_without_evaluation_settings_nothing_changes(make_settings: Make, tmp_path: Path) -> None:
    s = make_settings(TRAIN)
    recorder = Recorder()
    assert night(s, "0.5", recorder) == ExitCode.COMPLETED
    assert recorder.names()[-1] == "run_completed"


async def test_discord_last_message_names_the_model_kept_in_service(
    make_settings: Make, tmp_path: Path
) -> None:
    s = settings(make_settings, tmp_path)
    assert await Engine(s, env={**os.environ, "LOSS": "0.5"}).run() == ExitCode.COMPLETED
    app = DiscordApp()
    with DiscordServer(app) as server:
        engine = Engine(s, env={**os.environ, "LOSS": "0.9"})
        notifier = DiscordNotifier(server.webhook_url, redactor=Redactor(), emit=engine.emit)
        engine.add_sink(notifier)
        task = asyncio.create_task(notifier.run())
        code = await engine.run()
        await notifier.aclose()
        await task
    assert code == ExitCode.NOT_PROMOTED
    embeds = [e for post in app.webhook_posts for e in post["embeds"]]
    assert [e["title"] for e in embeds][-2:] == ["Training completed", "Not promoted: out/final"]
    last = embeds[-1]
    assert "0.4 (80.0%) worse than 0.5 in service" in last["description"]
    (field,) = last["fields"]
    assert field["name"] == "still in service"
    assert field["value"].startswith("models/current -> models/.current.versions/")
    assert "score 0.5" in field["value"]
