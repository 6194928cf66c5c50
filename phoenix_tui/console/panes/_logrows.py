"""The log pane's rows when long lines wrap: how many rows each line takes, and where.

Each line's width in columns is measured once, when it arrives; the rows it takes at the
pane's width are kept as running totals (extended batch by batch, rebuilt when the width
changes), so that the row of a line and the line of a row are a bisection, not a walk.
The scroll range follows the rows without a layout pass where it can.
A mixin of :class:`~phoenix_tui.console.panes.log.LogView`, which owns the attributes below.
"""

from __future__ import annotations

__all__ = ["WrappedRows"]

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from textual.geometry import Size
from textual.scroll_view import ScrollView

from phoenix_tui.console.panes._logtext import cells


class WrappedRows(ScrollView):
    """Row arithmetic over ``lines``; with ``wrap`` off a line is one row."""

    lines: list[str]
    partial: str
    wrap: bool
    _cells: list[int]  # each line's width in columns
    _ends: list[int]  # running total of rows, line by line (wrap only)
    _wrap_width: int

    def _rows_for(self, width: int) -> int:
        room = max(1, self._wrap_width)
        return max(1, -(-width // room))

    def _rows(self, sizes: Sequence[int]) -> list[int]:
        """Rows of each width at the wrap width (one comprehension: this runs per frame)."""
        room = max(1, self._wrap_width)
        return [(w - 1) // room + 1 if w > room else 1 for w in sizes]

    def _rewrap(self, added: Sequence[int] | None) -> None:
        """Running row totals: extended by the new lines, or rebuilt (``added`` None)."""
        width = max(1, self.scrollable_content_region.width or self.size.width)
        changed, self._wrap_width = width != self._wrap_width, width
        if added is None or changed or len(self._ends) + len(added) != len(self.lines):
            self._ends = list(accumulate(self._rows(self._cells)))
            return
        total = self._ends[-1] if self._ends else 0
        self._ends.extend(accumulate(self._rows(added), initial=total))
        del self._ends[-len(added) - 1]  # ``initial`` is the previous total, already there

    def _total_rows(self) -> int:
        if not self.wrap:
            return len(self.lines)
        return self._ends[-1] if self._ends else 0

    def _partial_rows(self) -> int:
        if not self.partial:
            return 0
        return self._rows_for(cells(self.partial)) if self.wrap else 1

    def _line_at(self, row: int) -> tuple[int, int]:
        """(line index, row within that line) of a row of the view."""
        if not self.wrap:
            return row, 0
        index = bisect_right(self._ends, row)
        start = self._ends[index - 1] if index else 0
        return index, row - start

    def _row_of(self, index: int) -> int:
        if not self.wrap:
            return index
        return self._ends[index - 1] if 0 < index <= len(self._ends) else 0

    def _set_virtual_size(self, size: Size) -> None:
        """Assigning ``virtual_size`` lays out the whole screen (tens of milliseconds), and a
        flood changes it every frame (a progress line comes and goes): when the scrollbars
        stay as they are, only the scroll range changes, so set it without a layout."""
        old = self.virtual_size
        if size == old:
            return
        box = self.scrollable_content_region.size
        same_bars = (old.height > box.height) == (size.height > box.height) and (
            old.width > box.width
        ) == (size.width > box.width)
        if not same_bars or not self.is_mounted:
            self.virtual_size = size
            return
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)
