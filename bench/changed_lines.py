"""Changed-line counting on long repetitive files (finding: difflib was cubic, 215 s for 3,000
lines, on the event loop).

A file of N near-identical lines gets edits at both ends and in the middle (so trimming the
common head and tail does not help), for N = 3,000 and N = 6,000; the count must grow
linearly: the 6,000-line time over the 3,000-line time is the ratio (goal: under 3x). The
3,000-line time is also compared with splitting the same two texts into lines, the least any
count must do.
"""

from __future__ import annotations

import sys
import time

from _common import ROOT, result

sys.path.insert(0, str(ROOT))

from phoenix_engine.core.patches import changed_lines


def texts(n: int) -> tuple[str, str]:
    lines = ["    x = x + 1\n" if i % 7 else "    y = y * 2\n" for i in range(n)]
    after = list(lines)
    last = 7 * ((n - 1) // 7)  # edits replace y lines, so the count is unambiguous
    for at in (0, 7 * (n // 21), 7 * (n // 14), 7 * (n // 10), last):
        after[at] = f"    z{at} = 0\n"
    return "".join(lines), "".join(after)


def timed(fn: object, *args: str, rounds: int = 15) -> float:
    """Best of ``rounds``: on a shared machine the minimum is the cost, the rest is noise."""
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return min(samples)


def main() -> None:
    small, large = texts(3000), texts(6000)
    assert changed_lines(*small) == 5 and changed_lines(*large) == 5
    t3, t6 = timed(changed_lines, *small), timed(changed_lines, *large)
    split = timed(lambda a, b: (a.splitlines(), b.splitlines()), *small)
    print(f"3,000 lines: {t3 * 1000:.1f} ms; 6,000 lines: {t6 * 1000:.1f} ms")
    print(f"splitting the 3,000-line texts alone: {split * 1000:.2f} ms")
    result("changed_lines 6k/3k lines", t6, t3, "< 3x (linear)", t6 / t3 < 3, "s")


if __name__ == "__main__":
    main()
