"""The Phoenix operator console: every engine event lands in a pane; every action is a key.

The engine runs as an asyncio task on the app's own loop (started on mount), never in a
Textual thread worker. Its sink only buffers; a timer drains the buffer 15 times a second
and updates the panes with one write each (never while the app tears down). Quitting while
the training runs asks first, then stops it the graceful way and waits for the engine before
the app exits. Rollbacks run on the loop between two engine steps, so they cannot interleave
with an apply. The footer and the status bar follow the run: only the keys that apply now.
"""

from __future__ import annotations

__all__ = ["EngineLike", "PhoenixApp"]

import asyncio
import gc
import os
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.filter import Monochrome
from textual.widgets import Footer, Input, OptionList

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.backups import BackupRecord, list_backups
from phoenix_engine.io.host import HostReading
from phoenix_tui.console._diff import backup_diff
from phoenix_tui.console._driver import HangupSafeDriver
from phoenix_tui.console._nocolor import ReadableMonochrome
from phoenix_tui.console._notes import run_note, status_note
from phoenix_tui.console._progress import ProgressTap, clean_partial
from phoenix_tui.console._sink import ConsoleSink, local_hms
from phoenix_tui.console.actions import EngineLike, OperatorActions
from phoenix_tui.console.panes.gpu import GpuPane
from phoenix_tui.console.panes.log import LogView
from phoenix_tui.console.panes.loss import LossPane
from phoenix_tui.console.panes.patches import (
    BackupList,
    DetailPane,
    PatchList,
    backup_detail,
    backup_prompt,
    patch_detail,
    patch_prompt,
)
from phoenix_tui.console.panes.status import StatusBar, status_text
from phoenix_tui.console.view_model import GpuModel, LossModel, PatchState, Phase, RunModel

_PATCH_EVENTS = (
    ev.PatchProposed,
    ev.PatchRejected,
    ev.ShadowFailed,
    ev.ShadowPassed,
    ev.ApprovalRequested,
    ev.PatchApplied,
    ev.RolledBack,
)


_LOSS_EVERY_S = 0.25
_FLOOD_LINES = 1000  # lines in one frame (15 a second) that make a flood
_FLOOD_FRAME_S = 0.25
_EXPLAINED = {"a": "accept", "r": "reject", "s": "stop", "u": "resume", "R": "rollback"}


