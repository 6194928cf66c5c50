"""The headless stderr line (and the console's log, which uses it) shows kind, action, advice."""

from __future__ import annotations

from phoenix_engine import events as ev
from phoenix_tui.console.panes.status import status_text
from phoenix_tui.console.view_model import RunModel
from phoenix_tui.headless import describe


def test_the_failure_line_has_kind_action_and_advice() -> None:
    failure = ev.Failure(
        kind="disk_full",
        signature="0123456789abcdef",
        summary="OSError: [Errno 28] No space left on device",
        action="wait",
        advice="disk full on /data (0.2 GB free): waiting for space",
    )
    described = describe(failure)
    assert described is not None
    assert described[1] == (
        "failure [disk_full] OSError: [Errno 28] No space left on device "
        "(signature 0123456789abcdef) -> wait: disk full on /data (0.2 GB free): waiting for space"
    )


def test_restarting_and_gave_up_lines_name_their_rules() -> None:
    restart = ev.Restarting(
        attempt=1,
        max_attempts=3,
        restarts_used=2,
        max_restarts=20,
        cooldown_s=10,
        reason="restart without changes",
        budget="count reset: the run got to step 40 since this failure",
    )
    line = describe(restart)
    assert line is not None and line[1].endswith(
        "[count reset: the run got to step 40 since this failure]"
    )
    gave_up = describe(
        ev.GaveUp(reason="3 restarts made no progress", rule="PHOENIX_MAX_NO_PROGRESS_RESTARTS")
    )
    assert gave_up is not None
    assert gave_up[1] == "gave up (PHOENIX_MAX_NO_PROGRESS_RESTARTS): 3 restarts made no progress"


def test_the_status_bar_shows_what_failed_and_what_phoenix_does() -> None:
    model = RunModel(max_retries=3, max_restarts=20, provider="builtin")
    advice = "the GPU reported an uncorrectable ECC error: it needs a reset"
    model.apply(
        ev.Failure(
            kind="gpu_fault", signature="s" * 16, summary="ECC", action="stop", advice=advice
        )
    )
    assert f"gpu_fault → stop {advice}" in status_text(model, uptime=1.0, project="p").plain
    plain = RunModel(max_retries=3, max_restarts=20, provider="builtin")
    plain.apply(ev.Failure(kind="exception", signature="s" * 16, summary="NameError: x"))
    assert "→" not in status_text(plain, uptime=1.0, project="p").plain  # the repair phases say it
