"""Turn raw chunks of child output into display lines.

A child writes bytes in arbitrary chunks; this module owns the rules that make lines out of
them: ``\\n`` ends a line, ``\\r\\n`` is a newline, and a lone ``\\r`` rewrites the current
line the way a terminal shows a tqdm progress bar. Decoding is UTF-8 with replacement, done
once per chunk by an incremental decoder so that characters split across chunks survive.
An over-long line keeps its head and only counts the rest, so a child that writes 100 MB
without a newline costs ``max_line_chars`` of memory, not 100 MB. ANSI codes pass through.

:func:`strip_control` is the one remover of terminal control sequences (colours, cursor
moves, window titles) and, unless asked to keep them, control characters: for what reads a
line's words (signatures, metrics, prompts, the test verdict, log search) rather than draws it.
"""

from __future__ import annotations

__all__ = ["LineSplitter", "strip_control"]

import codecs
import re

_SEQUENCE = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, links
    r"|\x1b[()][0-9A-Za-z]"  # character set designation
    r"|\x1b[@-Z\\-_=>78c]"  # two-byte escapes: index, save and restore the cursor, reset
)
_ESCAPES = re.compile(_SEQUENCE)
# Control characters but tab and newline (a lone ESC among them), after whole sequences.
_ESCAPES_AND_CONTROLS = re.compile(_SEQUENCE + r"|[\x00-\x08\x0b-\x1f\x7f]")


def strip_control(text: str, *, keep_controls: bool = False) -> str:
    """``text`` without terminal escape sequences, and without control characters (tab and
    newline are kept) unless ``keep_controls``: a ``\\r`` or a bell a caller still needs."""
    if keep_controls:
        return _ESCAPES.sub("", text) if "\x1b" in text else text
    return _ESCAPES_AND_CONTROLS.sub("", text)


def _cut_marker(cut: int) -> str:
    return f" … [{cut} chars cut]"


class LineSplitter:
    """Feeds on byte chunks, returns finished lines; one instance per output stream."""

    __slots__ = ("_cr", "_cut", "_decoder", "_head", "max_line_chars")

    def __init__(self, max_line_chars: int = 8192) -> None:
        if max_line_chars < 1:
            raise ValueError(f"max_line_chars must be >= 1, got {max_line_chars}")
        self.max_line_chars = max_line_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = ""  # the kept part of the current line, at most max_line_chars
        self._cut = 0  # characters of the current line dropped beyond the head
        self._cr = False  # a "\r" was seen: the next text rewrites the line, "\n" ends it

    @property
    def partial(self) -> str:
        """The current unfinished line as a terminal would show it."""
        return self._head + _cut_marker(self._cut) if self._cut else self._head

    def feed(self, data: bytes) -> list[str]:
        """Consume one chunk; return the lines it finished, without terminators."""
        text = self._decoder.decode(data)
        if "\r" in text:
            # "\r\n" is exactly "\n" under the rewrite rule ("\r" then "\n" ends the line as
            # shown), so folding it keeps the fast path for CRLF output.
            text = text.replace("\r\n", "\n")
            if "\r" in text:
                return self._feed_with_cr(text)
        parts = text.split("\n")
        if len(parts) == 1:
            self._append(text)
            return []
        self._append(parts[0])
        lines = [self._take()]
        middle = parts[1:-1]
        if (
            len(text) > self.max_line_chars
            and middle
            and max(map(len, middle)) > self.max_line_chars
        ):
            middle = [self._cap(line) for line in middle]
        lines += middle
        self._append(parts[-1])
        return lines

    def flush(self) -> list[str]:
        """At end of stream: return the unfinished line, if it has any text."""
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self._append_segment(tail)
        if not self._head and not self._cut:
            self._cr = False
            return []
        return [self._take()]

    def _feed_with_cr(self, text: str) -> list[str]:
        parts = text.split("\n")
        lines: list[str] = []
        for part in parts[:-1]:
            self._append_segment(part)
            lines.append(self._take())
        self._append_segment(parts[-1])
        return lines

    def _append_segment(self, segment: str) -> None:
        """Apply a piece of text that holds no "\\n" but may hold "\\r"."""
        pieces = segment.split("\r")
        self._append(pieces[0])
        if len(pieces) == 1:
            return
        shown = [piece for piece in pieces[1:] if piece]
        if shown:
            self._reset()
            self._append(shown[-1])
        self._cr = not pieces[-1]

    def _append(self, text: str) -> None:
        if not text:
            return
        if self._cr:
            self._reset()
        if self._cut:
            self._cut += len(text)
            return
        room = self.max_line_chars - len(self._head)
        if len(text) <= room:
            self._head += text
        else:
            self._head += text[:room]
            self._cut = len(text) - room

    def _take(self) -> str:
        line = self.partial
        self._reset()
        return line

    def _reset(self) -> None:
        self._head = ""
        self._cut = 0
        self._cr = False

    def _cap(self, line: str) -> str:
        limit = self.max_line_chars
        if len(line) <= limit:
            return line
        return line[:limit] + _cut_marker(len(line) - limit)