class PhoenixApp(OperatorActions):
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
        self._detail_from = "patches"
        self._asked_at: dict[str, float] = {}  # patch id -> when it started waiting (wall)
        self._notes = tuple(notes)  # warnings shown once the console is up
        self._stop_asked = 0.0  # clock time of the operator's stop, for the escalation
        self._keys_context: tuple[object, ...] = ()  # what the footer's keys were chosen for
        self._offer_file_search = ""  # a query whose older matches may only be in train.log
        self._loss_shown = -_LOSS_EVERY_S
        self._loss_dirty = False
        self._log_written = -_FLOOD_FRAME_S

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

    @property
    def _tearing_down(self) -> bool:
        """The app is exiting: its widgets may already be gone."""
        return self._exit or not self.is_running or self._closing

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

    # --- the frame ---------------------------------------------------------------------------

    def flush(self) -> None:
        """Move everything the engine said since the last frame into the panes."""
        if self._tearing_down:  # a timer may still fire while Textual removes the panes
            return
        try:
            self._drain()
        except NoMatches:
            if not self._tearing_down:
                raise

    def _drain(self) -> None:
        # Under a flood every frame redraws the whole log, and drawing is what keeps keys
        # waiting: then the log takes a frame only every _FLOOD_FRAME_S (the lines between
        # wait in the sink's bounded buffer; the events, GPU and metrics still go at once).
        now = time.monotonic()  # not the injected clock: this is pacing, not something shown
        flood = self.sink.pending_lines >= _FLOOD_LINES
        take = not flood or not 0 <= now - self._log_written < _FLOOD_FRAME_S
        if take and self.sink.pending_lines:
            self._log_written = now
        batch = self.sink.drain(lines=take)
        log = self._log_view
        log.dropped += batch.dropped
        if batch.lines:
            log.write_lines(batch.lines)
        if self.tap is not None and self.tap.version != self._tap_seen:
            self._tap_seen = self.tap.version
            log.set_partial(self._redact(clean_partial(self.tap.partial())))  # the whole line
        if batch.metrics:
            self.loss.add(batch.metrics)
            self._show_loss(now=self._clock())
        if batch.gpu is not None:
            self.gpu.update(batch.gpu, self._clock())
            self._gpu_pane.show(self._clock())
        if batch.events:
            self._apply(batch.events)

    def _apply(self, events: list[ev.Event]) -> None:
        patches_changed = backups_changed = False
        waiting = None
        anomalies = False
        for event in events:
            self.model.apply(event)
            if isinstance(event, ev.Anomaly):
                self.loss.anomaly(event)
                anomalies = True
            if isinstance(event, ev.HostStatus):  # the engine samples the host, once for all
                self.gpu.host = _host_reading(event)
                self._gpu_pane.show(self._clock())
            patches_changed |= isinstance(event, _PATCH_EVENTS)
            backups_changed |= isinstance(event, ev.PatchApplied | ev.RolledBack)
            if isinstance(event, ev.ApprovalRequested):
                waiting = event.id
                self._asked_at[event.id] = event.ts or self._wall()
        if anomalies:
            self._loss_pane.show()
        if patches_changed:
            items = [(e.id, patch_prompt(e)) for e in self.model.patches.values()]
            self._patches.set_items(items, latest=-1)
        if backups_changed:
            self._reload_backups()
        if waiting is not None and self.model.awaiting == waiting:
            self._patches.select(waiting)
            self._detail_from = "patches"
            self.bell()
        self._show_status()
        self._show_detail()

    def _show_loss(self, now: float, *, late: bool = False) -> None:
        """Redraw the loss pane at most 4 times a second (a flood of steps); the 1 s tick
        draws what a skipped frame left out (``late``)."""
        if late and not self._loss_dirty:
            return
        if not late and 0 <= now - self._loss_shown < _LOSS_EVERY_S:
            self._loss_dirty = True
            return
        self._loss_shown, self._loss_dirty = now, False
        self._loss_pane.show()

    def _tick(self) -> None:
        if self._tearing_down:
            return
        self._show_loss(self._clock(), late=True)
        self._show_status()
        if self.gpu.status is not None:
            self._gpu_pane.show(self._clock())
        if self.model.awaiting and self.approver.mode.kind == "timeout":
            self._show_detail()

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

    # --- detail ------------------------------------------------------------------------------

    def _show_detail(self) -> None:
        if self._detail_from == "grep":  # the matches found in train.log stay
            return
        ended = run_note(self.model, holding=self.holding)
        detail = self._detail
        if self._detail_from == "backups":
            key = self._backup_list.selected_id
            record = self._backups.get(key or "")
            if record is not None:
                known = {p.id: p.diff for p in self.model.patches.values()}
                note, diff = backup_diff(record, self.settings.project_dir, known)
                detail.show(f"backup:{record.id}", backup_detail(record, note, diff, self._stamp))
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

    def _reload_backups(self) -> None:
        try:
            records = list_backups(self.settings.state_dir)
        except OSError as exc:
            self.notify(f"cannot list backups: {exc}", severity="error")
            return
        self._backups = {r.id: r for r in records}
        items = [(r.id, backup_prompt(r, self._stamp)) for r in records]
        self._backup_list.set_items(items)


def _host_reading(event: ev.HostStatus) -> HostReading:
    disk = {event.disk_path: event.disk_free_gb} if event.disk_path else {}
    return HostReading(
        cpu_pct=event.cpu_pct,
        ram_used_gb=event.ram_used_gb,
        ram_total_gb=event.ram_total_gb,
        disk_free_gb=disk,
    )
