"""Classification time of a 200-line tail: the triage classifier beside the one before it.

Each case of the failure corpus (tests/fixtures/failures) is padded in front with training log
lines to PHOENIX_TAIL's default of 200 lines (what the engine classifies), then classified
ROUNDS times by ``phoenix_engine.core.classify.classify`` and by the classifier before issue 12
(``signature.py`` at commit BEFORE, read from git; skipped when git cannot show it). Goal:
under a millisecond per tail (median over the corpus).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, median, result

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "support"))

from failure_corpus import CORPUS

from phoenix_engine.core.classify import classify

BEFORE = "263e157"  # main before the triage work
TAIL = 200
ROUNDS = 50
PROJECT = Path("/home/user/project")


def padded(lines: tuple[str, ...]) -> list[str]:
    pad = [
        f"step {i}/10000 loss {1 / (i + 1):.4f} lr 3.0e-04 | 412.5 samples/s" for i in range(TAIL)
    ]
    return (pad + list(lines))[-TAIL:] if len(lines) < TAIL else list(lines[-TAIL:])


def old_classifier() -> object | None:
    try:
        source = subprocess.run(
            ["git", "show", f"{BEFORE}:phoenix_engine/core/classify.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_signature.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_signature", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_signature"] = module
    spec.loader.exec_module(module)
    return module.classify


def per_tail(fn: object, tails: list[tuple[list[str], int | None, int | None, bool]]) -> float:
    """Median over the corpus of the median time (ms) to classify one tail."""
    times = []
    for tail, code, sig, hang in tails:
        runs = []
        for _ in range(ROUNDS):
            t = time.perf_counter()
            fn(returncode=code, signal=sig, tail=tail, project_dir=PROJECT, hang=hang)  # type: ignore[operator]
            runs.append(time.perf_counter() - t)
        times.append(median(runs) * 1000)
    return median(times)


def main() -> None:
    tails = [(padded(c.lines), c.returncode, c.signal, c.end == "hang") for c in CORPUS]
    new = per_tail(classify, tails)
    old_fn = old_classifier()
    old = per_tail(old_fn, tails) if old_fn is not None else None
    worst = max(per_tail(classify, [t]) for t in tails)
    print(f"{len(tails)} tails of {TAIL} lines, {ROUNDS} rounds each")
    print(f"triage classifier: median {new:.3f} ms per tail, slowest case {worst:.3f} ms")
    if old is not None:
        print(f"classifier before issue 12 ({BEFORE}): median {old:.3f} ms per tail")
    result("classify a 200-line tail", new, old, "< 1 ms", new < 1.0, unit="ms")


if __name__ == "__main__":
    main()
