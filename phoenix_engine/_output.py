"""Where the training's output goes: the tail, train.log, the echo, hooks, lines, metrics.

The engine hands every raw chunk to :meth:`OutputPipeline.feed` (synchronously, from the
process protocol: nothing here awaits). The heartbeat hears that the training spoke; the tail
keeps the last lines for classification and prompts; ``train.log`` keeps everything (known
secrets masked); output hooks (the attach socket) and ``output`` events get masked copies;
lines that may carry metrics go to telemetry, whose anomalies go to ``on_anomaly``.
"""

from __future__ import annotations

__all__ = ["OutputPipeline"]

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from phoenix_engine import events as ev
from phoenix_engine.core.heartbeat import Heartbeat
from phoenix_engine.core.lines import LineSplitter
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.journal import RotatingFile
from phoenix_engine.io.output import OutputTail, TrainLog
from phoenix_engine.io.telemetry import HintedLines, Telemetry

if TYPE_CHECKING:
    from phoenix_engine.io.usercmd import OutputRelay


class OutputPipeline:
    """One per engine; :meth:`open` once the state directory exists."""

    def __init__(
        self,
        settings: Settings,
        *,
        redactor: Redactor,
        telemetry: Telemetry,
        emit: Callable[[ev.Event], None],
        monotonic: Callable[[], float],
        tee: Callable[[bytes], None] | None,
        want_lines: bool,
        on_anomaly: Callable[[ev.Anomaly], None],
    ) -> None:
        self.settings = settings
        self.redactor, self.telemetry = redactor, telemetry
        self.heartbeat = Heartbeat(
            heartbeat_min=settings.heartbeat_min,
            startup_min=settings.heartbeat_startup_min,
            learn=settings.heartbeat_learn,
        )
        self._emit, self._mono, self._tee = emit, monotonic, tee
        self.want_lines = want_lines
        self._on_anomaly = on_anomaly
        self.tail = OutputTail()
        self.trainlog: TrainLog | None = None
        self.hooks: list[Callable[[str, bytes], None]] = []
        self._splitters: dict[str, LineSplitter] = {}
        self._metric_splitters: dict[str, HintedLines] = {}

    def open(self) -> None:
        """Open train.log (a failure costs the kept output, never the supervision)."""
        path = self.settings.state_dir / "train.log"
        try:
            file: RotatingFile | None = RotatingFile(path, max_bytes=self.settings.log_max_bytes)
        except OSError as exc:
            self._notice(f"cannot open {path}: {exc.strerror or exc}; output is not kept")
            file = None
        self.trainlog = TrainLog(file, redactor=self.redactor, on_error=self._notice)

    def restart(self) -> None:
        """A new run of the training: its tail and partial lines start empty."""
        self.tail.clear()
        self._splitters.clear()

    def feed(self, stream: str, data: bytes) -> None:
        now = self.telemetry.last_output_at = self._mono()
        notice = self.heartbeat.output(stream, data, now)
        if notice is not None:
            self._emit(notice)
        self.tail.add(stream, data)
        assert self.trainlog is not None
        written = self.trainlog.write(stream, data)
        if written and self._tee is not None:
            self._tee(written)
        if self.hooks:
            masked = self.redactor.redact_known_bytes(data)
            for hook in self.hooks:
                hook(stream, masked)
        if self.want_lines:
            splitter = self._splitters.setdefault(stream, LineSplitter())
            # Whole lines are redacted, so a secret split across two reads is masked too.
            lines = self.redactor.redact_lines(splitter.feed(data))
            if lines:
                self._emit(ev.OutputLines(stream=stream, lines=tuple(lines)))
        # Metrics read the raw stream in both modes: the bar frames a line overwrites count.
        self._metric_lines(self._metric_finder(stream).feed(data))

    def flush(self) -> None:
        """The training is gone: write out what is left of its partial lines."""
        assert self.trainlog is not None
        rest = self.trainlog.flush()
        if rest and self._tee is not None:
            self._tee(rest)
        for stream, splitter in self._splitters.items():
            lines = self.redactor.redact_lines(splitter.flush())
            if lines:
                self._emit(ev.OutputLines(stream=stream, lines=tuple(lines)))
        for finder in self._metric_splitters.values():
            self._metric_lines(finder.flush())
        self._metric_splitters.clear()
        self.telemetry.flush_sample()

    def relay(self) -> OutputRelay:
        """Where an evaluation's output goes: like the training's, never read for metrics."""
        from phoenix_engine.io.usercmd import OutputRelay  # usercmd imports engine.py

        return OutputRelay(
            trainlog=self.trainlog,
            redactor=self.redactor,
            tee=self._tee,
            hooks=self.hooks,
            emit=self._emit if self.want_lines else None,
        )

    @property
    def written(self) -> int:
        return self.trainlog.written if self.trainlog is not None else 0

    def _metric_finder(self, stream: str) -> HintedLines:
        """Finds the lines that may carry metrics; the rest of a chunk is never decoded."""
        finder = self._metric_splitters.get(stream)
        if finder is None:
            finder = self._metric_splitters[stream] = self.telemetry.lines_for()
        return finder

    def _metric_lines(self, lines: Sequence[str]) -> None:
        if lines:
            for anomaly in self.telemetry.on_lines(lines):
                self._on_anomaly(anomaly)

    def _notice(self, message: str) -> None:
        self._emit(ev.Notice(message=message))
