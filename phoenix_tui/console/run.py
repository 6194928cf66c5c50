"""Run the engine under the Textual console; the engine's lifetime is the console's.

The loop is ours (``asyncio.run``) and the app runs in it with ``run_async``, so whatever
ends the app (``q``, a signal, a crash of the UI) the engine task is still there to be
stopped the graceful way and awaited before Phoenix exits: the training is never left
running unsupervised. SIGTERM, SIGHUP (the SSH session dropped) and SIGINT quit without
asking; a second one kills the training at once.
"""

from __future__ import annotations

__all__ = ["build_app", "run_console", "terminal_warning"]

import asyncio
import signal
import sys
from collections.abc import Mapping
from typing import Any

from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.gpu import GpuSampler
from phoenix_engine.session import build_session
from phoenix_tui.console._progress import ProgressTap
from phoenix_tui.console.app import PhoenixApp
from phoenix_tui.headless import HumanPrinter

_FORCE_AFTER_S = 5.0  # after the graceful stop's own timeouts, before a forced one


def terminal_warning(env: Mapping[str, str]) -> str | None:
    """What to say when the console runs in a bare terminal: closing it stops the run."""
    if env.get("TMUX") or env.get("STY"):  # tmux or GNU screen keeps it when the window goes
        return None
    return (
        "Not inside tmux or screen: closing this terminal (or losing SSH) stops the training. "
        "To keep it running, start it with `phoenix --unattended` and watch it with "
        "`phoenix attach`."
    )


def build_app(
    settings: Settings,
    env: Mapping[str, str],
    *,
    gpu_sampler: GpuSampler | None = None,
    title: str = "",
    services: bool = True,
    **app_kwargs: Any,
) -> PhoenixApp:
    """The console with a real engine (``phoenix_engine.session``, as headless builds it);
    in the console approval is manual unless set, and a stop (``s``) or a give-up waits for
    a resume (``u``). ``services`` adds what headless adds too: Discord when it is set up,
    and the socket that ``phoenix attach`` and ``phoenix status`` talk to."""
    session = build_session(settings, env, console=True, gpu_sampler=gpu_sampler)
    engine = session.engine
    tap = ProgressTap()
    engine.add_output_hook(tap.feed)
    engine.add_sink(tap)
    app = PhoenixApp(
        engine=engine,
        approver=session.desk,
        settings=settings,
        project_name=title or settings.project_dir.name,
        tap=tap,
        redact=engine.redactor.redact,
        **app_kwargs,
    )
    if services:  # after the app's sink is in, so that it shows what they announce
        session.add_services()
    return app


def run_console(
    settings: Settings,
    env: Mapping[str, str],
    *,
    gpu_sampler: GpuSampler | None = None,
    title: str = "",
) -> int:
    """Open the console on the project; the exit code is the engine's (0, 1 or 4)."""
    warning = terminal_warning(env)  # here, not in build_app: screenshots and tests skip it
    notes = [warning] if warning else []
    app = build_app(settings, env, gpu_sampler=gpu_sampler, title=title, notes=notes)
    return asyncio.run(_console(app, env))


async def _console(app: PhoenixApp, env: Mapping[str, str], *, headless: bool = False) -> int:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    for signum in signals:
        loop.add_signal_handler(signum, _on_signal, app, signal.Signals(signum).name)
    try:
        await app.run_async(headless=headless)
    finally:
        await _outlive_ui(app, env)
        for signum in signals:
            loop.remove_signal_handler(signum)
    task = app.engine_task
    if task is None:
        _say("phoenix: the console failed before the training started")
        return int(ExitCode.USAGE)
    failure = None if task.cancelled() else task.exception()
    if failure is not None:
        raise failure  # a PhoenixError (the lock is held...) maps to its exit code in main()
    return app.exit_code_now()


def _say(line: str) -> None:
    """A line on stderr, which may be a terminal that hung up: then nobody reads it anyway."""
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _on_signal(app: PhoenixApp, name: str) -> None:
    if app.quitting:
        app.engine.request_stop(f"phoenix received {name}", force=True)
    else:
        app.call_later(app.request_quit, f"phoenix received {name}")


async def _outlive_ui(app: PhoenixApp, env: Mapping[str, str]) -> None:
    """The app is gone; if the engine still runs, stop it gracefully and say so on stderr."""
    task = app.engine_task
    if task is None or task.done():
        return
    _say("phoenix: the console closed; stopping the training…")
    s = app.settings
    color = sys.stderr.isatty() and not env.get("NO_COLOR")
    redactor = Redactor.from_env(env, s.secrets())
    app.engine.add_sink(HumanPrinter(sys.stderr, redactor=redactor, color=color))
    app.engine.request_stop("the console closed")
    grace = 3 * s.kill_grace_sec + _FORCE_AFTER_S
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        app.engine.request_stop("the console closed", force=True)
        await asyncio.wait({task}, timeout=grace)
