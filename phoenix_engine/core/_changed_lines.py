"""How many lines a change touches: the size a repair is judged by (PHOENIX_MAX_PATCH_LINES).

Lines are Python's: :meth:`str.splitlines` breaks on ``\\n``, ``\\r\\n``, a lone ``\\r`` and
the other Unicode line boundaries, so 200 statements joined by lone ``\\r`` are 200 lines, as
the interpreter sees them. Line endings alone are not changes.

The count is, per changed block, the larger of lines added and removed, summed over blocks,
on a shortest edit script (Myers' O((N+M)·D) algorithm). The search stops once the script
would need more than ``2 * cap + 2`` edits: then the count is certainly above ``cap`` and
``cap + 1`` is returned. So the work is linear in the file's length for a fixed cap, never
quadratic or cubic on long runs of repeated lines (difflib's SequenceMatcher is).
"""

from __future__ import annotations

__all__ = ["DEFAULT_CAP", "changed_lines"]

from collections.abc import Sequence

DEFAULT_CAP = 500


def changed_lines(before: str, after: str, *, cap: int = DEFAULT_CAP) -> int:
    """Changed lines from ``before`` to ``after``; any value above ``cap`` means "more"."""
    a, b = before.splitlines(), after.splitlines()
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    a, b = a[head : len(a) - tail], b[head : len(b) - tail]
    if not a or not b:
        return min(max(len(a), len(b)), cap + 1)
    trace = _search(a, b, 2 * cap + 2)
    if trace is None:
        return cap + 1
    return min(_count(_ops(trace, a, b)), cap + 1)


def _search(a: Sequence[str], b: Sequence[str], max_d: int) -> list[list[int]] | None:
    """Myers' forward search. ``trace[d][k + d + 1]`` is the furthest x on diagonal k before
    round d (lists, not dicts: the trace holds O(D²) numbers)."""
    n, m = len(a), len(b)
    off = max_d + 1
    v = [-1] * (2 * max_d + 3)
    v[off + 1] = 0
    trace: list[list[int]] = []
    for d in range(max_d + 1):
        trace.append(v[off - d - 1 : off + d + 2])
        for k in range(-d, d + 1, 2):
            down = k == -d or (k != d and v[off + k - 1] < v[off + k + 1])  # insert / delete
            x = v[off + k + 1] if down else v[off + k - 1] + 1
            y = x - k
            while x < n and y < m and a[x] == b[y]:
                x, y = x + 1, y + 1
            v[off + k] = x
            if x >= n and y >= m:
                return trace
    return None


def _ops(trace: list[list[int]], a: Sequence[str], b: Sequence[str]) -> str:
    """The edit script walked back from the end: '=' kept, '-' removed, '+' added."""
    x, y = len(a), len(b)
    out: list[str] = []
    for d in range(len(trace) - 1, -1, -1):
        v = trace[d]  # v[k + d + 1] for k in -d-1 .. d+1

        def at(k: int, v: list[int] = v, d: int = d) -> int:
            return v[k + d + 1]

        k = x - y
        down = k == -d or (k != d and at(k - 1) < at(k + 1))
        prev_k = k + 1 if down else k - 1
        prev_x = max(at(prev_k), 0)
        prev_y = prev_x - prev_k
        while x > prev_x and y > prev_y:
            out.append("=")
            x, y = x - 1, y - 1
        if d > 0:
            out.append("+" if down else "-")
        x, y = prev_x, prev_y
    return "".join(reversed(out))


def _count(ops: str) -> int:
    total = 0
    for block in ops.split("="):
        if block:
            total += max(block.count("+"), block.count("-"))
    return total
