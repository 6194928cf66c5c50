"""SVG snapshots of the console's main states, from scripted events (no clock, no paths).

Update them after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at
the SVGs under ``tests/tui/__snapshots__/`` before committing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from tui_support import ScriptedEngine, make_app, proposal, until

from phoenix_engine import events as ev
from phoenix_tui.console.app import PhoenixApp
from phoenix_tui.console.attached import AttachedApp

SIM = ev.GpuReading(
    index=0,
    name="Simulated GPU (demo, not a real device)",
    temp_c=64.0,
    mem_used_mb=16_600,
    mem_total_mb=24_576,
    power_w=271,
    power_limit_w=450,
    util_pct=83,
)
TRAINING_LINES = tuple(
    f"step {s}/120 | loss {2.5 / (1 + s / 10):.4f} | lr {s * 1.6e-3:.2e} | 1652.3 samples/s"
    for s in range(5, 30, 5)
)
TRACEBACK = (
    "Traceback (most recent call last):",
    '  File "train.py", line 29, in lr_at',
    "    return 0.5 * lerning_rate * (1 + math.cos(math.pi * progress))",
    "\x1b[1;31mNameError\x1b[0m: name 'lerning_rate' is not defined. "
    "Did you mean: 'learning_rate'?",
)

Script = Callable[[PhoenixApp, ScriptedEngine, Pilot[Any]], Awaitable[None]]


def training(engine: ScriptedEngine, gpu: ev.GpuStatus | None = None) -> None:
    engine.emit(gpu or ev.GpuStatus(source="simulated", gpus=(SIM,)))
    engine.emit(ev.OutputLines(stream="stdout", lines=TRAINING_LINES))
    for s in range(5, 30, 5):
        engine.emit(
            ev.MetricSample(
                step=s, total_steps=120, loss=2.5 / (1 + s / 10), lr=s * 1.6e-3, rate=1652.3
            )
        )


async def _training(app: PhoenixApp, engine: ScriptedEngine, pilot: Pilot[Any]) -> None:
    training(engine)


async def _awaiting(app: PhoenixApp, engine: ScriptedEngine, pilot: Pilot[Any]) -> None:
    training(engine)
    engine.emit(ev.OutputLines(stream="stderr", lines=TRACEBACK))
    engine.emit(ev.ProcessExited(pid=4243, returncode=1, signal=None, duration_s=1.2))
    app.repair = asyncio.ensure_future(engine.repair(proposal()))  # type: ignore[attr-defined]
    await until(pilot, lambda: bool(app.approver.pending))


async def _gave_up(app: PhoenixApp, engine: ScriptedEngine, pilot: Pilot[Any]) -> None:
    training(engine)
    engine.emit(ev.OutputLines(stream="stderr", lines=TRACEBACK))
    engine.emit(ev.ProcessExited(pid=4243, returncode=1, signal=None, duration_s=1.2))
    engine.emit(ev.Failure(kind="exception", signature="300df784282eb9c6", summary="NameError"))
    engine.emit(ev.RepairRequested(signature="300df784282eb9c6", attempt=3, providers=("builtin",)))
    engine.emit(ev.PatchRejected(id="9a1b2c3d4e5f", reason="identical to a patch already tried"))
    engine.emit(ev.GaveUp(reason="3 attempts for this failure spent (PHOENIX_MAX_RETRIES=3)"))


async def _no_gpu(app: PhoenixApp, engine: ScriptedEngine, pilot: Pilot[Any]) -> None:
    reason = "no NVIDIA driver: the NVML library (libnvidia-ml.so.1) was not found"
    training(engine, ev.GpuStatus(source="none", reason=reason))


def shoot(
    tmp_path: Path, script: Script, app_class: type[PhoenixApp] = PhoenixApp, **env: str
) -> tuple[PhoenixApp, Callable[[Pilot[Any]], Awaitable[None]]]:
    app, engine = make_app(tmp_path, app_class=app_class, **env)

    async def run_before(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: engine.started)
        await script(app, engine, pilot)
        app.flush()
        await pilot.pause()

    return app, run_before


@pytest.mark.parametrize(
    ("script", "size"),
    [
        (_training, (120, 40)),
        (_awaiting, (120, 40)),
        (_gave_up, (120, 40)),
        (_no_gpu, (100, 30)),
        (_awaiting, (80, 24)),
        (_training, (80, 24)),
    ],
    ids=["training", "awaiting-approval", "gave-up", "no-gpu", "awaiting-80x24", "training-80x24"],
)
def test_main_states(
    snap_compare: Any, tmp_path: Path, script: Script, size: tuple[int, int]
) -> None:
    app, run_before = shoot(tmp_path, script)
    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_stop_dialog_80x24(snap_compare: Any, tmp_path: Path) -> None:
    app, run_before = shoot(tmp_path, _training)

    async def ask(pilot: Pilot[Any]) -> None:
        await run_before(pilot)
        await pilot.press("s")
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=ask)


def test_attached_80x24(snap_compare: Any, tmp_path: Path) -> None:
    app, run_before = shoot(tmp_path, _awaiting, app_class=AttachedApp)
    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_big_terminal(snap_compare: Any, tmp_path: Path) -> None:
    app, run_before = shoot(tmp_path, _gave_up)
    assert snap_compare(app, terminal_size=(200, 60), run_before=run_before)


def test_light_theme(snap_compare: Any, tmp_path: Path) -> None:
    app, run_before = shoot(tmp_path, _awaiting)

    async def light(pilot: Pilot[Any]) -> None:
        app.theme = "textual-light"
        await run_before(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=light)


def test_no_color(snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app, run_before = shoot(tmp_path, _awaiting)
    assert app.no_color
    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
