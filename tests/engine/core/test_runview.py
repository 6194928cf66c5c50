"""RunView: phases from event sequences, budgets, metrics, pending patches, the summary."""

from __future__ import annotations

import pytest

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import Phase, RunView, duration

START = ev.RunStarted(command="python train.py", project="/p", mode="auto", phoenix_pid=1, ts=100.0)
PROC = ev.ProcessStarted(pid=10, command="python train.py", attempt=1)
EXIT = ev.ProcessExited(pid=10, returncode=1, signal=None, duration_s=3.0)
HANG = ev.HangDetected(pid=10, silent_s=900.0, last_line="step 5")
FAIL = ev.Failure(kind="exception", signature="abcdef0123456789", summary="KeyError: 'lr'")
REPAIR = ev.RepairRequested(signature="abcdef0123456789", attempt=2, providers=("gemini", "local"))
PROPOSED = ev.PatchProposed(
    id="p1", provider="local", signature="s", paths=("t.py",), diff="-a\n+b"
)
WAIT = ev.ApprovalRequested(id="p1")
APPLIED = ev.PatchApplied(id="p1", backup_id="b1", paths=("t.py",))
REJECTED = ev.PatchRejected(id="p1", reason="not approved")
RESTART = ev.Restarting(
    attempt=2, max_attempts=3, restarts_used=4, max_restarts=20, cooldown_s=5.0, reason="patched"
)
GAVE_UP = ev.GaveUp(reason="retry budget spent", signature="s")
DONE = ev.RunCompleted(duration_s=60.0, restarts=1)
STOPPED = ev.Stopped(reason="!stop from Discord user 42")


@pytest.mark.parametrize(
    ("events", "phase"),
    [
        ([], Phase.STARTING),
        ([START], Phase.STARTING),
        ([START, PROC], Phase.RUNNING),
        ([START, PROC, HANG], Phase.HUNG),
        ([START, PROC, HANG, EXIT, FAIL], Phase.FAILED),
        ([START, PROC, EXIT, FAIL, REPAIR], Phase.DIAGNOSING),
        ([START, PROC, EXIT, FAIL, REPAIR, PROPOSED], Phase.VALIDATING),
        ([START, PROC, EXIT, FAIL, REPAIR, PROPOSED, WAIT], Phase.AWAITING),
        ([START, PROC, EXIT, FAIL, REPAIR, PROPOSED, WAIT, REJECTED], Phase.DIAGNOSING),
        ([START, PROC, EXIT, FAIL, REPAIR, PROPOSED, WAIT, APPLIED, RESTART], Phase.RESTARTING),
        ([START, PROC, EXIT, FAIL, RESTART, PROC], Phase.RUNNING),
        ([START, PROC, EXIT, FAIL, GAVE_UP], Phase.GAVE_UP),
        ([START, PROC, EXIT, DONE], Phase.COMPLETED),
        ([START, PROC, WAIT, STOPPED], Phase.STOPPED),
        ([START, PROC, STOPPED, START], Phase.STARTING),  # a resume starts over
    ],
)
def test_phase_follows_the_events(events: list[ev.Event], phase: Phase) -> None:
    view = RunView()
    for event in events:
        view.apply(event)
    assert view.phase is phase


def fold(*events: ev.Event) -> RunView:
    view = RunView(max_attempts=3, max_restarts=20)
    for event in events:
        view.apply(event)
    return view


def test_a_run_view_is_an_event_sink(recorder: object) -> None:
    view = RunView()
    sink: ev.EventSink = view
    sink.emit(PROC)
    assert view.phase is Phase.RUNNING


def test_budgets_provider_failure_and_pending() -> None:
    failed_over = ev.ProviderFailed(provider="gemini", reason="HTTP 503")
    view = fold(START, PROC, EXIT, FAIL, REPAIR, failed_over, PROPOSED, WAIT, RESTART)
    assert (view.attempt, view.max_attempts) == (2, 3)
    assert (view.restarts_used, view.max_restarts) == (4, 20)
    assert view.provider == "local"
    assert view.failure is FAIL
    assert view.pending == ["p1"]
    assert fold(WAIT, APPLIED).pending == []
    assert fold(WAIT, STOPPED).pending == []


def test_metrics_progress_gpu_and_guards() -> None:
    gpu = ev.GpuStatus(
        source="nvml",
        gpus=(
            ev.GpuReading(index=0, name="H100", temp_c=71.0, mem_used_mb=30720, mem_total_mb=81920),
        ),
    )
    trip = ev.GuardTripped(guard="gpu_temp", reading=91.0, limit=85.0)
    view = fold(
        ev.MetricSample(step=10, total_steps=100, loss=0.5, lr=3e-4),
        ev.MetricSample(loss=0.25),
        gpu,
        trip,
    )
    assert (view.step, view.total, view.loss, view.lr) == (10, 100, 0.25, 3e-4)
    assert view.gpu is gpu and "gpu_temp" in view.guards
    text = view.summary()
    assert "step 10/100, loss 0.25, lr 0.0003" in text
    assert "0:H100 71C 30.0/80.0 GB" in text
    assert "guard gpu_temp: 91 over 85" in text
    view.apply(ev.GuardCleared(guard="gpu_temp", reading=80.0, limit=85.0))
    assert "guard" not in view.summary()
    view.apply(ev.Progress(step=20, loss="0.2"))
    assert (view.step, view.loss_text()) == (20, "0.2")


def test_summary_lines() -> None:
    view = fold(START, PROC, EXIT, FAIL, REPAIR, PROPOSED, WAIT)
    text = view.summary(now=100.0 + 3 * 3600 + 125)
    assert text.splitlines()[0] == "phase: awaiting approval"
    assert "restarts: 0/20, attempt 2/3" in text
    assert "last failure: exception: KeyError: 'lr' [abcdef012345]" in text
    assert "waiting for approval: p1" in text
    assert "training: no step or loss seen yet" in text
    assert "gpu: no sample yet" in text
    assert text.endswith("up 3h02m")
    assert fold(START, GAVE_UP).summary().startswith("phase: gave up (retry budget spent)")


@pytest.mark.parametrize(
    ("s", "text"), [(0, "0s"), (42.9, "42s"), (187, "3m07s"), (18120, "5h02m")]
)
def test_duration(s: float, text: str) -> None:
    assert duration(s) == text


def test_what_the_morning_summary_needs_run_id_end_restarts_and_repairs() -> None:
    view = RunView()
    start = ev.RunStarted(
        ts=100.0, command="c", project="/p", mode="auto", phoenix_pid=1, restarts_used=4,
        run_id="20261202-010203",
    )  # fmt: skip
    proposed = ev.PatchProposed(
        id="p1", provider="builtin", signature="s", paths=("train.py",), diff="", diagnosis="d"
    )
    applied = ev.PatchApplied(id="p1", backup_id="b1", paths=("train.py",))
    restart = ev.Restarting(
        attempt=1, max_attempts=3, restarts_used=5, max_restarts=20, cooldown_s=0, reason="r"
    )
    for event in (start, proposed, applied, restart, ev.RunCompleted(ts=160.0, duration_s=60,
                                                                     restarts=1)):  # fmt: skip
        view.apply(event)
    assert (view.run_id, view.ended_at) == ("20261202-010203", 160.0)
    assert (view.restarts, view.restarts_used) == (1, 5)  # this run's, and the budget's
    assert view.repairs() == [(applied, proposed)]
    view.apply(ev.RunStarted(ts=200.0, command="c", project="/p", mode="auto", phoenix_pid=1))
    assert view.ended_at is None and view.run_id == ""  # a journal from before run ids
