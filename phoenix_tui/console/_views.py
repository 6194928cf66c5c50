"""What the console's status bar and detail pane say, redrawn from the run's model.

The status bar is one row, redrawn every frame without a layout pass; it also decides when
the footer's keys change (only then are the bindings refreshed). The detail pane shows the
selected patch (with what the operator may do and the countdown of a timed approval), the
selected backup's diff, why the run ended, or the matches a search found in train.log.
A mixin of :class:`~phoenix_tui.console.app.PhoenixApp`, which sets up the attributes below.
"""

from __future__ import annotations

__all__ = ["PaneViews"]

from collections.abc import Callable

from rich.text import Text
from textual.widgets import OptionList

from phoenix_tui.console._notes import run_note, status_note
from phoenix_tui.console.actions import OperatorActions
from phoenix_tui.console.panes.patches import BackupList, PatchList, patch_detail
from phoenix_tui.console.panes.status import StatusBar, status_text
from phoenix_tui.console.view_model import PatchState, Phase


class PaneViews(OperatorActions):
    """The status bar and the detail pane."""

    project_name: str
    _status: StatusBar
    _started: float
    _wall: Callable[[], float]
    _asked_at: dict[str, float]  # patch id -> when it started waiting (wall)
    _keys_context: tuple[object, ...]  # what the footer's keys were chosen for

    def _show_status(self) -> None:
        bar = self._status
        age = self.model.run_age(self._wall())
        uptime = self._clock() - self._started if age is None else age
        compact = self.size.width < 110
        note = self._status_note()
        text = status_text(
            self.model,
            uptime=uptime,
            project=self.project_name,
            note=note,
            compact=compact,
            width=self.size.width,
        )
        bar.update(text, layout=False)  # one row, always: no layout pass per frame
        self.screen.set_class(self.model.awaiting is not None, "-awaiting")
        phase = self.model.phase
        bar.set_class(phase is Phase.COMPLETED, "-final-completed")
        bar.set_class(phase is Phase.GAVE_UP, "-final-gave-up")
        bar.set_class(phase is Phase.AWAITING, "-awaiting")
        searching = bool(self._log_view.search_text)
        context: tuple[object, ...] = (phase, self.model.awaiting is not None, self.holding)
        context += (self._can_roll_back(), searching)
        if context != self._keys_context:  # the keys that apply changed: redraw the footer
            self._keys_context = context
            self.refresh_bindings()

    def _status_note(self) -> str:
        awaiting = self.model.awaiting
        return status_note(
            self.model,
            countdown=self._countdown(awaiting) if awaiting else "",
            compact=self.size.width < 110,
            holding=self.holding,
            grace=self.settings.kill_grace_sec,
            stopping_for=self._clock() - self._stop_asked,
        )

    def _countdown(self, patch_id: str) -> str:
        mode = self.approver.mode
        asked = self._asked_at.get(patch_id)
        if mode.kind != "timeout" or asked is None:
            return ""
        left = max(0.0, asked + mode.seconds - self._wall())
        return f"auto-approves in {int(left) // 60}:{int(left) % 60:02d} · "

    def _show_detail(self) -> None:
        if self._detail_from == "grep":  # the matches found in train.log stay
            return
        ended = run_note(self.model, holding=self.holding)
        detail = self._detail
        if self._detail_from == "backups":
            key = self._backup_list.selected_id
            record = self._backups.get(key or "")
            if record is not None:  # its diff follows once a thread has read the files
                self._show_backup(record, {p.id: p.diff for p in self.model.patches.values()})
                return
        key = self._patches.selected_id
        entry = self.model.patches.get(key or "")
        if entry is None:
            if ended is not None:
                detail.show("run", (ended, Text(""), Text("")))
            elif detail.subject == "run":  # resumed: the reason it ended is gone
                detail.show("", (Text("no patch yet", style="dim"), Text(""), Text("")))
            return
        action = ""
        if entry.state is PatchState.AWAITING:
            action = f"{self._countdown(entry.id)}a accepts, r rejects"
        head, body, foot = patch_detail(entry, action)
        if ended is not None:
            head = ended.append("\n\n").append_text(head)
        detail.show(f"patch:{entry.id}", (head, body, foot))

    def on_option_list_option_highlighted(self, message: OptionList.OptionHighlighted) -> None:
        source = "backups" if isinstance(message.option_list, BackupList) else "patches"
        if message.option_list.has_focus:
            self._detail_from = source
        if source == self._detail_from:
            self._show_detail()

    def on_descendant_focus(self, message: object) -> None:
        focused = self.focused
        if isinstance(focused, BackupList | PatchList):
            self._detail_from = "backups" if isinstance(focused, BackupList) else "patches"
            self._show_detail()
