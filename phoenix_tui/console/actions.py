"""What the operator does in the console: answer a patch, stop, resume, quit, roll back, zoom.

A mixin of :class:`~phoenix_tui.console.app.PhoenixApp` (Textual finds actions as methods of the
app); the panes and the engine are the app's. Every action that stops the training or
changes files asks first; keys work whichever pane has focus because they are the app's.
``check_action`` hides the keys that do not apply now, so the footer shows only the others.
The log's own keys (search, follow, wrap) are in :mod:`phoenix_tui.console._logkeys`, the
backups' (rollback) in :mod:`phoenix_tui.console._backups`.
"""

from __future__ import annotations

__all__ = ["EngineLike", "OperatorActions"]

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

from textual.app import SystemCommand
from textual.screen import Screen

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_tui.console._backups import BackupActions
from phoenix_tui.console.panes.patches import PatchList
from phoenix_tui.console.screens import KEYS, PALETTE, ConfirmScreen, HelpScreen
from phoenix_tui.console.view_model import PatchState, Phase, RunModel

_ALWAYS = frozenset(
    {"search", "follow", "wrap", "zoom", "help", "quit", "focus_next", "focus_previous"}
)


class EngineLike(Protocol):
    """What the console needs of the engine (the real one, or a scripted fake in tests)."""

    async def run(self) -> ExitCode: ...
    def request_stop(self, reason: str, *, force: bool = False, leave: bool = True) -> None: ...
    def emit(self, event: ev.Event) -> None: ...
    def add_sink(self, sink: ev.EventSink) -> None: ...
    def resume(self, by: str = "operator") -> bool: ...
    @property
    def holding(self) -> bool: ...


