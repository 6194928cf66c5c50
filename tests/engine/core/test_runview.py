"""RunView, the one reducer: the transition table, phases from event sequences, budgets,
metrics, pending patches, the summary."""

from __future__ import annotations

import pytest

from phoenix_engine import events as ev
from phoenix_engine.core import run_state
from phoenix_engine.core.run_state import FINAL_PHASES, Phase, RunView, duration, next_phase

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
HOT = ev.GuardTripped(guard="gpu_temp", reading=92.0, limit=90.0)
COOL = ev.GuardCleared(guard="gpu_temp", reading=80.0, limit=90.0)

# Every event kind that changes the phase: (phase before, event, context, phase after).
S = Phase
TRANSITIONS: list[tuple[Phase, ev.Event, dict[str, object], Phase]] = [
    (S.STOPPED, START, {}, S.STARTING),  # a new run
    (S.STARTING, PROC, {}, S.RUNNING),
    (S.GAVE_UP, PROC, {}, S.RUNNING),  # resumed after a give-up
    (S.RUNNING, HANG, {}, S.HUNG),
    (S.HUNG, FAIL, {}, S.FAILED),
    (S.FAILED, REPAIR, {}, S.DIAGNOSING),
    (S.DIAGNOSING, PROPOSED, {}, S.VALIDATING),
    (S.VALIDATING, WAIT, {}, S.AWAITING),
    (S.AWAITING, REJECTED, {"answered_waiting": True}, S.DIAGNOSING),  # the next provider
    (S.AWAITING, REJECTED, {}, S.AWAITING),  # another patch's answer
    (S.VALIDATING, REJECTED, {"answered_waiting": True}, S.VALIDATING),
    (S.FAILED, RESTART, {}, S.RESTARTING),
    (S.RUNNING, HOT, {}, S.GUARDED),
    (S.GUARDED, COOL, {}, S.RESTARTING),  # the last guard cleared: the engine restarts
    (S.GUARDED, COOL, {"guards_left": 1}, S.GUARDED),  # another still holds
    (S.RUNNING, COOL, {}, S.RUNNING),
    (S.FAILED, GAVE_UP, {}, S.GAVE_UP),
    (S.RUNNING, DONE, {}, S.COMPLETED),
    (S.AWAITING, STOPPED, {}, S.STOPPED),
    (S.STOPPING, STOPPED, {}, S.STOPPED),  # only a final event ends a stop in progress
    (S.STOPPING, RESTART, {}, S.STOPPING),
    (S.STOPPING, HOT, {}, S.STOPPING),
    (S.STOPPING, PROC, {}, S.STOPPING),
    (S.COMPLETED, HOT, {}, S.COMPLETED),  # an ended run stays ended
    (S.STOPPED, FAIL, {}, S.STOPPED),
    (S.COMPLETED, STOPPED, {}, S.STOPPED),  # stopped during the evaluation
    (S.RUNNING, EXIT, {}, S.RUNNING),  # an exit alone says nothing: the failure does
]


@pytest.mark.parametrize(("before", "event", "context", "after"), TRANSITIONS)
def test_the_transition_table(
    before: Phase, event: ev.Event, context: dict[str, object], after: Phase
) -> None:
    assert next_phase(before, event, **context) is after  # type: ignore[arg-type]


def test_the_table_covers_every_event_kind_that_changes_the_phase() -> None:
    kinds = {type(e) for _, e, _, _ in TRANSITIONS}
    for kind in set(ev.ALL_EVENTS) - kinds:  # no other kind moves the phase, from any phase
        bare = kind.__new__(kind)  # next_phase looks at the kind only
        assert all(next_phase(p, bare) is p for p in Phase), kind.name
    reached = {after for before, _, _, after in TRANSITIONS if after is not before}
    assert reached == set(Phase) - {Phase.STOPPING}  # an operator's request, not an event
    assert {p for _, _, _, p in TRANSITIONS} >= FINAL_PHASES


def test_a_guard_trip_is_a_phase_and_its_clear_a_restart() -> None:
    view = fold(START, PROC, HOT)
    assert view.phase is Phase.GUARDED
    assert view.summary().splitlines()[0] == "phase: guard tripped"
    view.apply(COOL)
    assert view.phase is Phase.RESTARTING and not view.guards


def test_a_resume_clears_the_end() -> None:
    view = fold(START, PROC, FAIL, GAVE_UP)
    assert (view.final_reason, view.failure) == ("retry budget spent", FAIL)
    view.apply(PROC)
    assert (view.phase, view.final_reason, view.failure, view.ended_at) == (
        Phase.RUNNING,
        "",
        None,
        None,
    )


def test_an_operator_stop_holds_until_the_engine_confirms_it() -> None:
    view = fold(START, PROC)
    view.stopping()
    view.apply(RESTART)
    assert view.phase is Phase.STOPPING
    view.apply(STOPPED)
    view.stopping()
    assert view.phase is Phase.STOPPED


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
    return run_state.fold(events, max_attempts=3, max_restarts=20)


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
