"""The headless printer: one line per milestone, colour only when asked, secrets masked."""

from __future__ import annotations

import io

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_tui.headless import HumanPrinter, JsonPrinter, describe


def test_every_journaled_event_has_a_human_line() -> None:
    quiet = {"output", "gpu", "host", "metrics"}  # samples, not milestones
    for kind in ev.ALL_EVENTS:
        if kind.name in quiet:
            continue
        assert kind in {type(e) for e in []} or describe_known(kind), kind.name


def describe_known(kind: type[ev.Event]) -> bool:
    from phoenix_tui.headless import _FORMATS

    return kind in _FORMATS


def test_lines_for_milestones() -> None:
    restart = ev.Restarting(
        ts=1,
        attempt=0,
        max_attempts=0,
        restarts_used=2,
        max_restarts=20,
        cooldown_s=0,
        reason="the guard cleared",
        checkpoint="out/checkpoint-500",
    )
    assert describe(restart) == (
        "\x1b[33m",
        "restarting from out/checkpoint-500 in 0s (restart 2/20): the guard cleared",
    )
    data = ev.DataChanged(ts=1, missing=("a", "b", "c", "d"), truncated=("t",))
    assert describe(data) is not None
    assert describe(data)[1] == (  # type: ignore[index]
        "data directory differs from its manifest: 4 missing (a, b, c, ...); 1 truncated (t)"
    )
    assert describe(ev.OutputLines(ts=1, stream="stdout", lines=("x",))) is None
    applied = ev.PatchApplied(ts=1, id="p1", backup_id="b1", paths=("a.py",), approved_by="timeout")
    assert describe(applied)[1] == (  # type: ignore[index]
        "patch p1 applied to a.py (backup b1, approved by timeout)"
    )


def test_human_printer_colour_and_redaction() -> None:
    out = io.StringIO()
    printer = HumanPrinter(out, redactor=Redactor(["token-123456"]), color=False)
    printer.emit(ev.GaveUp(ts=1, reason="bad token-123456"))
    assert out.getvalue().endswith("phoenix: gave up: bad [REDACTED]\n")
    assert "\x1b[" not in out.getvalue()
    coloured = io.StringIO()
    HumanPrinter(coloured, redactor=Redactor(), color=True).emit(ev.GaveUp(ts=1, reason="x"))
    assert coloured.getvalue().startswith("\x1b[31m")


def test_json_printer_skips_unjournaled_events() -> None:
    out = io.StringIO()
    printer = JsonPrinter(out, redactor=Redactor())
    printer.emit(ev.MetricSample(ts=1, step=1, loss=0.5))
    printer.emit(ev.Stopped(ts=1, reason="operator"))
    assert out.getvalue().count("\n") == 1 and '"event": "stopped"' in out.getvalue()
