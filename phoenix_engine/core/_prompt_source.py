"""Source files as the prompt shows them: numbered lines, whole or in windows around failures.

Numbers are shown (``  12 | code``) because a model can only give ``replace_range`` line
numbers it can see; counting lines itself, it is often off by a few.
"""

from __future__ import annotations

__all__ = ["DEFAULT_RADIUS", "render_files"]

from collections.abc import Mapping, Sequence

DEFAULT_RADIUS = 40  # lines either side of a failing line when a file is too big to show whole
_MAX_LINE = 2000

Span = tuple[int, int]  # first and last line shown, 1-based, inclusive


def render_files(
    sources: Mapping[str, str],
    focus: Mapping[str, Sequence[int]],
    *,
    radius: int | None,
    max_chars: int,
) -> str:
    """All files, each within ``max_chars``; ``radius`` None shows whole files that fit."""
    if not sources:
        return ""
    parts = [
        "## Project files",
        "Each line is shown as its number, ' | ', then the code; the numbers are not in the file.",
    ]
    for relpath, text in sources.items():
        parts.append(_render(relpath, text, focus.get(relpath, ()), radius, max_chars))
    return "\n".join(parts)


def _render(
    relpath: str, text: str, focus: Sequence[int], radius: int | None, max_chars: int
) -> str:
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()
    total = len(lines)
    whole = [(1, total)]
    r = DEFAULT_RADIUS if radius is None else radius
    spans = whole if radius is None and len(text) <= max_chars else _windows(focus, total, r)
    body = _show(lines, spans)
    while len(body) > max_chars and r > 0:
        r //= 2  # windows still too big for PHOENIX_MAX_FILE_CHARS: narrow them
        spans = _windows(focus, total, r)
        body = _show(lines, spans)
    if len(body) > max_chars:
        body = body[:max_chars] + "\n[... cut to PHOENIX_MAX_FILE_CHARS ...]"
    if spans == whole:
        shown = "all shown"
    else:
        shown = "showing lines " + ", ".join(f"{a}-{b}" for a, b in spans)
    return f"\n----- {relpath} ({total} lines, {shown}) -----\n{body}"


def _windows(focus: Sequence[int], total: int, radius: int) -> list[Span]:
    centres = sorted({n for n in focus if 1 <= n <= total})
    if not centres:
        return [(1, min(total, 2 * radius + 1))]  # no failing line here: show the top
    spans: list[Span] = []
    for n in centres:
        first, last = max(1, n - radius), min(total, n + radius)
        if spans and first <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(spans[-1][1], last))
        else:
            spans.append((first, last))
    return spans


def _show(lines: Sequence[str], spans: Sequence[Span]) -> str:
    width = len(str(max(len(lines), 1)))
    out: list[str] = []
    for first, last in spans:
        if out or first > 1:
            out.append(" " * width + " | ...")
        for n in range(first, last + 1):
            line = lines[n - 1]
            if len(line) > _MAX_LINE:
                line = line[:_MAX_LINE] + f" [... {len(line) - _MAX_LINE} more characters]"
            out.append(f"{n:>{width}} | {line}")
    if spans and spans[-1][1] < len(lines):
        out.append(" " * width + " | ...")
    return "\n".join(out)
