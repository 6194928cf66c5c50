"""Which model is in service, and why, as every front end tells it: the headless line, the
console's model, ``phoenix status`` (RunView) and Discord's final embed."""

from __future__ import annotations

import json
from pathlib import Path

from tui_support import make_app, until

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import Phase, RunView
from phoenix_engine.errors import ExitCode
from phoenix_engine.remote.embeds import embed_for
from phoenix_engine.remote.wire import decode_event, encode_event
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.status import StatusBar
from phoenix_tui.console.view_model import Phase as ConsolePhase
from phoenix_tui.console.view_model import RunModel
from phoenix_tui.headless import describe

DONE = ev.RunCompleted(duration_s=60.0, restarts=0)
PASSED = ev.EvaluationFinished(
    candidate="out/final", passed=True, score=0.4, previous_score=0.5, reason="0.1 better"
)
PROMOTED = ev.ModelPromoted(
    path="models/current",
    candidate="out/final",
    previous="models/.current.versions/a-final",
    target="models/.current.versions/b-final",
    score=0.4,
)
KEPT = ev.PromotionSkipped(
    reason="score 0.6 is 0.1 (20.0%) worse than 0.5 in service",
    candidate="out/final",
    in_service="models/current -> models/.current.versions/a-final (score 0.5)",
)


def test_headless_lines() -> None:
    started = ev.EvaluationStarted(candidate="out/final", command="python eval.py out/final")
    assert describe(started) == ("", "evaluating out/final: `python eval.py out/final`")
    assert describe(PASSED) == ("", "evaluation passed for out/final: 0.1 better")
    colour, text = describe(PROMOTED) or ("", "")
    assert colour == "\x1b[32m"
    assert text.startswith("models/current now serves out/final (copy models/.current.versions/b")
    colour, text = describe(KEPT) or ("", "")
    assert colour == "\x1b[33m" and "not promoted: score 0.6" in text
    assert "in service: models/current -> models/.current.versions/a-final" in text
    back = ev.ModelPromoted(path="m", candidate="c", previous="b", target="a", by="rollback")
    assert describe(back) == ("\x1b[32m", "m rolled back to a (from c; was b)")


def test_status_says_which_model_is_in_service_and_why() -> None:
    view = RunView()
    view.apply(DONE)
    view.apply(ev.EvaluationStarted(candidate="out/final", command="python eval.py"))
    assert "evaluating out/final (PHOENIX_EVAL_CMD)" in view.summary()
    for event in (PASSED, PROMOTED):
        view.apply(event)
    assert "evaluating" not in view.summary()
    assert view.phase is Phase.COMPLETED
    assert "model in service: models/current -> out/final (phoenix, score 0.4)" in view.summary()
    kept = RunView()
    for event in (DONE, KEPT):
        kept.apply(event)
    summary = kept.summary()
    assert summary.startswith("phase: completed (not promoted: score 0.6 is 0.1 (20.0%) worse")
    assert "model in service: kept models/current -> models/.current.versions/a-final" in summary


def test_discord_final_embed_names_the_model_in_service() -> None:
    view = RunView()
    view.apply(PASSED)
    view.apply(PROMOTED)
    embed = embed_for(PROMOTED, view)
    assert embed is not None and embed["title"] == "Promoted out/final"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["in service"] == "`models/current` -> `models/.current.versions/b-final`"
    assert fields["score"] == "0.4" and fields["evaluation"] == "0.1 better"
    kept = embed_for(KEPT, view)
    assert kept is not None and kept["title"] == "Not promoted: out/final"
    assert kept["description"] == KEPT.reason
    assert kept["fields"][0]["value"] == KEPT.in_service
    assert embed_for(PASSED, view) is None  # the promotion's embed carries it


def test_console_model_keeps_the_reason() -> None:
    model = RunModel(max_retries=3, max_restarts=20, provider="builtin")
    for event in (DONE, KEPT):
        model.apply(event)
    assert model.phase is ConsolePhase.COMPLETED
    assert model.final_reason == f"not promoted: {KEPT.reason}"
    assert model.in_service.startswith("kept in service: models/current -> ")
    model.apply(PROMOTED)
    assert model.in_service == "in service: out/final (phoenix, score 0.4)"


async def test_console_status_bar_names_the_model_kept_in_service(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(200, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        engine.emit(DONE)
        engine.finish(ExitCode.NOT_PROMOTED, KEPT)
        await until(pilot, lambda: app.model.phase is ConsolePhase.COMPLETED)
        app.flush()
        await until(pilot, lambda: "kept in service" in str(app.query_one(StatusBar).render()))
        log = app.query_one(LogView)
        assert any("not promoted: score 0.6" in line for line in log.lines)


def test_an_attached_console_receives_the_new_events_intact() -> None:
    started = ev.EvaluationStarted(candidate="out/final", command="python eval.py out/final")
    for event in (started, PASSED, PROMOTED, KEPT):
        wire = json.loads(json.dumps(encode_event(event)))
        assert decode_event(wire) == event