class OperatorActions(BackupActions):
    """The console's actions; the attributes below are set up by the app."""

    QUIT_HELP = "quit (asks while the training runs; quitting stops it gracefully)"
    QUIT_COMMAND = ("Quit", "Quit; stops the training gracefully (q)")
    CTRL_C_HINT = "Press q to quit: it asks first, then stops the training gracefully."
    engine: EngineLike
    approver: ApprovalDesk
    settings: Settings
    model: RunModel
    engine_task: asyncio.Task[ExitCode] | None
    quitting: bool
    _patches: PatchList
    _stop_asked: float
    _clock: Callable[[], float]

    # --- which keys apply now ----------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """The training is stopped (or gave up) and the engine waits for a resume."""
        return bool(self.engine.holding)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Only the keys that apply now are active (and shown in the footer)."""
        if action in _ALWAYS or not hasattr(self, "model"):
            return True
        phase = self.model.phase
        if action in ("accept", "reject"):
            return self.model.awaiting is not None
        if action == "stop":
            return self.training_running and not self.holding and phase is not Phase.STOPPING
        if action == "resume":
            return self.holding
        if action == "rollback":
            return self._can_roll_back()
        if action == "search_next":
            return bool(self._log_view.search_text)
        return True

    def action_explain(self, action: str) -> None:
        """A key that does not apply now: its action says why (a warning, nothing else)."""
        getattr(self, f"action_{action}")()

    def action_help_quit(self) -> None:
        """ctrl+c: say how Phoenix quits (Textual's own hint names its own key)."""
        self.notify(self.CTRL_C_HINT, title="Do you want to quit?")

    # --- the engine's lifetime ---------------------------------------------------------------

    def _emit(self, event: ev.Event) -> None:
        self.engine.emit(event)  # journaled by the engine, shown through the console's sink

    def _exit_with_engine_code(self) -> None:
        code = self.exit_code_now()
        self.exit(code, return_code=code)

    def exit_code_now(self) -> int:
        task = self.engine_task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            return int(ExitCode.STOPPED)
        return int(task.result())

    @property
    def training_running(self) -> bool:
        return self.engine_task is not None and not self.engine_task.done()

    # --- actions -----------------------------------------------------------------------------

    def _answer(self, approved: bool) -> None:
        verb = "accept" if approved else "reject"
        entry = self.model.patches.get(self._patches.selected_id or "")
        if entry is None:
            self.notify(f"no patch to {verb}", severity="warning")
            return
        answered = False
        if entry.state is PatchState.AWAITING:
            by = "console"
            if approved:
                answered = self.approver.accept(entry.id, by=by)
            else:
                why = "rejected by the operator in the console"
                answered = self.approver.reject(entry.id, by=by, reason=why)
        if not answered:
            self.notify(
                f"patch {entry.id[:8]} is {entry.state}: only a patch awaiting approval "
                f"can be {verb}ed",
                severity="warning",
            )
            return
        self.notify(f"patch {entry.id[:8]} {verb}ed")

    def action_accept(self) -> None:
        self._answer(True)

    def action_reject(self) -> None:
        self._answer(False)

    def action_stop(self) -> None:
        if not self.training_running or self.model.phase is Phase.STOPPING:
            self.notify("the training is not running", severity="warning")
            return
        detail = (
            "The training gets SIGINT (so it may checkpoint), then SIGTERM and SIGKILL "
            f"{self.settings.kill_grace_sec:g}s apart. The console stays open."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.stop_engine("stopped by the operator from the console", hold=True)

        self.push_screen(ConfirmScreen("Stop the training?", detail, yes="Stop"), answered)

    def stop_engine(self, reason: str, *, hold: bool = False) -> None:
        """Ask the engine to stop gracefully; a waiting patch is answered "no". ``hold``:
        Phoenix stays and waits for a resume (``u``) where the engine can."""
        if not self.training_running:
            return
        self.model.stopping()
        self._stop_asked = self._clock()
        self.engine.request_stop(reason, leave=not hold)  # answers "no" to a waiting patch
        self._show_status()

    def action_resume(self) -> None:
        if not self.engine.resume("operator (console)"):
            self.notify("nothing to resume: the training is not stopped", severity="warning")
            return
        self.notify("resuming the training (budgets cleared)")

    def action_quit(self) -> None:  # type: ignore[override]
        if not self.training_running:
            self._exit_with_engine_code()
            return
        if self.holding:  # stopped already: nothing to ask, nothing to kill
            self.quitting = True
            self.engine.request_stop("the operator quit the console")
            return
        if self.quitting or self.model.phase is Phase.STOPPING:
            self.quitting = True
            self.notify("forcing: the training is killed now", severity="warning")
            self.engine.request_stop("the operator quit the console", force=True)
            return
        detail = (
            "Quitting stops the training the graceful way (SIGINT, so it may checkpoint) "
            "and waits for it to end. Press q again while it stops to kill it at once."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.request_quit()

        self.push_screen(ConfirmScreen("Stop the training and quit?", detail, yes="Quit"), answered)

    def request_quit(self, reason: str = "the operator quit the console") -> None:
        """Quit without asking: stop the training gracefully, exit when the engine is done."""
        self.quitting = True
        if not self.training_running:
            self._exit_with_engine_code()
            return
        self.stop_engine(reason)
        self.notify("stopping the training… (q again: kill it now)", timeout=30)

    def action_zoom(self) -> None:
        """Give the focused pane the whole screen, or give the others their room back."""
        screen = self.screen
        if screen.maximized is not None:
            screen.minimize()
            return
        focused = self.focused
        if focused is None:
            return
        pane = next((w for w in focused.ancestors_with_self if w.has_class("pane")), focused)
        screen.maximized = pane  # type: ignore[assignment]

    def help_keys(self) -> list[tuple[str, str]]:
        return [(key, self.QUIT_HELP if key == "q" else what) for key, what in KEYS]

    def action_help(self) -> None:
        mode = self.approver.mode
        setting = f"timeout:{mode.seconds:g}" if mode.kind == "timeout" else mode.kind
        self.push_screen(HelpScreen(f"PHOENIX_APPROVAL={setting}", self.help_keys()))

    # --- command palette ---------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for title, help_text, action in PALETTE:
            yield SystemCommand(title, help_text, getattr(self, f"action_{action}"))
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
        title, help_text = self.QUIT_COMMAND
        yield SystemCommand(title, help_text, self.action_quit)
