"""The console's pure view of a run: phases, patch states, loss history, GPU staleness."""

from __future__ import annotations

import math

import pytest

from phoenix_engine import events as ev
from phoenix_tui.console.view_model import (
    GpuModel,
    LossModel,
    PatchState,
    Phase,
    RunModel,
    duration,
)

P = ev.PatchProposed(id="p1", provider="gemini_cli", signature="sig1", paths=("a.py",), diff="d")
FAILURE = ev.Failure(kind="oom", signature="sig1", summary="CUDA out of memory")
REPAIR = ev.RepairRequested(signature="sig1", attempt=2, providers=("gemini_cli", "builtin"))
RESTART = ev.Restarting(
    attempt=2, max_attempts=3, restarts_used=5, max_restarts=20, cooldown_s=5, reason="x"
)


def fold(*events: ev.Event) -> RunModel:
    model = RunModel(max_retries=3, max_restarts=20, provider="gemini_cli")
    for event in events:
        model.apply(event)
    return model


@pytest.mark.parametrize(
    ("events", "phase"),
    [
        ((), Phase.STARTING),
        ((ev.ProcessStarted(pid=1, command="c", attempt=1),), Phase.RUNNING),
        ((ev.HangDetected(pid=1, silent_s=900, last_line=""),), Phase.HUNG),
        ((FAILURE,), Phase.FAILED),
        ((FAILURE, REPAIR), Phase.DIAGNOSING),
        ((FAILURE, REPAIR, P), Phase.VALIDATING),
        (
            (FAILURE, REPAIR, P, ev.ShadowPassed(id="p1"), ev.ApprovalRequested(id="p1")),
            Phase.AWAITING,
        ),
        (
            (
                FAILURE,
                REPAIR,
                P,
                ev.ApprovalRequested(id="p1"),
                ev.PatchRejected(id="p1", reason="no"),
            ),
            Phase.DIAGNOSING,
        ),
        ((FAILURE, RESTART), Phase.RESTARTING),
        ((FAILURE, ev.GaveUp(reason="budget spent")), Phase.GAVE_UP),
        ((ev.RunCompleted(duration_s=3, restarts=0),), Phase.COMPLETED),
        ((ev.Stopped(reason="operator"),), Phase.STOPPED),
    ],
)
def test_phase_follows_the_events(events: tuple[ev.Event, ...], phase: Phase) -> None:
    assert fold(*events).phase is phase


def test_a_stop_in_progress_is_ended_only_by_a_final_event() -> None:
    model = fold(ev.ProcessStarted(pid=1, command="c", attempt=1))
    model.stopping()
    model.apply(RESTART)
    assert model.phase is Phase.STOPPING
    model.apply(ev.Stopped(reason="operator"))
    assert model.phase is Phase.STOPPED
    model.stopping()  # a final phase stays final
    assert model.phase is Phase.STOPPED


def test_budgets_and_provider() -> None:
    model = fold(FAILURE, REPAIR)
    assert (model.attempt, model.provider) == (2, "gemini_cli")
    model.apply(ev.ProviderFailed(provider="gemini_cli", reason="503"))
    assert model.provider == "builtin"
    model.apply(RESTART)
    assert (model.attempt, model.max_attempts, model.restarts_used) == (2, 3, 5)


@pytest.mark.parametrize(
    ("events", "state", "reason"),
    [
        ((P,), PatchState.PROPOSED, ""),
        (
            (P, ev.PatchRejected(id="p1", reason="touches data/")),
            PatchState.REJECTED,
            "touches data/",
        ),
        (
            (P, ev.ShadowFailed(id="p1", reason="SyntaxError")),
            PatchState.SHADOW_FAILED,
            "SyntaxError",
        ),
        ((P, ev.ShadowPassed(id="p1")), PatchState.SHADOW_PASSED, ""),
        ((P, ev.ApprovalRequested(id="p1")), PatchState.AWAITING, ""),
        ((P, ev.PatchApplied(id="p1", backup_id="b1", paths=("a.py",))), PatchState.APPLIED, ""),
        (
            (P, ev.PatchApplied(id="p1", backup_id="b1", paths=(), dry_run=True)),
            PatchState.DRY_RUN,
            "",
        ),
        (
            (
                P,
                ev.PatchApplied(id="p1", backup_id="b1", paths=()),
                ev.RolledBack(backup_id="b1", paths=("a.py",)),
            ),
            PatchState.ROLLED_BACK,
            "",
        ),
    ],
)
def test_patch_states(events: tuple[ev.Event, ...], state: PatchState, reason: str) -> None:
    entry = fold(*events).patches["p1"]
    assert (entry.state, entry.reason, entry.provider) == (state, reason, "gemini_cli")


def test_a_reply_refused_before_it_became_a_proposal_is_listed_with_its_reason() -> None:
    model = fold(REPAIR, ev.PatchRejected(id="abc123", reason="unsafe path"))
    entry = model.patches["abc123"]
    assert (entry.state, entry.reason, entry.provider) == (
        PatchState.REJECTED,
        "unsafe path",
        "gemini_cli",
    )


def test_loss_history_keeps_only_finite_values_and_marks_divergence() -> None:
    loss = LossModel(keep=3)
    samples = [ev.MetricSample(step=i, loss=v) for i, v in enumerate([1.0, 0.5, math.nan])]
    samples += [ev.MetricSample(step=3, loss=math.inf), ev.MetricSample(step=4, loss=0.25)]
    samples += [ev.MetricSample(step=5, loss=None, lr=1e-3)]
    loss.add(samples)
    assert list(loss.history) == [1.0, 0.5, 0.25]
    assert loss.diverged == "diverged: loss inf at step 3"
    assert loss.last is not None and loss.last.step == 5


def test_anomalies_mark_divergence_or_warn() -> None:
    loss = LossModel()
    loss.anomaly(ev.Anomaly(kind="spike", step=40, detail="loss 9.1 is 12x the median"))
    assert (loss.diverged, loss.warning) == ("", "spike at step 40: loss 9.1 is 12x the median")
    loss.anomaly(ev.Anomaly(kind="nan", step=41, detail="loss nan"))
    assert loss.diverged == "diverged at step 41: loss nan"


def test_a_guard_holds_the_phase_until_it_clears() -> None:
    hot = ev.GuardTripped(guard="gpu_temp", reading=92, limit=90)
    model = fold(ev.ProcessStarted(pid=1, command="c", attempt=1), hot)
    assert model.phase is Phase.GUARDED and model.guard_note() == "gpu_temp 92 > 90"
    model.apply(ev.GuardCleared(guard="gpu_temp", reading=80, limit=90))
    assert model.phase is Phase.RESTARTING and model.guard_note() == ""


def test_gpu_sample_turns_stale() -> None:
    gpu = GpuModel(stale_after_s=6)
    assert not gpu.stale(100)
    gpu.update(ev.GpuStatus(source="none", reason="no driver"), now=100)
    assert not gpu.stale(106) and gpu.stale(106.5)
    assert gpu.age(110) == 10


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.9, "59s"), (61, "1m01s"), (3 * 3600 + 120, "3h02m")]
)
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_a_new_loss_segment_starts_the_sparkline_again() -> None:
    loss = LossModel()
    loss.add([ev.MetricSample(step=i, loss=1.0 / i) for i in range(1, 5)])
    loss.add(
        [ev.MetricSample(step=1, loss=9.0, segment=1), ev.MetricSample(step=2, loss=8.0, segment=1)]
    )
    assert list(loss.history) == [9.0, 8.0]  # the two runs are not glued together
    assert loss.warning == "restarted: the step count began again at step 1"
