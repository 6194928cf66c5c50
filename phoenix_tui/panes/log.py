"""The training log pane: a line-API widget that stays fast under a flood of output.

Lines are kept as the raw strings the engine sent (bounded by PHOENIX_LOG_LINES, appended a
batch at a time); only the lines on screen are ever parsed: ANSI colours through
``Text.from_ansi``, other control codes stripped, tabs expanded, and the result cached per
line. Follow mode keeps the end in view and pauses as soon as the operator scrolls up; it
resumes at the end or with ``f``. The unfinished line (a progress bar) is drawn live below
the last complete one. A search highlights every match and scrolls to the current one.
"""

from __future__ import annotations

__all__ = ["LogView"]

import re
from collections.abc import Sequence

from rich.style import Style
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from phoenix_tui._sink import Milestone

# C0 controls but tab and ESC, and DEL: never drawn (ESC goes to the ANSI decoder).
_CONTROLS = dict.fromkeys([*range(0, 9), *range(10, 27), *range(28, 32), 127])
_MATCH = Style(reverse=True)
_CURRENT = Style(reverse=True, bold=True, underline=True)


def line_text(line: str, base: Style) -> Text:
    """One raw line as styled text: ANSI colours kept, other control codes dropped."""
    clean = line.translate(_CONTROLS)
    if "\x1b" in clean:
        text = Text.from_ansi(clean, no_wrap=True, end="")
        if "\x1b" in text.plain:  # a lone ESC that was no sequence: keep the words only
            text = Text(text.plain.replace("\x1b", ""), no_wrap=True, end="")
    else:
        text = Text(clean, no_wrap=True, end="")
    if "\t" in clean:
        text.expand_tabs()
    text.stylize_before(base)  # under the line's own colours
    if isinstance(line, Milestone):
        text.stylize(line.style)
    return text


class LogView(ScrollView, can_focus=True):
    """Bounded, batched, follow-able log with search."""

    DEFAULT_CSS = """
    LogView { background: $surface; }
    """

    follow: reactive[bool] = reactive(True)

    def __init__(self, max_lines: int, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.partial = ""
        self.search_text = ""
        self.match: int | None = None
        self._pattern: re.Pattern[str] | None = None
        self._width = 0
        self._cache: LRUCache[tuple[str, bool], Strip] = LRUCache(1024)

    # --- content -----------------------------------------------------------------------------

    def write_lines(self, lines: Sequence[str]) -> None:
        """Append a batch; the oldest lines beyond ``max_lines`` go."""
        if not lines:
            return
        self.lines.extend(lines)
        self._width = max(self._width, max(map(len, lines)))
        excess = len(self.lines) - self.max_lines
        if excess > 0:
            del self.lines[:excess]
            self._cache.clear()
            if self.match is not None:
                self.match = self.match - excess if self.match >= excess else None
            if not self.follow:  # keep the operator's lines where they were on screen
                self.set_scroll(None, max(0.0, self.scroll_y - excess))
        self._resized()

    def set_partial(self, text: str) -> None:
        if text != self.partial:
            self.partial = text
            self._width = max(self._width, len(text))
            self._resized()

    def _resized(self) -> None:
        self.virtual_size = Size(self._width, len(self.lines) + (1 if self.partial else 0))
        if self.follow:
            self._to_end()
        self.refresh()

    def _text(self, index: int) -> str:
        return self.lines[index] if index < len(self.lines) else self.partial

    # --- follow ------------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        at_end = new_value >= self.max_scroll_y
        if new_value < old_value and not at_end:
            self.follow = False
        elif new_value > old_value and at_end:
            self.follow = True

    def watch_follow(self, follow: bool) -> None:
        if follow and self.scroll_y < self.max_scroll_y:
            # Deferred: this may run inside a scroll animation's own step.
            self.call_later(self._to_end)

    def on_resize(self) -> None:
        if self.follow:  # a smaller pane (a patch now waits) must still show the last line
            self.call_after_refresh(self._to_end)

    def _to_end(self) -> None:
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    # --- search ------------------------------------------------------------------------------

    def search(self, query: str, *, older: bool = True) -> bool:
        """Find ``query`` (case-insensitive) from the current match; scroll to it."""
        if query != self.search_text:
            self.search_text, self.match = query, None
            self._pattern = re.compile(re.escape(query), re.IGNORECASE) if query else None
            self._cache.clear()
        if self._pattern is None:
            self.refresh()
            return False
        total = len(self.lines)
        start = self.match if self.match is not None else (total if older else -1)
        order = range(start - 1, -1, -1) if older else range(start + 1, total)
        found = next((i for i in order if self._pattern.search(self.lines[i])), None)
        if found is None:
            self.refresh()
            return False
        self.match = found
        self.follow = False
        self.scroll_to(y=max(0, found - self.size.height // 2), animate=False, immediate=True)
        self.refresh()
        return True

    def clear_search(self) -> None:
        self.search_text, self.match, self._pattern = "", None, None
        self._cache.clear()
        self.refresh()

    # --- rendering ---------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if index >= len(self.lines) + (1 if self.partial else 0):
            return Strip.blank(width, base)
        current = index == self.match
        key = (self._text(index), current)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._line_strip(index, base, current)
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _line_strip(self, index: int, base: Style, current: bool) -> Strip:
        raw = self._text(index)
        text = line_text(raw, base)
        if index >= len(self.lines):
            text.stylize("italic")
        if self._pattern is not None:
            for m in self._pattern.finditer(text.plain):
                text.stylize(_CURRENT if current else _MATCH, m.start(), m.end())
        return Strip(text.render(self.app.console), text.cell_len)
