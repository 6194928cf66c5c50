"""The console's frame: what the engine said since the last one goes into the panes at once.

The engine's sink only buffers; a timer calls :meth:`FrameUpdates.flush` 15 times a second
and each pane gets one write (never while the app tears down: a timer may fire while
Textual removes the panes). Under a flood of output the log takes a frame only every
``_FLOOD_FRAME_S`` and the loss pane is redrawn at most 4 times a second; the 1 s tick draws
what a skipped frame left out. A mixin of :class:`~phoenix_tui.console.app.PhoenixApp`.
"""

from __future__ import annotations

__all__ = ["FLOOD_FRAME_S", "LOSS_EVERY_S", "FrameUpdates"]

import time
from collections.abc import Callable

from textual.css.query import NoMatches

from phoenix_engine import events as ev
from phoenix_engine.io.host import HostReading
from phoenix_tui.console._progress import ProgressTap, clean_partial
from phoenix_tui.console._sink import ConsoleSink
from phoenix_tui.console._views import PaneViews
from phoenix_tui.console.panes.gpu import GpuPane
from phoenix_tui.console.panes.loss import LossPane
from phoenix_tui.console.panes.patches import patch_prompt
from phoenix_tui.console.view_model import GpuModel, LossModel

_PATCH_EVENTS = (
    ev.PatchProposed,
    ev.PatchRejected,
    ev.ShadowFailed,
    ev.ShadowPassed,
    ev.ApprovalRequested,
    ev.PatchApplied,
    ev.RolledBack,
)
LOSS_EVERY_S = 0.25
_FLOOD_LINES = 1000  # lines in one frame (15 a second) that make a flood
FLOOD_FRAME_S = 0.25


class FrameUpdates(PaneViews):
    """Drain the sink into the panes; the attributes below are set up by the app."""

    sink: ConsoleSink
    tap: ProgressTap | None
    loss: LossModel
    gpu: GpuModel
    _redact: Callable[[str], str]
    _loss_pane: LossPane
    _gpu_pane: GpuPane
    _tap_seen: int
    _log_written: float
    _loss_shown: float
    _loss_dirty: bool

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
        # waiting: then the log takes a frame only every FLOOD_FRAME_S (the lines between
        # wait in the sink's bounded buffer; the events, GPU and metrics still go at once).
        now = time.monotonic()  # not the injected clock: this is pacing, not something shown
        flood = self.sink.pending_lines >= _FLOOD_LINES
        take = not flood or not 0 <= now - self._log_written < FLOOD_FRAME_S
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
        if not late and 0 <= now - self._loss_shown < LOSS_EVERY_S:
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


def _host_reading(event: ev.HostStatus) -> HostReading:
    disk = {event.disk_path: event.disk_free_gb} if event.disk_path else {}
    return HostReading(
        cpu_pct=event.cpu_pct,
        ram_used_gb=event.ram_used_gb,
        ram_total_gb=event.ram_total_gb,
        disk_free_gb=disk,
    )
