"""GPU gauges, the loss pane and the status bar, fed through the console's sink."""

from __future__ import annotations

import math
from pathlib import Path

from textual.widgets import Sparkline, Static
from tui_support import TS, make_app, until

from phoenix_engine import events as ev
from phoenix_tui.console.panes.gpu import GpuPane, gauge_lines
from phoenix_tui.console.panes.loss import LossPane
from phoenix_tui.console.panes.status import StatusBar

H100 = ev.GpuReading(
    index=0,
    name="NVIDIA H100 80GB HBM3",
    temp_c=91.0,
    mem_used_mb=61_440,
    mem_total_mb=81_920,
    power_w=None,
    power_limit_w=700,
    util_pct=97,
)


def text_of(widget: object) -> str:
    return str(widget.render())  # type: ignore[attr-defined]


def test_gauges_read_against_the_limits_and_say_n_a() -> None:
    lines = [line.plain for line in gauge_lines(H100, max_temp=95, width=40)]
    assert lines[0].startswith("GPU 0 NVIDIA H100")
    assert lines[1].startswith("temp ") and lines[1].endswith("91/95°C")
    assert lines[2].endswith("60.0/80G")
    assert lines[3].endswith(" n/a")  # no power reading
    assert lines[4].endswith("97%")
    assert all(len(line) <= 40 for line in lines)
    hot = gauge_lines(H100, max_temp=95, width=40)[1]
    assert any("red" in str(span.style) for span in hot.spans)  # 91 of 95: red


async def test_gpu_pane_explains_no_gpu_and_dims_a_stale_reading(tmp_path: Path) -> None:
    now = [100.0]
    app, engine = make_app(tmp_path, clock=lambda: now[0], PHOENIX_MAX_GPU_TEMP="95")
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(GpuPane)
        assert "waiting for the first reading" in text_of(pane)
        engine.emit(ev.GpuStatus(source="none", reason="no NVIDIA driver: libnvidia-ml.so.1"))
        app.flush()
        assert text_of(pane) == "no NVIDIA GPU\nno NVIDIA driver: libnvidia-ml.so.1"
        engine.emit(ev.GpuStatus(source="nvml", gpus=(H100,)))
        app.flush()
        await pilot.pause()
        assert "91/95°C" in text_of(pane) and not pane.has_class("-stale")
        assert pane.border_title == "GPU"
        now[0] = 130.0
        app._tick()
        await pilot.pause()
        assert pane.has_class("-stale") and "stale: last reading 30s ago" in text_of(pane)
        engine.emit(ev.GpuStatus(source="simulated", gpus=(H100,)))
        app.flush()
        assert not pane.has_class("-stale") and pane.border_title == "GPU · simulated"


async def test_nan_never_reaches_the_sparkline_and_shows_a_red_marker(tmp_path: Path) -> None:
    app, engine = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.query_one(LossPane)
        for step, loss in [(1, 2.0), (2, 1.5), (3, math.nan), (4, math.inf), (5, 1.2)]:
            engine.emit(ev.MetricSample(step=step, total_steps=10, loss=loss, lr=3e-4, rate=9.5))
        app.flush()
        await pilot.pause()
        assert list(pane.query_one(Sparkline).data or []) == [2.0, 1.5, 1.2]
        assert pane.has_class("-diverged")
        marker = pane.query_one("#divergence", Static)
        assert "diverged: loss inf at step 4" in text_of(marker) and marker.display
        metrics = text_of(pane.query_one("#metrics", Static))
        assert metrics == "step 5/10  loss 1.2\nlr 3.0e-04  9.5/s"
        assert not pane.has_class("-anomaly")
        engine.emit(ev.Anomaly(kind="stall", step=5, detail="no new step for 30 min"))
        app.flush()
        await pilot.pause()
        assert pane.has_class("-anomaly")
        assert "stall at step 5: no new step" in text_of(pane.query_one("#anomaly", Static))


async def test_status_bar_has_phase_attempt_restarts_provider_uptime(tmp_path: Path) -> None:
    now = [TS]  # the run started (run_started) at TS: "up" is the run's age
    app, engine = make_app(tmp_path, wall=lambda: now[0])
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: engine.started)
        app.flush()
        assert "attempt" not in text_of(app.query_one(StatusBar))  # no "attempt 0/3" yet
        now[0] = TS + 3725.0
        engine.emit(ev.Failure(kind="oom", signature="s", summary="OOM"))
        engine.emit(ev.RepairRequested(signature="s", attempt=1, providers=("gemini_cli", "cmd")))
        engine.emit(ev.ProviderFailed(provider="gemini_cli", reason="quota"))
        app.flush()
        status = text_of(app.query_one(StatusBar))
        assert "? diagnosing" in status
        assert "attempt 1/3" in status and "restarts 0/20" in status
        assert "provider cmd" in status and "up 1h02m" in status and "demo-project" in status
        engine.emit(ev.GuardTripped(guard="gpu_temp", reading=92, limit=90))
        app.flush()
        assert "‼ guard tripped  gpu_temp 92 > 90" in text_of(app.query_one(StatusBar))
        engine.emit(ev.GaveUp(reason="attempts spent"))
        app.flush()
        assert "✗ gave up" in text_of(app.query_one(StatusBar))
