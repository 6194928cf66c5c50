"""The console attached to an engine that already runs (``phoenix attach``).

The same panes and keys as the local console, over ``engine.sock``: accept, reject, stop and
rollback act on the running engine. ``d`` detaches, and so does ``q`` and a dropped SSH
connection: the run belongs to the unattended engine and goes on untouched.
"""

from __future__ import annotations

__all__ = ["AttachedApp", "run_attached"]

import asyncio
import signal
from collections.abc import Mapping
from typing import ClassVar

from textual.binding import Binding, BindingType

from phoenix_engine.core.settings import Settings
from phoenix_engine.remote.attach_client import AttachedDesk, AttachedEngine, connect
from phoenix_engine.remote.attach_server import socket_path
from phoenix_tui.console.app import PhoenixApp

_DETACH = "detach: leave this console; the training goes on (s stops it)"


class AttachedApp(PhoenixApp):
    """The console over a socket; leaving it never stops the training."""

    # d before the other keys, so that the footer keeps it at 80 columns; q says detach too.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "detach", "Detach", key_display="q/d"),
        *(
            Binding("q", "quit", "Detach", show=False)
            if isinstance(b, Binding) and b.key == "q"
            else b
            for b in PhoenixApp.BINDINGS
        ),
    ]
    QUIT_HELP = _DETACH
    QUIT_COMMAND = ("Detach", "Leave this console; the training goes on (q or d)")
    CTRL_C_HINT = "Press q or d to detach: the training goes on without this console."

    def action_resume(self) -> None:
        self.notify(
            "an attached console cannot resume the training: Discord's !resume can, or a new "
            "`phoenix --unattended` once this one has ended",
            severity="warning",
        )

    def help_keys(self) -> list[tuple[str, str]]:
        keys = [(k, w) for k, w in super().help_keys() if k != "u"]  # resume: Discord's
        return [*keys, ("d", _DETACH)]

    def action_detach(self) -> None:
        engine = self.engine
        if isinstance(engine, AttachedEngine):
            engine.detach()
        self.exit(0, return_code=0)

    def action_quit(self) -> None:  # type: ignore[override]
        self.action_detach()  # the unattended engine owns the run; `s` stops it


def build_attached(settings: Settings, *, title: str = "") -> AttachedApp:
    engine = AttachedEngine(socket_path(settings.state_dir))
    desk = AttachedDesk(engine, settings.approval or "manual")
    return AttachedApp(
        engine=engine,
        approver=desk,
        settings=settings,
        project_name=title or settings.project_dir.name,
    )


def run_attached(settings: Settings, env: Mapping[str, str]) -> int:
    """Open the console on the engine running in this project; 0 after detaching."""
    return asyncio.run(_attached(build_attached(settings)))


async def _attached(app: AttachedApp) -> int:
    # Fail before the screen opens when nobody listens (AttachError names the socket).
    _, writer, _ = await connect(socket_path(app.settings.state_dir))
    writer.close()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGHUP, signal.SIGTERM):  # a dropped SSH connection: just leave
        loop.add_signal_handler(signum, app.action_detach)
    result = await app.run_async()
    task = app.engine_task
    if task is not None and not task.done():
        task.cancel()
    return int(result or 0)
