"""The installed ``phoenix --unattended --json`` on a disk that is really full.

``.phoenix_cli`` (backups, the journal, train.log, state.json) is a small tmpfs mounted for the
test, so every write fails the way it does at 3 a.m.: ENOSPC from the kernel, short writes
included. Checked: a backup that cannot be written means no patch is applied (the project is
byte-identical, the reason is a ``patch_rejected``) and the run restarts without changes; a
journal or train.log that cannot be written is one notice per outage (on stdout, which still
works), the run goes on, and once space comes back the journal resumes with whole lines and the
same repair is tried again and applied.

Mounting needs root (CAP_SYS_ADMIN); elsewhere these tests skip, and the same failures are
covered with injected writers in tests/engine (test_backups, test_journal, test_engine).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import PHOENIX, user_env

PY = sys.executable
ENOSPC = "No space left on device"


@contextlib.contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where`` for the duration; skip the test when it cannot mount."""
    where.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'})")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False, capture_output=True)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_rows(state: Path) -> list[dict[str, object]]:
    """Every journal line, each of which must be whole JSON (no half line left by ENOSPC)."""
    return [json.loads(line) for line in (state / "run.log").read_text().splitlines()]


# --- a backup that cannot be written ------------------------------------------------------

# Crashes on its first run only: the run can complete without any patch, which shows that
# a patch refused for want of space leaves a working restart behind. The padding makes the
# file larger than the tmpfs, so its backup copy cannot be written; short journal lines can.
FLAKY = """\
from pathlib import Path

BATCH = 8
lr = -0.1
marker = Path("ran_once")
first = not marker.exists()
marker.write_text("1")
if first and lr <= 0:
    raise ValueError("learning rate must be positive")
print(f"step 1 loss 0.5 lr {lr}")
"""
PADDING = '"""' + ("padding line so that the backup copy does not fit\n" * 6_000) + '"""\n'


