"""Training anomalies and progress from a stream of metric samples: NaN, spikes, stalls.

Pure: :class:`Watch` is fed each parsed sample with the time it was seen and answers with
events; the engine calls :meth:`Watch.check_stall` on its sampling tick. Every anomaly is
reported once per episode: a NaN run of a thousand lines is one event, and the next NaN after
a finite loss is a new one. Divergence is a NaN/inf loss, a NaN/inf ``grad_norm`` (with the
Trainer's default ``logging_nan_inf_filter`` the loss then reads 0), or an alarm the trainer
printed itself (see :mod:`phoenix_engine.core.readings`).

When the step goes back (a restart from scratch or from an older checkpoint) a new segment
starts: spikes are judged within it, and the loss history (for a ``diverged`` repair prompt)
is the segment's. Rates are steps over wall time (the last minute); progress events come at
most once per step, and a step whose loss arrives on a later line (the Trainer prints the
bar, then the dict line) waits for that loss, or for the next step or tick.
"""

from __future__ import annotations

__all__ = ["Watch"]

import dataclasses
import math
import statistics
from collections import deque

from phoenix_engine.core.readings import BarKind
from phoenix_engine.core.trainbar import BarPicker
from phoenix_engine.events import Anomaly, MetricSample, Progress

_RATE_WINDOW_S = 60.0
_MIN_SPAN_S = 1.0  # a rate measured over less wall time than this is noise


