"""Training anomalies and progress from a stream of metric samples: NaN, spikes, stalls.

Pure: :class:`Watch` is fed each parsed sample with the time it was seen and answers with
events; the engine calls :meth:`Watch.check_stall` on its sampling tick. Every anomaly is
reported once per episode: a NaN run of a thousand lines is one event, and the next NaN after
a finite loss is a new one. The loss history it keeps goes into a repair prompt when
``PHOENIX_NAN_ACTION=repair`` turns a NaN into a failure.
"""

from __future__ import annotations

__all__ = ["Watch"]

import math
import statistics
from collections import deque

from phoenix_engine.events import Anomaly, MetricSample, Progress


class Watch:
    """Anomaly detection for one run; ``restart()`` when the training is started again.

    ``spike_k``: a loss above k times the rolling median of the last ``window`` finite losses
    is a spike, once ``min_points`` losses are known (and only while that median is positive:
    a spike of a negative objective has no meaning here). ``stall_s`` 0 turns stalls off,
    ``notify_steps`` 0 turns progress off.
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
        self.restart()

    def restart(self) -> None:
        """Forget step timing and open episodes; keep the losses (same model, same data)."""
        self._step: int | None = None
        self._advanced_at = 0.0
        self._seen_at = 0.0  # the last metric line
        self._in_stall = False
        self._block: int | None = None  # step // notify_steps at the last progress event
        self._mark: tuple[float, int] | None = None  # (time, step) the rate is measured from

    def loss_history(self) -> list[tuple[int | None, float]]:
        """(step or None, loss) oldest first, NaN and inf included, for the repair prompt."""
        return list(self._history)

    def feed(
        self, sample: MetricSample, raw_loss: str | None, now: float
    ) -> list[Anomaly | Progress]:
        self._seen_at = now
        if sample.total_steps is not None:
            self._total = sample.total_steps
        events: list[Anomaly | Progress] = []
        if sample.loss is not None:
            self._last_raw = raw_loss if raw_loss is not None else f"{sample.loss:g}"
            self._history.append((sample.step, sample.loss))
            found = self._check_loss(sample.loss, sample.step)
            if found is not None:
                events.append(found)
        if sample.step is not None:
            progress = self._advance(sample.step, sample.rate, now)
            if progress is not None:
                events.append(progress)
        return events

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

    def _check_loss(self, loss: float, step: int | None) -> Anomaly | None:
        where = f"step {step}" if step is not None else "an unknown step"
        if not math.isfinite(loss):
            if self._in_nan:
                return None
            self._in_nan = True
            before = f" (last finite loss {self._recent[-1]:g})" if self._recent else ""
            return Anomaly(
                kind="nan", step=step, detail=f"loss {self._last_raw} at {where}{before}"
            )
        self._in_nan = False
        median = statistics.median(self._recent) if len(self._recent) >= self.min_points else 0.0
        self._recent.append(loss)
        if median <= 0 or loss <= self.spike_k * median:
            self._in_spike = False
            return None
        if self._in_spike:
            return None
        self._in_spike = True
        detail = (
            f"loss {self._last_raw} at {where} is {loss / median:.1f}x the median "
            f"{median:.4g} of the last {len(self._recent) - 1} losses"
        )
        return Anomaly(kind="spike", step=step, detail=detail)

    def _advance(self, step: int, rate: float | None, now: float) -> Progress | None:
        if step != self._step:
            self._step, self._advanced_at, self._in_stall = step, now, False
        if self.notify_steps <= 0:
            return None
        block = step // self.notify_steps
        if self._block is None or block < self._block or self._mark is None:
            self._block, self._mark = block, (now, step)  # first sight, or went back
            return None
        if block == self._block:
            return None
        since, from_step = self._mark
        measured = (step - from_step) / (now - since) if now > since else None
        steps_per_s = measured or rate
        eta = None
        if steps_per_s and self._total is not None and self._total >= step:
            eta = (self._total - step) / steps_per_s
        self._block, self._mark = block, (now, step)
        return Progress(step=step, loss=self._last_raw, rate=steps_per_s, eta_s=eta)
