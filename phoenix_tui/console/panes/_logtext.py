"""The log pane's text: one raw line as styled text, and how many columns a line takes.

Pure functions over strings, used per line drawn (:func:`line_text`) and per line received
(:func:`widths`, which measures a flood of plain ASCII lines at C speed). Control codes are
never drawn: ANSI colours are decoded, anything else is dropped, tabs are expanded.
"""

from __future__ import annotations

__all__ = ["cells", "line_text", "widths"]

from collections.abc import Sequence

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from phoenix_engine.core.lines import strip_control
from phoenix_tui.console._sink import Milestone

# C0 controls but tab and ESC, and DEL: never drawn (ESC goes to the ANSI decoder).
_CONTROLS = dict.fromkeys([*range(0, 9), *range(10, 27), *range(28, 32), 127])


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


def cells(line: str) -> int:
    """About how many columns ``line`` takes once drawn (colour codes and controls take none)."""
    line = strip_control(line, keep_controls=True)
    if "\t" in line:
        line = line.expandtabs(8)
    return len(line) if line.isascii() else cell_len(line)


def widths(lines: Sequence[str]) -> list[int]:
    """:func:`cells` of each line; a flood of plain ASCII lines is measured at C speed."""
    joined = "".join(lines)
    if joined.isascii() and "\x1b" not in joined and "\t" not in joined:
        return list(map(len, lines))
    return [
        len(line) if line.isascii() and "\x1b" not in line and "\t" not in line else cells(line)
        for line in lines
    ]
