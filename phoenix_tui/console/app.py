"""The Phoenix operator console: every engine event lands in a pane; every action is a key.

The engine runs as an asyncio task on the app's own loop (started once the first frame is
on screen), never in a Textual thread worker. Its sink only buffers; the frame
(:mod:`phoenix_tui.console._frame`) drains it 15 times a second into the panes. Quitting
while the training runs asks first, then stops it the graceful way and waits for the engine
before the app exits. File work (the backups' listing and diffs, a rollback) runs in threads
(:mod:`phoenix_tui.console._backups`). The footer and the status bar follow the run: only
the keys that apply now. The actions are mixins: :mod:`~phoenix_tui.console._logkeys`,
:mod:`~phoenix_tui.console._backups`, :mod:`~phoenix_tui.console.actions`, then the views
(:mod:`~phoenix_tui.console._views`) and the frame.
"""

from __future__ import annotations

__all__ = ["EngineLike", "PhoenixApp"]

import asyncio
import gc
import os
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.filter import Monochrome
from textual.widgets import Footer, Input

from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.backups import BackupRecord
from phoenix_tui.console._driver import HangupSafeDriver
from phoenix_tui.console._frame import FLOOD_FRAME_S, LOSS_EVERY_S, FrameUpdates
from phoenix_tui.console._nocolor import ReadableMonochrome
from phoenix_tui.console._progress import ProgressTap
from phoenix_tui.console._sink import ConsoleSink, local_hms
from phoenix_tui.console.actions import EngineLike
from phoenix_tui.console.panes.gpu import GpuPane
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.loss import LossPane
from phoenix_tui.console.panes.patches import BackupList, DetailPane, PatchList
from phoenix_tui.console.panes.status import StatusBar
from phoenix_tui.console.view_model import GpuModel, LossModel, RunModel

_EXPLAINED = {"a": "accept", "r": "reject", "s": "stop", "u": "resume", "R": "rollback"}