class Watch:
    """Anomaly detection for one run; ``restart()`` when the training is started again.

    ``spike_k``: a loss above k times the rolling median of the last ``window`` finite losses
    is a spike, once ``min_points`` losses are known (and only while that median is positive:
    a spike of a negative objective has no meaning here). ``stall_s`` 0 turns stalls off,
    ``notify_steps`` 0 turns progress events off (rates and ETAs are still computed).
    """

    def __init__(
        self,
        *,
        stall_s: float,
        notify_steps: int,
        spike_k: float = 4.0,
        window: int = 50,
        min_points: int = 10,
        history: int = 200,
    ) -> None:
        self.stall_s, self.notify_steps = stall_s, notify_steps
        self.spike_k, self.min_points = spike_k, min_points
        self._recent: deque[float] = deque(maxlen=window)
        self._history: deque[tuple[int | None, float]] = deque(maxlen=history)
        self._last_raw = ""  # the last loss as printed
        self._total: int | None = None
        self._in_nan = self._in_spike = False
        self.segment = 0
        self._high: int | None = None  # the highest step of this segment
        self.bars = BarPicker()
        self.sample: MetricSample | None = None  # the last sample fed, as understood
        self.restart()

    def restart(self) -> None:
        """Forget step timing and open episodes; keep the losses (same model, same data)."""
        self._step: int | None = None
        self._advanced_at = 0.0
        self._seen_at = 0.0  # the last metric line
        self._in_stall = False
        self._done: int | None = None  # the step of the last progress event
        self._block: int | None = None  # step // notify_steps at the last progress event
        self._marks: deque[tuple[float, int]] = deque()  # (time, step) for the rate
        self._pending: Progress | None = None
        self.bars.reset()

    def loss_history(self) -> list[tuple[int | None, float]]:
        """(step or None, loss) of this segment, oldest first, NaN and inf included."""
        return list(self._history)

    def feed(
        self,
        sample: MetricSample,
        raw_loss: str | None,
        now: float,
        *,
        bar: BarKind | None = None,
        alarm: str = "",
    ) -> list[Anomaly | Progress]:
        step = sample.step
        if (
            bar is not None
            and step is not None
            and not self.bars.accept(bar, step, sample.total_steps)
        ):
            sample = dataclasses.replace(sample, step=None, total_steps=None)
        self._seen_at = now
        events: list[Anomaly | Progress] = []
        if sample.step is not None:
            self._new_segment_if_back(sample.step)
        if sample.total_steps is not None:
            self._total = sample.total_steps
        step = sample.step if sample.step is not None else self._step
        if sample.loss is not None:
            self._last_raw = raw_loss if raw_loss is not None else f"{sample.loss:g}"
            self._history.append((step, sample.loss))
        found = self._diverged(sample, step, alarm)
        if found is None and sample.loss is not None and _finite(sample.grad_norm):
            found = self._spike(sample.loss, step)
        if found is not None:
            events.append(found)
        if sample.step is not None:
            events += self._advance(sample.step, sample.loss is not None, sample.rate, now)
        elif sample.loss is not None and self._pending is not None:
            events.append(self._release())
        rate = self._rate(sample.rate, now)
        eta = (self._total - step) / rate if rate and self._total and step is not None else None
        self.sample = dataclasses.replace(
            sample, step=step, eta_s=eta if eta is None or eta >= 0 else None, segment=self.segment
        )
        return events

    def flush(self) -> Progress | None:
        """A progress event still waiting for its step's loss (the sampling tick calls this)."""
        return self._release() if self._pending is not None else None

    def check_stall(self, now: float, last_output_at: float | None = None) -> Anomaly | None:
        """A stall: the step has not moved for ``stall_s`` while output went on after it.

        ``last_output_at`` is when the child last printed anything; by default, when the last
        metric line came. Output that stopped as well is a hang, which is not decided here.
        """
        if self.stall_s <= 0 or self._step is None or self._in_stall:
            return None
        output = self._seen_at if last_output_at is None else last_output_at
        if now - self._advanced_at < self.stall_s or output <= self._advanced_at:
            return None
        self._in_stall = True
        minutes = (now - self._advanced_at) / 60
        detail = f"step {self._step} has not advanced for {minutes:.1f} min while output continues"
        return Anomaly(kind="stall", step=self._step, detail=detail)

    # --- losses -------------------------------------------------------------------------------

    def _new_segment_if_back(self, step: int) -> None:
        if self._high is not None and step < self._high:
            self.segment += 1
            self._recent.clear()
            self._history.clear()
            self._in_spike = False
            self._done = self._block = None
            self._marks.clear()
            self._high = step
        self._high = step if self._high is None else max(self._high, step)

    def _diverged(self, sample: MetricSample, step: int | None, alarm: str) -> Anomaly | None:
        where = f"step {step}" if step is not None else "an unknown step"
        loss, grad = sample.loss, sample.grad_norm
        detail = ""
        if loss is not None and not math.isfinite(loss):
            before = f" (last finite loss {self._recent[-1]:g})" if self._recent else ""
            detail = f"loss {self._last_raw} at {where}{before}"
        elif not _finite(grad):
            detail = f"grad_norm {grad} at {where}"
            if loss == 0:
                detail += " (the loss reads 0: the Trainer's logging_nan_inf_filter hides the NaN)"
        elif alarm:
            detail = f"{alarm} at {where}"
        if not detail:
            if loss is not None:
                self._in_nan = False
            return None
        if self._in_nan:
            return None
        self._in_nan = True
        return Anomaly(kind="nan", step=step, detail=detail)

    def _spike(self, loss: float, step: int | None) -> Anomaly | None:
        median = statistics.median(self._recent) if len(self._recent) >= self.min_points else 0.0
        self._recent.append(loss)
        if median <= 0 or loss <= self.spike_k * median:
            self._in_spike = False
            return None
        if self._in_spike:
            return None
        self._in_spike = True
        where = f"step {step}" if step is not None else "an unknown step"
        detail = (
            f"loss {self._last_raw} at {where} is {loss / median:.1f}x the median "
            f"{median:.4g} of the last {len(self._recent) - 1} losses"
        )
        return Anomaly(kind="spike", step=step, detail=detail)

    # --- progress -----------------------------------------------------------------------------

    def _advance(
        self, step: int, has_loss: bool, printed: float | None, now: float
    ) -> list[Anomaly | Progress]:
        if step != self._step:
            self._step, self._advanced_at, self._in_stall = step, now, False
            self._marks.append((now, step))
        while len(self._marks) > 2 and now - self._marks[1][0] >= _RATE_WINDOW_S:
            self._marks.popleft()
        if self.notify_steps <= 0:
            return []
        out: list[Anomaly | Progress] = [self._release()] if self._pending is not None else []
        block = step // self.notify_steps
        if self._block is None:
            self._block, self._done = block, step  # the first sight only starts counting
            return out
        if block <= self._block or (self._done is not None and step <= self._done):
            return out
        self._block, self._done = block, step
        self._pending = Progress(step=step, loss=self._last_raw, rate=self._rate(printed, now))
        if has_loss:
            out.append(self._release())
        return out

    def _release(self) -> Progress:
        assert self._pending is not None
        pending, self._pending = self._pending, None
        eta = None
        if pending.rate and self._total is not None and self._total >= pending.step:
            eta = (self._total - pending.step) / pending.rate
        return dataclasses.replace(pending, loss=self._last_raw, eta_s=eta)

    def _rate(self, printed: float | None, now: float) -> float | None:
        """Steps per second over the last minute of wall time; the printed rate before that."""
        if len(self._marks) >= 2:
            (t0, s0), (t1, s1) = self._marks[0], self._marks[-1]
            if t1 - t0 >= _MIN_SPAN_S and s1 > s0:
                return (s1 - s0) / (t1 - t0)
        return printed


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)
