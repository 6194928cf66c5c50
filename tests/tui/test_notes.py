"""The status bar's note and the detail pane's block about an ended run, from tables."""

from __future__ import annotations

import pytest

from phoenix_engine import events as ev
from phoenix_tui.console._notes import escalation, run_note, status_note
from phoenix_tui.console.view_model import RunModel


@pytest.mark.parametrize(
    ("waited", "said"),
    [
        (0.0, "SIGINT sent · SIGTERM in 10s · q kills now"),
        (9.2, "SIGINT sent · SIGTERM in 1s · q kills now"),
        (12.0, "SIGINT sent · SIGKILL in 8s · q kills now"),
        (25.0, "SIGINT sent · killing · q kills now"),
    ],
)
def test_escalation(waited: float, said: str) -> None:
    assert escalation(10.0, waited) == said


def model_after(*events: ev.Event) -> RunModel:
    model = RunModel(max_retries=3, max_restarts=5, provider="builtin")
    for event in events:
        model.apply(event)
    return model


@pytest.mark.parametrize(
    ("events", "kwargs", "note"),
    [
        ((ev.ProcessStarted(pid=1, command="t", attempt=1),), {}, ""),
        (
            (ev.ApprovalRequested(id="p"),),
            {"countdown": "auto-approves in 0:05 · "},
            "auto-approves in 0:05 · a accept · r reject",
        ),
        ((ev.ApprovalRequested(id="p"),), {"compact": True}, "a/r"),
        ((ev.GuardTripped(guard="gpu_temp", reading=92, limit=90),), {}, "gpu_temp 92 > 90"),
        ((ev.GaveUp(reason="3 attempts spent"),), {}, "3 attempts spent"),
        ((ev.Stopped(reason="by the operator"),), {"holding": True}, "by the operator · u resumes"),
    ],
    ids=["healthy", "awaiting", "awaiting-80", "guard", "gave-up", "stopped-holding"],
)
def test_status_note(events: tuple[ev.Event, ...], kwargs: dict[str, object], note: str) -> None:
    assert status_note(model_after(*events), **kwargs) == note  # type: ignore[arg-type]


def test_stopping_shows_the_escalation() -> None:
    model = model_after(ev.ProcessStarted(pid=1, command="t", attempt=1))
    model.stopping()
    assert (
        status_note(model, grace=10, stopping_for=3) == "SIGINT sent · SIGTERM in 7s · q kills now"
    )


def test_a_completed_run_names_the_model_in_service() -> None:
    done = ev.RunCompleted(duration_s=60.0, restarts=0)
    promoted = ev.ModelPromoted(
        path="models/current", candidate="ckpt-9", previous="", by="phoenix"
    )
    assert status_note(model_after(done)) == ""
    assert status_note(model_after(promoted, done)) == "in service: ckpt-9 (phoenix)"


def test_run_note_only_once_the_run_ended() -> None:
    assert run_note(model_after(ev.ProcessStarted(pid=1, command="t", attempt=1))) is None
    note = run_note(model_after(ev.GaveUp(reason="3 attempts spent")), holding=True)
    assert note is not None
    assert note.plain == "gave up: 3 attempts spent\nu resumes the training (budgets cleared)"


def test_a_give_up_keeps_the_failures_advice_for_the_detail() -> None:
    failure = ev.Failure(
        kind="disk_full",
        signature="s",
        summary="No space left",
        action="stop",
        advice="free space on /data, then press u",
    )
    note = run_note(model_after(failure, ev.GaveUp(reason="the disk is full")))
    assert note is not None
    assert note.plain == "gave up: the disk is full\nwhat to do: free space on /data, then press u"


def test_a_failure_being_recovered_from_shows_its_kind_action_and_advice_in_the_detail() -> None:
    failure = ev.Failure(
        kind="disk_full",
        signature="s",
        summary="No space left",
        action="wait",
        advice="disk full on /data (0.2 GB free): waiting for space",
    )
    note = run_note(model_after(failure))
    assert note is not None
    assert note.plain.endswith(
        "disk_full → wait\nwhat to do: disk full on /data (0.2 GB free): waiting for space"
    )
    plain_bug = ev.Failure(kind="exception", signature="s", summary="NameError", action="repair")
    assert run_note(model_after(plain_bug)) is None  # the repair phases say the rest