class PhoenixApp(FrameUpdates):
    CSS_PATH = "console.tcss"
    TITLE = "Phoenix"
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]  # noqa: RUF012
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide"), (160, "-huge")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "accept", "Accept"),
        Binding("r", "reject", "Reject"),
        Binding("tab", "focus_next", "Pane", show=False),
        Binding("shift+tab", "focus_previous", "Pane", show=False),
        Binding("s", "stop", "Stop"),
        Binding("u", "resume", "Resume"),
        Binding("R", "rollback", "Rollback"),
        Binding("slash", "search", "Search"),
        Binding("n", "search_next(True)", "Older", show=False),
        Binding("N", "search_next(False)", "Newer", show=False),
        # f, w, z: in the help and the palette (and the log's subtitle says "f to follow"),
        # not the footer, which must fit 80 columns with a, r and R in it.
        Binding("f", "follow", "Follow", show=False),
        Binding("w", "wrap", "Wrap", show=False),
        Binding("z", "zoom", "Zoom", show=False),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+c", "help_quit", show=False, system=True),
        Binding("q", "quit", "Quit"),
        # A key that does not apply now is hidden from the footer; pressed anyway, it says why.
        *(Binding(k, f"explain('{a}')", show=False) for k, a in _EXPLAINED.items()),
    ]

    def __init__(
        self,
        *,
        engine: EngineLike,
        approver: ApprovalDesk,
        settings: Settings,
        project_name: str,
        tap: ProgressTap | None = None,
        redact: Callable[[str], str] = lambda text: text,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        stamp: Callable[[float], str] = local_hms,
        flush_hz: float = 15.0,
        notes: Sequence[str] = (),
    ) -> None:
        super().__init__(driver_class=HangupSafeDriver if os.name == "posix" else None)
        if self.no_color:  # Textual's monochrome turns red and magenta text nearly invisible
            self._filters = [
                ReadableMonochrome() if isinstance(f, Monochrome) else f for f in self._filters
            ]
        self.engine = engine
        self.approver = approver
        self.settings = settings
        self.project_name = project_name
        self.tap = tap
        self._redact = redact
        self._clock, self._wall, self._stamp = clock, wall, stamp
        self._flush_s = 1.0 / flush_hz
        self.sink = ConsoleSink(settings.log_lines, stamp=stamp, redact=redact)
        engine.add_sink(self.sink)
        self.model = RunModel(
            max_retries=settings.max_retries,
            max_restarts=settings.max_restarts,
            provider=settings.primary,
        )
        self.loss = LossModel()
        self.gpu = GpuModel(stale_after_s=max(5.0, 3 * settings.gpu_interval_sec))
        self.engine_task: asyncio.Task[ExitCode] | None = None
        self.quitting = False
        self._started = 0.0
        self._tap_seen = -1
        self._backups: dict[str, BackupRecord] = {}
        self._rolling_back = ""  # the backup being restored, in a thread
        self._detail_from = "patches"
        self._asked_at: dict[str, float] = {}  # patch id -> when it started waiting (wall)
        self._notes = tuple(notes)  # warnings shown once the console is up
        self._stop_asked = 0.0  # clock time of the operator's stop, for the escalation
        self._keys_context: tuple[object, ...] = ()  # what the footer's keys were chosen for
        self._offer_file_search = ""  # a query whose older matches may only be in train.log
        self._loss_shown = -LOSS_EVERY_S
        self._loss_dirty = False
        self._log_written = -FLOOD_FRAME_S

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Horizontal(id="top"):
            with Vertical(id="log-box", classes="pane"):
                yield LogView(self.settings.log_lines, wrap=True, id="log")
                yield Input(placeholder="search the log (enter: older, ↑↓, esc)", id="search")
            with Vertical(id="side"):
                yield GpuPane(self.gpu, max_temp=self.settings.max_gpu_temp, id="gpu")
                yield LossPane(self.loss, id="loss")
        with Horizontal(id="bottom"):
            with Vertical(id="lists"):
                yield PatchList(id="patches")
                yield BackupList(id="backups")
            yield DetailPane(id="detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._log_view = self.query_one(LogView)
        self._log_box = self.query_one("#log-box", Vertical)
        self._search_input = self.query_one("#search", Input)
        self._loss_pane = self.query_one(LossPane)
        self._gpu_pane = self.query_one(GpuPane)
        self._patches = self.query_one(PatchList)
        self._backup_list = self.query_one(BackupList)
        self._detail = self.query_one(DetailPane)
        self._status = self.query_one(StatusBar)
        titles = {"#log-box": "Training log", "#gpu": "GPU", "#loss": "Loss"}
        titles |= {"#patches": "Patches", "#backups": "Backups", "#detail": "Detail"}
        for selector, title in titles.items():
            widget = self.query_one(selector)
            widget.border_title = title
            widget.add_class("pane")
        self._log_box.border_subtitle = ""
        self.watch(self._log_view, "follow", self._show_follow)
        self._started = self._clock()
        self._reload_backups()
        self._show_status()
        self._log_view.focus()
        self.set_interval(self._flush_s, self.flush)
        self.set_interval(1.0, self._tick)
        for note in self._notes:
            self.notify(note, severity="warning", timeout=20)

    def on_ready(self) -> None:
        """The first frame is on screen: start the engine now, not before, because the first
        layout pass costs tens of milliseconds the engine would spend not draining pipes."""
        if self.engine_task is None:
            # Everything built so far (Textual, the panes, the engine) lives as long as the
            # console: out of the collector's way, a full collection under a flood of output
            # costs less than half the CPU (measured: 87 -> 39 ms), and keys wait less.
            gc.freeze()
            self.engine_task = asyncio.get_running_loop().create_task(self._run_engine())

    def _show_follow(self, follow: bool | None = None) -> None:
        log = self._log_view
        parts = ["following" if log.follow else "paused · f to follow"]
        if log.search_text:
            at, total = log.count()
            parts.insert(0, f"{at}/{total} matches · n older · N newer" if total else "no match")
        if not log.wrap:
            parts.append("no wrap")
        self._log_box.border_subtitle = " · ".join(parts)

    async def _run_engine(self) -> ExitCode:
        try:
            return await self.engine.run()
        finally:
            self.call_later(self._engine_finished)

    def _engine_finished(self) -> None:
        self.flush()
        if not self._tearing_down:  # the last steps may wait for the 1 s tick: not at the end
            self._show_loss(self._clock(), late=True)
        task = self.engine_task
        failed = task is not None and task.done() and task.exception() is not None
        if self.quitting or failed:
            self._exit_with_engine_code()
