"""`make bench`: run every benchmark in bench/ and print one table of their RESULT rows.

Columns: metric, Phoenix, baseline, ratio, goal, pass/fail. Each script measures its
baseline in the same invocation (tee for the log pipeline, a plain restart for repairs).
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    rows: list[dict[str, object]] = []
    scripts = sorted(p for p in HERE.glob("*.py") if not p.name.startswith(("_", "run_all")))
    for script in scripts:
        print(f"== {script.name}", flush=True)
        proc = subprocess.run(
            [sys.executable, str(script)], cwd=HERE, capture_output=True, text=True
        )
        for line in proc.stdout.splitlines():
            if line.startswith("RESULT "):
                rows.append(json.loads(line[7:]))
            else:
                print("   " + line)
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            rows.append({"metric": script.name, "goal": "runs", "pass": False})
    print(f"\n{time.strftime('%Y-%m-%d')}, {platform.node()}, {platform.processor() or 'cpu'}")
    print("| metric | Phoenix | baseline | ratio | goal | result |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        unit = f" {r.get('unit')}" if r.get("unit") else ""
        base = f"{r['baseline']}{unit}" if r.get("baseline") is not None else "-"
        ratio = f"{r['ratio']}x" if r.get("ratio") is not None else "-"
        verdict = "pass" if r.get("pass") else "FAIL"
        cells = [str(r["metric"]), f"{r.get('phoenix')}{unit}", base, ratio, str(r["goal"])]
        print("| " + " | ".join([*cells, verdict]) + " |")
    return 0 if all(r.get("pass") for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
