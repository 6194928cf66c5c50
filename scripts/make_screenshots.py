"""Screenshots of the console from a real run of the demo: SVG always, PNG when possible.

Runs ``phoenix demo``'s project (the real engine, the built-in offline doctor, the simulated
GPU) inside ``App.run_test`` at a fixed terminal size, and saves the screen while training,
while the typo fix awaits approval (with its diff), once the training has completed, and
``phoenix review`` on that finished run. PNGs are made with ``rsvg-convert`` when it is
installed (Debian: librsvg2-bin). Then ``report.png``, the picture ``phoenix report`` draws,
from a second real demo night run headless and slowed down (one step a second by default,
about three minutes) so that the GPU samples, kept one per 30 s, draw a curve.

    .venv/bin/python scripts/make_screenshots.py [OUT_DIR] [--size 120x40 ...]
        [--report-step-s 1.0] [--no-report]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phoenix_engine.approval import ApprovalDesk  # noqa: E402
from phoenix_engine.core.redact import Redactor  # noqa: E402
from phoenix_engine.core.settings import Settings, resolve  # noqa: E402
from phoenix_engine.engine import Engine  # noqa: E402
from phoenix_engine.io.gpu import SimulatedGpu  # noqa: E402
from phoenix_engine.io.recorded import load_runs  # noqa: E402
from phoenix_engine.io.report import render_last  # noqa: E402
from phoenix_engine.services import add_services  # noqa: E402
from phoenix_tui.console.app import PhoenixApp  # noqa: E402
from phoenix_tui.console.replay import review_app  # noqa: E402
from phoenix_tui.console.run import build_app  # noqa: E402
from phoenix_tui.console.view_model import Phase  # noqa: E402
from phoenix_tui.demo import prepare_demo  # noqa: E402


async def _until(pilot: object, check: Callable[[], bool], timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise SystemExit("timed out waiting for the demo")
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def _step(app: PhoenixApp) -> int:
    last = app.loss.last
    return last.step or 0 if last is not None else 0


def _save(app: PhoenixApp, out: Path, name: str) -> Path:
    app.flush()
    path = out / f"{name}.svg"
    app.save_screenshot(filename=path.name, path=str(out))
    print(f"wrote {path}")
    return path


def _png(svg: Path) -> None:
    tool = shutil.which("rsvg-convert")
    if tool is None:
        return
    png = svg.with_suffix(".png")
    # Without xml:space="preserve" librsvg drops the leading spaces of each <text> run
    # (indentation, gaps between styled words).
    fixed = svg.with_suffix(".rsvg.svg")
    text = svg.read_text(encoding="utf-8")
    fixed.write_text(text.replace("<svg ", '<svg xml:space="preserve" ', 1), encoding="utf-8")
    try:
        subprocess.run([tool, "-o", str(png), str(fixed)], check=True)
    finally:
        fixed.unlink()
    print(f"wrote {png}")


async def shoot(out: Path, size: tuple[int, int], suffix: str) -> list[Path]:
    project, env = prepare_demo(os.environ)
    env.pop("NO_COLOR", None)
    settings = resolve(project_dir=project, env=env)
    app = build_app(settings, env, gpu_sampler=SimulatedGpu(), title="phoenix demo")
    shots: list[Path] = []
    async with app.run_test(size=size) as pilot:
        await _until(pilot, lambda: app.loss.last is not None and app.gpu.status is not None)
        await _until(pilot, lambda: _step(app) >= 25)
        shots.append(_save(app, out, f"training{suffix}"))
        await _until(pilot, lambda: app.model.phase is Phase.AWAITING)
        await pilot.pause(0.2)
        shots.append(_save(app, out, f"awaiting-approval{suffix}"))
        await pilot.press("a")
        await _until(pilot, lambda: app.model.awaiting is not None and len(app.model.patches) > 1)
        await pilot.press("a")
        await _until(pilot, lambda: app.model.phase is Phase.COMPLETED)
        await pilot.pause(0.2)
        shots.append(_save(app, out, f"completed{suffix}"))
        await _until(pilot, lambda: app.engine_task is not None and app.engine_task.done())
    shots.append(await shoot_review(settings, out, size, suffix))
    shutil.rmtree(project, ignore_errors=True)
    return shots


async def shoot_review(settings: Settings, out: Path, size: tuple[int, int], suffix: str) -> Path:
    """``phoenix review`` on the run just finished (the last step of the log on screen)."""
    runs = load_runs(settings.state_dir)
    app = review_app(settings, runs, runs[-1], redactor=Redactor([]))
    async with app.run_test(size=size) as pilot:
        await _until(pilot, lambda: app.engine_task is not None and app.engine_task.done())
        await _until(pilot, lambda: len(app.model.patches) == 2 and _step(app) == 120)
        await pilot.pause(0.3)
        return _save(app, out, f"review{suffix}")


def report_night(out: Path, step_s: float) -> Path:
    """A demo night run headless (both repairs auto-approved), drawn as ``report.png``."""
    project, env = prepare_demo(os.environ)
    train = project / "train.py"
    train.write_text(train.read_text().replace("time.sleep(0.04)", f"time.sleep({step_s!r})"))
    env.update(PHOENIX_APPROVAL="auto", PHOENIX_HEARTBEAT_MIN="5")
    settings = resolve(project_dir=project, env=env)
    desk = ApprovalDesk(settings.approval, default="auto")
    engine = Engine(settings, env=env, approver=desk, gpu_sampler=SimulatedGpu())
    add_services(engine, desk, attach=False)
    print(f"running a demo night for the report ({step_s:g}s a step)…")
    asyncio.run(engine.run())
    path = out / "report.png"
    path.write_bytes(render_last(settings.state_dir, title="phoenix demo"))
    print(f"wrote {path}")
    shutil.rmtree(project, ignore_errors=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "screenshots"))
    parser.add_argument(
        "--size",
        action="append",
        help="COLSxROWS, repeatable (default: 120x40 and 80x24; names get -COLSxROWS "
        "unless 120x40)",
    )
    parser.add_argument("--report-step-s", type=float, default=1.0, help="demo step time")
    parser.add_argument("--no-report", action="store_true", help="only the console shots")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for size in args.size or ["120x40", "80x24"]:
        cols, rows = (int(n) for n in size.split("x"))
        suffix = "" if size == "120x40" else f"-{size}"
        for svg in asyncio.run(shoot(out, (cols, rows), suffix)):
            _png(svg)
    if not args.no_report:
        report_night(out, args.report_step_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