def test_a_backup_that_cannot_be_written_applies_nothing(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    with tmpfs(project / ".phoenix_cli", "256k") as state:
        train = project / "train.py"
        train.write_text(FLAKY + PADDING)
        before = sha(train)
        fix = {
            "diagnosis": "negative learning rate",
            "patches": [
                {
                    "type": "replace_range",
                    "path": "train.py",
                    "start_line": 4,
                    "end_line": 4,
                    "original": "lr = -0.1\n",
                    "replacement": "lr = 0.1\n",
                }
            ],
        }
        (tmp_path / "reply.json").write_text(json.dumps(fix))
        model = tmp_path / "model.py"
        model.write_text(
            f"import sys\nsys.stdin.read()\nprint(open({str(tmp_path / 'reply.json')!r}).read())\n"
        )
        env = user_env(
            PHOENIX_TRAIN_CMD=f"{PY} train.py",
            PHOENIX_PRIMARY="cmd",
            PHOENIX_FALLBACK_LLM_CMD=f"{PY} {model}",
        )
        out = subprocess.run(
            [PHOENIX, "--unattended", "--json"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, out.stderr
        rows = journal_rows(state)
        names = [str(row["event"]) for row in rows]
        at = names.index("patch_rejected")
        assert names[at - 2 : at + 3] == [
            "shadow_passed",
            "approval_requested",
            "patch_rejected",
            "restarting",
            "process_started",
        ]
        reason = str(rows[at]["reason"])
        assert reason.startswith("could not back up or write the files, nothing was changed")
        assert ENOSPC in reason
        assert "not applied: restart without changes" in str(rows[at + 1]["reason"])
        assert "patch_applied" not in names and names[-1] == "run_completed"
        assert sha(train) == before  # byte-identical
        backups = state / "backups"
        assert not list(backups.iterdir()) if backups.exists() else True  # no half backup


# --- a disk that fills up during the run, then gets space back -----------------------------

# Run 1 fills the disk and crashes; run 2 waits until the test has freed the space, then
# crashes the same way; run 3 (after the builtin doctor's fix) completes.
FILLS_THE_DISK = """\
import time
from pathlib import Path

filler = Path(".phoenix_cli/filler")
runs = Path("runs")
run = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(run))
if run == 1:
    try:
        with open(filler, "wb", buffering=0) as fh:
            while True:
                fh.write(b"x" * 65536)
    except OSError as exc:
        print("the disk is full:", exc, flush=True)
else:
    deadline = time.time() + 30
    while filler.exists() and time.time() < deadline:
        time.sleep(0.05)
for step in range(50):
    print(f"run {run} step {step} loss {1.0 / (step + 1):.4f}", flush=True)
learning_rate = 0.1
print("lr", lerning_rate)
"""


def test_journal_and_train_log_on_a_full_disk(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    with tmpfs(project / ".phoenix_cli", "256k") as state:
        (project / "train.py").write_text(FILLS_THE_DISK)
        env = user_env(
            PHOENIX_TRAIN_CMD=f"{PY} train.py",
            PHOENIX_PRIMARY="builtin",
            PHOENIX_NOTIFY_STEPS="1",  # a journaled progress event per step: the journal fills
        )
        proc = subprocess.Popen(
            [PHOENIX, "--unattended", "--json"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.stdout is not None and proc.stderr is not None
        stderr: list[str] = []
        threading.Thread(target=lambda: stderr.extend(proc.stderr or ()), daemon=True).start()
        printed: list[dict[str, object]] = []
        started = time.monotonic()
        for line in proc.stdout:
            event = json.loads(line)
            printed.append(event)
            if event["event"] == "patch_rejected":  # the operator frees some space
                (state / "filler").unlink(missing_ok=True)
        code = proc.wait(timeout=60)
        assert code == 0, "".join(stderr)[-3000:]
        assert time.monotonic() - started < 60

        notices = [str(e["message"]) for e in printed if e["event"] == "notice"]
        journal_notices = [n for n in notices if n.startswith("cannot write the journal")]
        log_notices = [n for n in notices if n.startswith("cannot write train.log")]
        assert journal_notices == [f"cannot write the journal: {ENOSPC}"], notices
        assert log_notices == [f"cannot write train.log: {ENOSPC}"], notices
        assert any("state.json" in n and ENOSPC in n for n in notices), notices

        names = [str(e["event"]) for e in printed]
        rejected = [e for e in printed if e["event"] == "patch_rejected"]
        assert len(rejected) == 1 and ENOSPC in str(rejected[0]["reason"])
        assert names.count("patch_applied") == 1 and names[-1] == "run_completed"
        assert 'print("lr", learning_rate)' in (project / "train.py").read_text()

        # The journal lost the events of the outage, kept whole lines, and resumed.
        rows = journal_rows(state)
        kept = [str(row["event"]) for row in rows]
        assert kept[-1] == "run_completed" and "patch_applied" in kept
        assert len(rows) < len(printed)
        # train.log resumed too: the later runs' lines are there.
        assert "run 3 step 49" in (state / "train.log").read_text()


# --- the same faults without root ---------------------------------------------------------

# Run 1 crashes while the backups directory cannot be created; run 2 clears the obstacle (as
# an operator freeing space would) and crashes the same way; run 3 has the fix.
BACKUPS_BLOCKED_ONCE = """\
from pathlib import Path

runs = Path("runs")
run = int(runs.read_text()) + 1 if runs.exists() else 1
runs.write_text(str(run))
if run == 2:
    Path(".phoenix_cli/backups").unlink()
learning_rate = 0.1
print("lr", lerning_rate)
"""


def test_a_fix_whose_backup_failed_is_tried_again_once_it_can_be_written(tmp_path: Path) -> None:
    """A fix never applied (its backup failed) is not 'already tried': the next attempt may
    apply it. Injected by a file where the backups directory must go (works as any user)."""
    project = tmp_path / "proj"
    (project / ".phoenix_cli").mkdir(parents=True)
    (project / ".phoenix_cli" / "backups").write_text("in the way\n")
    (project / "train.py").write_text(BACKUPS_BLOCKED_ONCE)
    env = user_env(PHOENIX_TRAIN_CMD=f"{PY} train.py", PHOENIX_PRIMARY="builtin")
    out = subprocess.run(
        [PHOENIX, "--unattended"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 0, out.stderr
    rows = journal_rows(project / ".phoenix_cli")
    proposed = [row["id"] for row in rows if row["event"] == "patch_proposed"]
    rejected = [row for row in rows if row["event"] == "patch_rejected"]
    applied = [row for row in rows if row["event"] == "patch_applied"]
    assert len(proposed) == 2 and proposed[0] == proposed[1]  # the same fix, twice
    assert len(rejected) == 1 and "nothing was changed" in str(rejected[0]["reason"])
    assert len(applied) == 1 and applied[0]["id"] == proposed[0]
    assert rows[-1]["event"] == "run_completed"


# The training writes far more than the file-size limit phoenix runs under: its train.log and
# its journal (a progress event per step) both hit the limit part-way through a write.
# Paced like a trainer (one metric line per step, not a flood that Phoenix would sample),
# so that every step is a progress event and the journal outgrows the limit.
LOUD = """\
import time
for step in range(3000):
    print(f"step {step} loss {1.0 / (step + 1):.6f} " + "x" * 60, flush=True)
    time.sleep(0.0005)
"""
FSIZE_LIMIT = 64 * 1024


def _limit_file_size() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))


def test_journal_and_train_log_past_a_file_size_limit(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel fail writes past 64 KB (a short write, then EFBIG) for
    any user: one notice each for the journal and train.log, the run completes, and the
    journal holds only whole lines."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(LOUD)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{PY} train.py",
        PHOENIX_PRIMARY="builtin",
        PHOENIX_NOTIFY_STEPS="1",
        PHOENIX_LOG_MAX_BYTES="0",  # never rotate: the files must hit the limit
    )
    out = subprocess.run(
        [PHOENIX, "--unattended", "--json"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        preexec_fn=_limit_file_size,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    printed = [json.loads(line) for line in out.stdout.splitlines()]
    notices = [str(e["message"]) for e in printed if e["event"] == "notice"]
    assert [n for n in notices if "journal" in n] == ["cannot write the journal: File too large"]
    assert [n for n in notices if "train.log" in n] == ["cannot write train.log: File too large"]
    assert printed[-1]["event"] == "run_completed"
    state = project / ".phoenix_cli"
    rows = journal_rows(state)  # whole lines only, though the last write was cut short
    assert 0 < len(rows) < len(printed)
    assert (state / "run.log").stat().st_size <= FSIZE_LIMIT
    # Whole lines only too (a chunk cut short is dropped whole: the first may be all of it).
    log = (state / "train.log").read_text()
    assert len(log) <= FSIZE_LIMIT and (not log or log.endswith("\n"))
    assert all(line.startswith("step ") and line.endswith("x" * 60) for line in log.splitlines())
