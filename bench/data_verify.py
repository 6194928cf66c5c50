"""Data verification of an unchanged tree: datacheck.verify against a plain os.walk + stat.

10,000 files in 100 directories are recorded once (the first run hashes them all; its speed
is printed for reference), then an unchanged tree is verified ROUNDS times, alternating with
an os.walk that stats every file, the least any check of the tree must do. Sizes do not enter
into it: an unchanged file is trusted on size and mtime and never read, so a 20 GB tree of
10,000 files costs the same as this one. Goal (issue 5): well under a second.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, median, result

sys.path.insert(0, str(ROOT))

from phoenix_engine.io.datacheck import verify

FILES = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
ROUNDS = 5


def build(data: Path) -> int:
    total = 0
    for i in range(FILES):
        folder = data / f"shard-{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        body = os.urandom(1024 + (i % 16) * 512)
        (folder / f"sample-{i:06d}.bin").write_bytes(body)
        total += len(body)
    return total


def walk_and_stat(data: Path) -> float:
    started = time.perf_counter()
    count = 0
    for root, _, names in os.walk(data):
        for name in names:
            os.stat(os.path.join(root, name))
            count += 1
    assert count == FILES
    return time.perf_counter() - started


def verify_unchanged(data: Path, manifest: Path) -> float:
    started = time.perf_counter()
    report = verify(data, manifest)
    elapsed = time.perf_counter() - started
    assert not report.first_run and report.hashed_bytes == 0 and report.files == FILES
    assert not (report.problems or report.added)
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        data, manifest = Path(tmp) / "data", Path(tmp) / ".phoenix_cli" / "data_manifest.json"
        size = build(data)
        started = time.perf_counter()
        first = verify(data, manifest)
        t_first = time.perf_counter() - started
        assert first.first_run and first.files == FILES
        walks: list[float] = []
        checks: list[float] = []
        for _ in range(ROUNDS):
            walks.append(walk_and_stat(data))
            checks.append(verify_unchanged(data, manifest))
        t_walk, t_check = median(walks), median(checks)
        print(f"{FILES:,} files, {size / 1e6:.0f} MB; first run (hash all) {t_first:.2f} s")
        ms = {
            name: [round(t * 1000, 1) for t in ts]
            for name, ts in (("walk", walks), ("verify", checks))
        }
        print(f"  os.walk + stat  median {t_walk * 1000:.1f} ms  {ms['walk']}")
        print(f"  verify          median {t_check * 1000:.1f} ms  {ms['verify']}")
        print(f"  ratio {t_check / t_walk:.2f}")
        result("data verify, 10k unchanged files", t_check, t_walk, "< 1 s", t_check < 1.0, "s")


if __name__ == "__main__":
    main()
