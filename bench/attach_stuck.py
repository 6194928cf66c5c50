"""Log throughput with a stuck console attached, against none, in one run.

`phoenix --unattended` supervises an emitter of LINES lines of ~100 bytes; in the second
variant a console attaches as soon as the socket appears, says hello and never reads again.
Alternating rounds, medians compared. Goal (issue 7): within 5% of no console.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import clean_env, median, phoenix_exe, result, run_measured

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
ROUNDS = 5
EMIT = f"""
import sys
write = sys.stdout.write
pad = "x" * 88
for i in range({LINES}):
    write(f"{{i:09d}} {{pad}}\\n")
"""


def stuck_console(path: Path, stop: threading.Event, attached: list[bool]) -> None:
    """Attach once the socket exists, say hello, then never read."""
    while not stop.is_set():
        if path.exists():
            sock = socket.socket(socket.AF_UNIX)
            try:
                sock.connect(str(path))
                sock.sendall(json.dumps({"type": "hello", "version": 1}).encode() + b"\n")
                attached.append(True)
                stop.wait()
            except OSError:
                time.sleep(0.001)
                continue
            finally:
                sock.close()
            return
        time.sleep(0.001)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        project = Path(tmp)
        (project / "emit.py").write_text(EMIT)
        env = clean_env(PHOENIX_LOG_MAX_BYTES="0", PHOENIX_HEARTBEAT_MIN="0")
        cmd = [phoenix_exe(), "--unattended", "-C", tmp, "--", sys.executable, "emit.py"]
        alone: list[float] = []
        stuck: list[float] = []
        sock = project / ".phoenix_cli" / "engine.sock"
        for _ in range(ROUNDS):
            alone.append(run_measured(cmd, env=env, cwd=project)[0])
            stop, attached = threading.Event(), []
            helper = threading.Thread(target=stuck_console, args=(sock, stop, attached))
            helper.start()
            stuck.append(run_measured(cmd, env=env, cwd=project)[0])
            stop.set()
            helper.join()
            if not attached:
                raise SystemExit("the stuck console never attached: the run was too short")
        a, b = median(alone), median(stuck)
        print(f"{LINES:,} lines x {ROUNDS} rounds, alternating")
        print(f"  no console     median {a:.3f} s  {[round(t, 3) for t in alone]}")
        print(f"  stuck console  median {b:.3f} s  {[round(t, 3) for t in stuck]}")
        result("log wall time, stuck console vs none", b, a, "<= 1.05x", b / a <= 1.05, "s")


if __name__ == "__main__":
    main()
