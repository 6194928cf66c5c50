"""The console under a flood: `phoenix` in tmux at 120x40 supervising 500,000 lines.

The emitter prints training-like lines (a step/loss line in ten, some ANSI-coloured) as fast
as it can and writes its own wall time to a file. Measured side by side in this run:

- the emitter's wall time under the console against under ``| tee file`` (goal <= 1.5x),
- the console's peak RSS (goal < 300 MB),
- the first frame: from starting ``phoenix`` to the console on screen (goal <= 1.5 s),
- keypress to screen during a sustained flood of 250,000 lines a second: ``f`` flips the
  log's follow label; the time until ``tmux capture-pane`` shows it (goal <= 200 ms for every
  press), side by side with the same presses while the training prints nothing (what the
  terminal, tmux and the machine's load cost on their own).

    .venv/bin/python bench/tui_flood.py [LINES]
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _common import clean_env, median, phoenix_exe, result

LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
ROUNDS = 3
PRESSES = 10
RATE = 250_000  # lines a second while keys are pressed

EMIT = """
import sys, time
lines, out = int(sys.argv[1]), sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
rate = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
write = sys.stdout.write
sleep, now = time.sleep, time.perf_counter
pad = "x" * 40
began = time.perf_counter()
i = 0
while i < lines or (seconds and now() - began < seconds):
    if rate and (i % 500 == 0 or rate < 500) and (ahead := began + i / rate - now()) > 0:
        sleep(ahead)  # hold the rate: a sustained flood, not a burst
    if i % 10 == 0:
        write(f"step {i}/{lines} | loss {1.0 / (1 + i):.5f} | lr 3.00e-04 | 812.5 samples/s\\n")
    elif i % 10 == 5:
        write(f"\\x1b[32mINFO\\x1b[0m dataloader worker {i % 8} prefetched batch {i} {pad}\\n")
    else:
        write(f"{i:09d} debug: tokens={i * 7 % 4096} shard=train-{i % 64:05d} {pad}\\n")
    i += 1
sys.stdout.flush()
Path = __import__("pathlib").Path
Path(out).write_text(str(time.perf_counter() - began))
"""


class Tmux:
    def __init__(self, env: dict[str, str]) -> None:
        self.base = ["tmux", "-L", f"phoenix-bench-{os.getpid()}", "-f", "/dev/null"]
        self.env = env

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, text=True, timeout=10
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "flood")

    def wait(self, check: object, timeout: float, poll: float = 0.005) -> float:
        """Seconds until ``check(screen)`` holds."""
        started = time.perf_counter()
        while not check(self.screen()):  # type: ignore[operator]
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"timed out; the screen was:\n{self.screen()}")
            time.sleep(poll)
        return time.perf_counter() - started

    def phoenix_pid(self) -> int | None:
        shell = int(self("display-message", "-p", "-t", "flood", "#{pane_pid}").strip() or 0)
        try:
            procs = [psutil.Process(shell), *psutil.Process(shell).children(recursive=True)]
        except psutil.Error:
            return None
        for proc in procs:
            try:
                if "phoenix" in " ".join(proc.cmdline()[:2]):
                    return proc.pid
            except psutil.Error:
                continue
        return None


def peak_rss(pid_of: object, stop: threading.Event, out: list[float]) -> None:
    peak = 0.0
    pid = None
    while not stop.is_set():
        pid = pid or pid_of()  # type: ignore[operator]
        if pid:
            try:
                peak = max(peak, psutil.Process(pid).memory_info().rss / 1e6)
            except psutil.Error:
                pass
        stop.wait(0.05)
    out.append(peak)


def under_tee(project: Path) -> float:
    done = project / "tee.time"
    py = shlex.quote(sys.executable)
    cmd = f"{py} emit.py {LINES} {done} | tee {shlex.quote(str(project))}/tee.log > /dev/null"
    subprocess.run(["/bin/sh", "-c", cmd], cwd=project, check=True)
    return float(done.read_text())


def console(
    project: Path, tmux: Tmux, lines: int, seconds: float = 0.0, rate: float = 0.0
) -> tuple[float, str]:
    """Start the console on the emitter; (seconds to first frame, the emitter's time file)."""
    done = project / "console.time"
    done.unlink(missing_ok=True)
    emit = f"{shlex.quote(sys.executable)} emit.py {lines} {done} {seconds} {rate}"
    cmd = f"{phoenix_exe()} -C {shlex.quote(str(project))} -- {emit}; sleep 60"
    tmux("kill-session", "-t", "flood")
    started = time.perf_counter()
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "flood", cmd)
    tmux.wait(lambda s: "Training log" in s and "Patches" in s, timeout=15)
    return time.perf_counter() - started, str(done)


