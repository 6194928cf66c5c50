"""Log pipeline throughput: phoenix --unattended against `python emit.py | tee file`.

A child prints 1,000,000 lines of ~100 bytes as fast as it can. The two pipelines run
alternately, ROUNDS times each, in this one process tree; the medians are compared.
Goals (issue 2): wall time <= 1.15x tee, no line lost (counted in train.log), RSS <= 80 MB.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _common import emitter_commands, median, result, run_measured

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROUNDS = 11  # single rounds vary by 1.5x on this box: the median of 11 holds

EMIT = f"""
import sys
write = sys.stdout.write
pad = "x" * 88
for i in range({LINES}):
    write(f"{{i:09d}} {{pad}}\\n")
"""


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        project = Path(tmp)
        (project / "emit.py").write_text(EMIT)
        tee_cmd, phx_cmd, env = emitter_commands(project)
        tee_times: list[float] = []
        phx_times: list[float] = []
        peak = 0.0
        lost = 0
        for _ in range(ROUNDS):
            wall, _, _ = run_measured(tee_cmd, cwd=project)
            tee_times.append(wall)
            log = project / ".phoenix_cli" / "train.log"
            log.unlink(missing_ok=True)
            wall, rss, code = run_measured(phx_cmd, env=env, cwd=project)
            if code != 0:
                raise SystemExit(f"phoenix exited {code}")
            phx_times.append(wall)
            peak = max(peak, rss)
            with log.open("rb") as fh:
                lost = max(lost, LINES - sum(1 for _ in fh))
        t_tee, t_phx = median(tee_times), median(phx_times)
        print(f"{LINES:,} lines x {ROUNDS} rounds, alternating")
        print(f"  tee      median {t_tee:.3f} s  {[round(t, 3) for t in tee_times]}")
        print(f"  phoenix  median {t_phx:.3f} s  {[round(t, 3) for t in phx_times]}")
        print(f"  ratio {t_phx / t_tee:.3f} (goal <= 1.15), peak RSS {peak:.1f} MB, lost {lost}")
        result("log wall time vs tee", t_phx, t_tee, "<= 1.15x", t_phx / t_tee <= 1.15, "s")
        result("log lines lost", lost, None, "0", lost == 0, "lines")
        result("phoenix RSS during flood", peak, None, "<= 80 MB", peak <= 80, "MB")


if __name__ == "__main__":
    main()
