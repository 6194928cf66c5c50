"""Which progress bar counts the training's steps, when a run shows several.

A Hugging Face run draws bars without a description for training and for each evaluation, and
other bars for data preparation and saving. :class:`BarPicker` follows one bar per process:

- a bar described as training (``train``, ``Epoch N``) is always the one;
- otherwise the first bar without a description that is seen; a later bar with another total
  takes over only while the followed one has not moved (still at 0);
- a bar whose count falls back (an evaluation bar that starts at 0 each time) is never the
  training bar again, and the followed bar's frames that go backwards are ignored.

Pure: fed each bar frame's (kind, n, total), it answers whether the frame is a training step.
"""

from __future__ import annotations

__all__ = ["BarPicker"]

from phoenix_engine.core.readings import BarKind


class BarPicker:
    """One per training process: ``reset()`` when the training starts again."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: int | None = None  # the followed bar's total (None: none followed yet)
        self.n = -1
        self._seen: dict[int | None, int] = {}  # the last count of every other bar, by total
        self._repeating: set[int | None] = set()

    def accept(self, kind: BarKind, n: int, total: int | None) -> bool:
        """Whether this frame is the training bar's; remembers what it learns."""
        if kind is BarKind.OTHER:
            return False
        if kind is BarKind.TRAIN:
            if total != self.total:
                self.total, self.n = total, -1
            return self._advance(n)
        if self.n >= 0 and total == self.total:
            return self._advance(n)
        last = self._seen.get(total)
        self._seen[total] = n
        if last is not None and n < last:
            self._repeating.add(total)  # it went back: an evaluation bar
        if total in self._repeating:
            return False
        if self.n <= 0:  # nothing followed yet, or the followed bar never moved
            self.total, self.n = total, -1
            return self._advance(n)
        return False

    def _advance(self, n: int) -> bool:
        if n < self.n:
            return False
        self.n = n
        return True
