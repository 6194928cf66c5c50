"""The console sink: cheap appends, bounded lines, milestones in order, latest GPU only."""

from __future__ import annotations

from phoenix_engine import events as ev
from phoenix_tui.console._sink import ConsoleSink, Milestone


def sink(max_lines: int = 5) -> ConsoleSink:
    return ConsoleSink(
        max_lines, stamp=lambda ts: "03:00:00", redact=lambda t: t.replace("k3y", "[REDACTED]")
    )


def test_lines_are_batched_and_bounded_and_the_drop_is_counted() -> None:
    s = sink(5)
    s.emit(ev.OutputLines(stream="stdout", lines=tuple(f"l{i}" for i in range(4))))
    s.emit(ev.OutputLines(stream="stderr", lines=("e0", "e1", "e2")))
    batch = s.drain()
    assert batch.lines == ["l2", "l3", "e0", "e1", "e2"]
    assert batch.dropped == 2
    assert not s.drain()  # drained: nothing is delivered twice


def test_milestones_join_the_log_in_order_styled_and_redacted() -> None:
    s = sink()
    s.emit(ev.OutputLines(stream="stderr", lines=("Traceback", "NameError")))
    s.emit(ev.Failure(kind="exception", signature="s", summary="NameError k3y"))
    s.emit(ev.OutputLines(stream="stdout", lines=("after",)))
    batch = s.drain()
    assert batch.lines[:2] == ["Traceback", "NameError"] and batch.lines[3] == "after"
    mark = batch.lines[2]
    assert isinstance(mark, Milestone) and mark.style == "bold red"
    assert mark.startswith("03:00:00 phoenix: failure [exception] NameError [REDACTED]")
    assert [type(e) for e in batch.events] == [ev.Failure]


def test_gpu_keeps_the_latest_and_metrics_all_samples() -> None:
    s = sink()
    for t in (50.0, 60.0, 70.0):
        s.emit(ev.GpuStatus(source="nvml", gpus=(ev.GpuReading(index=0, name="A", temp_c=t),)))
    for step in range(3):
        s.emit(ev.MetricSample(step=step, loss=1.0 / (step + 1)))
    batch = s.drain()
    assert batch.gpu is not None and batch.gpu.gpus[0].temp_c == 70.0
    assert [m.step for m in batch.metrics] == [0, 1, 2]
    assert batch.events == [] and batch.lines == []


def test_output_events_are_not_milestones() -> None:
    s = sink()
    s.emit(ev.ShadowPassed(id="p"))
    s.emit(ev.GpuStatus(source="none", reason="x"))
    batch = s.drain()
    assert [str(line) for line in batch.lines] == [
        "03:00:00 phoenix: patch p passed the shadow run"
    ]


def test_events_the_panes_show_are_redacted_too() -> None:
    sink = ConsoleSink(10, redact=lambda text: text.replace("hunter2", "[REDACTED]"))
    diff = "-password = 'hunter2'\n+password = os.environ['PW']"
    sink.emit(ev.PatchProposed(id="p1", provider="x", signature="s", paths=("a.py",), diff=diff))
    sink.emit(ev.PatchRejected(id="p1", reason="shadow run printed hunter2"))
    shown = sink.drain().events
    assert [e.name for e in shown] == ["patch_proposed", "patch_rejected"]
    assert "hunter2" not in repr(shown) and "[REDACTED]" in shown[0].diff  # type: ignore[attr-defined]
