"""NO_COLOR that stays readable: colour becomes contrast, never dimness.

Textual's own NO_COLOR filter turns each colour into its luminance, so red and magenta text
(a deleted line, a patch awaiting approval) turns dark gray on a dark background and all but
disappears. This filter keeps backgrounds as Textual does but draws any coloured text in the
plain foreground of the background it sits on; what a colour meant is carried by the words,
symbols (+, -, ✗, ✔, ◆) and bold type the console always shows alongside it.
"""

from __future__ import annotations

__all__ = ["ReadableMonochrome"]

from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import LineFilter

_LIGHT, _DARK = RichColor.from_rgb(225, 225, 225), RichColor.from_rgb(25, 25, 25)


def _gray(color: RichColor | None) -> RichColor | None:
    if color is None or color.is_default:
        return color
    r, g, b = color.get_truecolor()
    level = round(r * 0.2126 + g * 0.7152 + b * 0.0722)
    return RichColor.from_rgb(level, level, level)


def _coloured(color: RichColor | None) -> bool:
    if color is None or color.is_default:
        return False
    r, g, b = color.get_truecolor()
    return max(r, g, b) - min(r, g, b) > 24


@lru_cache(maxsize=4096)
def _readable(style: Style | None, dark: bool) -> Style | None:
    if style is None:
        return None
    bgcolor = _gray(style.bgcolor)
    if bgcolor is not None and not bgcolor.is_default:
        r, _, _ = bgcolor.get_truecolor()
        dark = r < 128
    color = (_LIGHT if dark else _DARK) if _coloured(style.color) else _gray(style.color)
    return style + Style.from_color(color, bgcolor)


class ReadableMonochrome(LineFilter):
    """Replaces Textual's Monochrome filter when NO_COLOR is set."""

    def apply(self, segments: list[Segment], background: Color) -> list[Segment]:
        dark = background.brightness < 0.5
        return [Segment(text, _readable(style, dark), None) for text, style, _ in segments]