def wait_file(path: str, timeout: float = 300) -> float:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) or not Path(path).read_text():
        if time.monotonic() > deadline:
            raise SystemExit("the emitter never finished")
        time.sleep(0.1)
    return float(Path(path).read_text())


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is not installed")
    env = clean_env(PHOENIX_HEARTBEAT_MIN="0", PHOENIX_LOG_MAX_BYTES="0", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    with tempfile.TemporaryDirectory(prefix="phoenix-bench-") as tmp:
        project = Path(tmp)
        (project / "emit.py").write_text(EMIT)
        tmux = Tmux(env)
        tee_times: list[float] = []
        phx_times: list[float] = []
        frames: list[float] = []
        peaks: list[float] = []
        try:
            for _ in range(ROUNDS):
                tee_times.append(under_tee(project))
                stop, out = threading.Event(), []
                watcher = threading.Thread(target=peak_rss, args=(tmux.phoenix_pid, stop, out))
                first, done = console(project, tmux, LINES)
                watcher.start()
                phx_times.append(wait_file(done))
                tmux.wait(lambda s: "completed" in s, timeout=60, poll=0.2)
                stop.set()
                watcher.join()
                frames.append(first)
                peaks.append(out[0])
                tmux("send-keys", "-t", "flood", "q")
            latencies = presses(project, tmux, RATE)
            quiet = presses(project, tmux, 0)
        finally:
            tmux("kill-server")
    t_tee, t_phx = median(tee_times), median(phx_times)
    first, peak, worst = median(frames), max(peaks), max(latencies)
    print(f"{LINES:,} lines x {ROUNDS} rounds, tmux 120x40")
    print(f"  emitter under tee      median {t_tee:.3f} s  {[round(t, 3) for t in tee_times]}")
    print(f"  emitter under console  median {t_phx:.3f} s  {[round(t, 3) for t in phx_times]}")
    print(f"  ratio {t_phx / t_tee:.3f} (goal <= 1.5), console peak RSS {peak:.1f} MB")
    print(f"  first frame {[round(f, 3) for f in frames]} s")
    for name, times in (("at 250k lines/s", latencies), ("quiet training", quiet)):
        ms = sorted(round(x * 1000) for x in times)
        print(f"  keypress to screen, {name}: median {ms[len(ms) // 2]} ms, worst {ms[-1]} ms {ms}")
    result("console flood: emitter time vs tee", t_phx, t_tee, "<= 1.5x", t_phx / t_tee <= 1.5, "s")
    result("console RSS during flood", peak, None, "< 300 MB", peak < 300, "MB")
    result("console first frame", first, None, "<= 1.5 s", first <= 1.5, "s")
    result(
        "console keypress to screen at 250k lines/s (worst)",
        worst,
        max(quiet),
        "<= 0.2 s",
        worst <= 0.2,
        "s",
    )


def presses(project: Path, tmux: Tmux, rate: float) -> list[float]:
    """Flip follow with `f` PRESSES times while the emitter prints ``rate`` lines a second
    (0: one line, then nothing) for as long as it takes."""
    _, done = console(project, tmux, 1 if not rate else 0, seconds=60.0, rate=rate or 1e-9)
    tmux.wait(lambda s: "step " in s, timeout=15, poll=0.05)
    latencies = []
    for n in range(PRESSES):
        label = "paused · f to follow" if n % 2 == 0 else "following"
        started = time.perf_counter()
        tmux("send-keys", "-t", "flood", "f")
        tmux.wait(lambda s, label=label: label in s, timeout=5, poll=0.005)
        latencies.append(time.perf_counter() - started)
        time.sleep(0.2)
    if rate and os.path.exists(done):
        raise SystemExit("the flood ended before the presses did: latencies are not under load")
    pid = tmux.phoenix_pid()
    tmux("kill-session", "-t", "flood")  # a hang-up: phoenix stops the training and exits
    if pid is not None:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).wait(60)  # the next console must not find this one's lock
    return latencies


if __name__ == "__main__":
    main()
