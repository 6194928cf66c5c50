"""What the operator does in the console: answer a patch, stop, resume, quit, roll back, zoom.

A mixin of :class:`~phoenix_tui.console.app.PhoenixApp` (Textual finds actions as methods of the
app); the panes and the engine are the app's. Every action that stops the training or
changes files asks first; keys work whichever pane has focus because they are the app's.
``check_action`` hides the keys that do not apply now, so the footer shows only the others.
The log's own keys (search, follow, wrap) are in :mod:`phoenix_tui.console._logkeys`.
"""

from __future__ import annotations

__all__ = ["EngineLike", "OperatorActions"]

import asyncio
from collections.abc import Callable, Iterable
from typing import Protocol

from textual.app import SystemCommand
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.backups import BackupError, BackupRecord, BackupState, rollback
from phoenix_tui.console._logkeys import LogActions
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.patches import BackupList, DetailPane, PatchList
from phoenix_tui.console.screens import KEYS, ConfirmScreen, HelpScreen
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


class OperatorActions(LogActions):
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
    _backup_list: BackupList
    _backups: dict[str, BackupRecord]
    _log_view: LogView
    _log_box: Vertical
    _search_input: Input
    _detail: DetailPane
    _detail_from: str
    _stop_asked: float
    _offer_file_search: str
    _clock: Callable[[], float]

    def flush(self) -> None:
        raise NotImplementedError

    def _show_status(self) -> None:
        raise NotImplementedError

    # --- which keys apply now ----------------------------------------------------------------

    @property
    def holding(self) -> bool:
        """The training is stopped (or gave up) and the engine waits for a resume."""
        return bool(self.engine.holding)

    def _can_roll_back(self) -> bool:
        return any(
            b.state is BackupState.APPLIED and b.kind == "patch" for b in self._backups.values()
        )

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

    def action_rollback(self) -> None:
        key = self._backup_list.selected_id
        record = self._backups.get(key or "")
        if record is None:
            self.notify("no backup selected (tab to the Backups pane)", severity="warning")
            return
        if record.state is not BackupState.APPLIED or record.kind != "patch":
            self.notify(
                f"backup {record.id} is {record.state.replace('_', ' ')} ({record.kind}): "
                "nothing to roll back",
                severity="warning",
            )
            return
        files = ", ".join(record.paths)
        detail = (
            f"Restores {files} as they were before patch {record.proposal_id[:8]} "
            f"({record.provider}); the current files are backed up first. A training that is "
            "running keeps the code it loaded; its next start uses the restored files."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.roll_back(record.id)

        self.push_screen(
            ConfirmScreen(f"Roll back backup {record.id}?", detail, yes="Roll back"), answered
        )

    def roll_back(self, backup_id: str) -> None:
        """Restore a backup now (on the loop: no engine step runs meanwhile) and journal it."""
        s = self.settings
        try:
            result = rollback(s.state_dir, s.project_dir, backup_id)
        except (BackupError, OSError) as exc:
            self.notify(f"rollback failed: {exc}", severity="error", timeout=15)
            return
        self.engine.emit(
            ev.RolledBack(
                backup_id=result.backup_id,
                paths=result.paths,
                safety_backup_id=result.safety_backup_id,
            )
        )
        self.notify(f"rolled back {result.backup_id}: restored {', '.join(result.paths)}")
        self.flush()

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
        yield SystemCommand("Accept patch", "Accept the selected patch (a)", self.action_accept)
        yield SystemCommand("Reject patch", "Reject the selected patch (r)", self.action_reject)
        yield SystemCommand("Stop training", "Stop the training gracefully (s)", self.action_stop)
        yield SystemCommand("Resume training", "Resume a stopped training (u)", self.action_resume)
        yield SystemCommand("Roll back", "Roll back the selected backup (R)", self.action_rollback)
        yield SystemCommand("Search log", "Search the training log (/)", self.action_search)
        yield SystemCommand("Follow log", "Follow the end of the log (f)", self.action_follow)
        yield SystemCommand("Wrap log lines", "Wrap long lines, or cut them (w)", self.action_wrap)
        yield SystemCommand("Zoom pane", "Maximise the focused pane (z)", self.action_zoom)
        yield SystemCommand("Next pane", "Focus the next pane (tab)", self.action_focus_next)
        yield SystemCommand(
            "Previous pane", "Focus the previous pane (shift+tab)", self.action_focus_previous
        )
        yield SystemCommand("Help", "The keys (?)", self.action_help)
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
        title, help_text = self.QUIT_COMMAND
        yield SystemCommand(title, help_text, self.action_quit)
