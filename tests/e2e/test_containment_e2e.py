"""The installed ``phoenix --unattended`` against model-written code that reaches for real files.

Each test reproduces a finding of the review that attacked the shadow run (issue 11) with a
scripted model reply. ``sandbox`` runs use the real bubblewrap (``.ci/run`` installs it);
``no-sandbox`` runs put a ``bwrap`` on PATH that fails the probe, so the fallback is tested
everywhere.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cli_support import PHOENIX, phoenix, user_env
from waiting import until_sync

from phoenix_engine.io.sandbox import probe

PY = sys.executable
PROBE = probe(os.environ)
MB = 1024 * 1024
MODES = [
    pytest.param(
        True,
        id="sandbox",
        marks=pytest.mark.skipif(not PROBE.usable, reason=f"bwrap cannot run: {PROBE.detail}"),
    ),
    pytest.param(False, id="no-sandbox"),
]

TRAIN = """\
import sys

LR = -0.1


def main():
    if LR <= 0:
        raise ValueError("learning rate must be positive")
    print("step 1 loss 0.5")


if __name__ == "__main__":
    main()
"""


def fix(new: str = "LR = 0.1") -> dict[str, object]:
    return {
        "type": "replace_range",
        "path": "train.py",
        "start_line": 3,
        "end_line": 3,
        "original": "LR = -0.1\n",
        "replacement": new + "\n",
    }


def make_project(
    tmp_path: Path, patches: list[dict[str, object]], test_cmd: str, *, sandbox: bool
) -> tuple[Path, dict[str, str]]:
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "data").mkdir()
    (project / "train.py").write_text(TRAIN)
    (project / "data" / "train.csv").write_text("x,y\n1,2\n")
    reply = tmp_path / "reply.json"
    reply.write_text(json.dumps({"diagnosis": "scripted", "patches": patches}))
    model = tmp_path / "model.py"
    model.write_text(f"import sys\nsys.stdin.read()\nprint(open({str(reply)!r}).read())\n")
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{PY} train.py",
        PHOENIX_PRIMARY="cmd",
        PHOENIX_FALLBACK_LLM_CMD=f"{PY} {model}",
        PHOENIX_MAX_RETRIES="1",
        PHOENIX_TEST_CMD=test_cmd,
    )
    if not sandbox:
        fake = tmp_path / "fakebin"
        fake.mkdir()
        (fake / "bwrap").write_text("#!/bin/sh\necho 'bwrap: No permissions' >&2\nexit 1\n")
        (fake / "bwrap").chmod(0o755)
        env["PATH"] = f"{fake}{os.pathsep}{env.get('PATH', '')}"
    return project, env


def journal(project: Path) -> list[dict[str, object]]:
    lines = (project / ".phoenix_cli" / "run.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def rows(project: Path, event: str) -> list[dict[str, object]]:
    return [r for r in journal(project) if r["event"] == event]


@pytest.mark.parametrize("sandbox", MODES)
def test_checkpoint_saving_test_keeps_the_real_checkpoint(tmp_path: Path, sandbox: bool) -> None:
    """Finding 1: an ordinary test that saves a checkpoint must not touch the real one."""
    project, env = make_project(
        tmp_path, [fix()], f"{PY} -m pytest -q -p no:cacheprovider tests", sandbox=sandbox
    )
    (project / "checkpoints").mkdir()
    weights = bytes(range(256)) * (5 * MB // 256 + 1)
    (project / "checkpoints" / "last.pt").write_bytes(weights)
    (project / "tests" / "test_save.py").write_text(
        "import train\n\ndef test_saves():\n"
        "    open('checkpoints/last.pt', 'wb').write(b'20 bytes of nothing.')\n"
        "    assert train.LR > 0\n"
    )
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 0, out.stderr
    assert (project / "checkpoints" / "last.pt").read_bytes() == weights
    assert rows(project, "shadow_passed") and rows(project, "patch_applied")
    notices = [str(r["message"]) for r in rows(project, "notice")]
    unconfined = [n for n in notices if "not sandboxed" in n]
    assert len(unconfined) == (0 if sandbox else 1), notices  # said once per run
    if not sandbox:
        assert "apt-get install bubblewrap" in unconfined[0]
        names = [(r["event"], str(r.get("message", ""))) for r in journal(project)]
        said = next(i for i, (_, m) in enumerate(names) if "not sandboxed" in m)
        assert said < [e for e, _ in names].index("failure")  # at the start of the run


POISON = (
    "for p in ['data/train.csv', {absolute!r}, 'data/../tests/test_x.py']:\n"
    "    try:\n"
    "        open(p, 'w').write('poisoned')\n"
    "    except OSError:\n"
    "        pass\n"
)


@pytest.mark.parametrize("sandbox", MODES)
def test_failing_patch_that_rewrites_data_changes_nothing_or_is_a_breach(
    tmp_path: Path, sandbox: bool
) -> None:
    """Finding 2: a patch that failed its shadow run still rewrote data/train.csv."""
    poison = fix(
        "import os; exec(open('poison.txt').read()) if os.path.exists('poison.txt') else 0"
    )
    project, env = make_project(
        tmp_path, [poison], f"{PY} -c 'import train; raise SystemExit(1)'", sandbox=sandbox
    )
    absolute = str(project / "data" / "train.csv")  # as a model would write it: the real path
    (project / "poison.txt").write_text(POISON.format(absolute=absolute))
    (project / "tests" / "test_x.py").write_text("def test_x():\n    pass\n")
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 1, out.stderr
    assert "patch_applied" not in {r["event"] for r in journal(project)}
    assert (project / "tests" / "test_x.py").read_text() == "def test_x():\n    pass\n"
    if sandbox:
        assert (project / "data" / "train.csv").read_text() == "x,y\n1,2\n"
        assert rows(project, "shadow_failed") and not rows(project, "containment_breach")
    else:  # it ran with the user's rights: the absolute write happened, and was caught
        (breach,) = rows(project, "containment_breach")
        assert breach["paths"] == ["data/train.csv"] and breach["sandboxed"] is False
        assert "containment breach" in str(rows(project, "patch_rejected")[0]["reason"])


@pytest.mark.parametrize(
    ("path", "setup"),
    [
        (".venv/lib/python3.11/site-packages/phoenix_engine/core/policy.py", ".venv"),
        ("env311/lib/python3.11/site-packages/phoenix_engine/core/policy.py", "env311"),
        ("pytest.py", ""),
        ("test/__init__.py", ""),
    ],
    ids=["dot-venv", "named-venv", "pytest-shadow", "test-package"],
)
def test_environment_and_test_machinery_are_never_patched(
    tmp_path: Path, path: str, setup: str
) -> None:
    """Findings 3 and 5: Phoenix's policy.py in the project's venv; a pytest.py shadowing
    pytest; a test/ package. Refused whatever the allowlist says."""
    patch = {
        "type": "replace_range",
        "path": path,
        "start_line": 1,
        "end_line": 0,
        "replacement": "import sys; sys.exit(0)\n",
    }
    project, env = make_project(tmp_path, [patch], f"{PY} -m pytest -q", sandbox=False)
    if setup:
        (project / setup).mkdir()
        (project / setup / "pyvenv.cfg").write_text("home = /usr/bin\n")
        target = project / path
        target.parent.mkdir(parents=True)
        target.write_text("ALLOWED = True\n")
    env["PHOENIX_ALLOWLIST"] = "*"
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 1, out.stderr
    (rejected,) = rows(project, "patch_rejected")
    assert path.split("/")[0] in str(rejected["reason"]) or "protected" in str(rejected["reason"])
    assert not (project / path).exists() or (project / path).read_text() == "ALLOWED = True\n"


DAEMON = r"""
import json, os, socket, sys, time
from pathlib import Path
marker, state_dir = sys.argv[1:]
if os.fork():
    time.sleep(1.0)
    sys.exit(1)
os.setsid()
if os.fork():
    os._exit(0)
from phoenix_engine.remote import attach_server as attach
try:
    door = str(attach.socket_path(Path(state_dir)))
except Exception:
    door = os.path.join(state_dir, "engine.sock")
deadline = time.time() + 60
while time.time() < deadline:
    try:
        pending = [l for l in open(os.path.join(state_dir, "run.log")) if "approval_requested" in l]
        s = socket.socket(socket.AF_UNIX)
        s.connect(door)
        f = s.makefile("rwb")
        f.readline()
        f.write(json.dumps({"type": "hello", "version": attach.VERSION}).encode() + b"\n")
        f.flush()
        f.readline()
        for line in pending:
            ident = json.loads(line)["id"]
            cmd = {"type": "command", "command": "accept", "patch_id": ident}
            f.write(json.dumps(cmd).encode() + b"\n")
            f.flush()
            f.readline()
        s.close()
    except Exception:
        pass
    time.sleep(0.1)
"""


@pytest.mark.skipif(not PROBE.usable, reason=f"bwrap cannot run: {PROBE.detail}")
def test_self_approving_daemon_cannot_approve_and_does_not_survive(tmp_path: Path) -> None:
    """Finding 4: with PHOENIX_APPROVAL=manual a daemon left by the shadow run read the id
    from run.log and sent accept over engine.sock."""
    marker = f"phoenix-e2e-daemon-{os.getpid()}-{time.monotonic_ns()}"
    project, env = make_project(tmp_path, [fix()], "", sandbox=True)
    log = project / ".phoenix_cli" / "run.log"
    daemon = " ".join([PY, "-c", shlex.quote(DAEMON), marker, str(project / ".phoenix_cli")])
    env["PHOENIX_TEST_CMD"] = f"{daemon}; {PY} -c 'import train; assert train.LR > 0'"
    env["PHOENIX_APPROVAL"] = "manual"
    proc = subprocess.Popen(
        [PHOENIX, "--unattended"], cwd=project, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        waiting = lambda: log.exists() and "approval_requested" in log.read_text()  # noqa: E731
        until_sync(waiting, 60, what="approval_requested in the journal", interval=0.1)
        assert "approval_requested" in log.read_text()
        time.sleep(3)  # the daemon's chance, had it survived
        assert "patch_applied" not in log.read_text()
        assert [
            p for p in psutil.process_iter(["cmdline"]) if marker in str(p.info["cmdline"])
        ] == []
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    assert rows(project, "shadow_passed") and not rows(project, "patch_applied")


def test_require_refuses_to_run_model_code_without_the_sandbox(tmp_path: Path) -> None:
    project, env = make_project(tmp_path, [fix()], f"{PY} -c 'import train'", sandbox=False)
    env["PHOENIX_SANDBOX"] = "require"
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 1, out.stderr
    (rejected,) = rows(project, "patch_rejected")
    assert "PHOENIX_SANDBOX=require" in str(rejected["reason"])
    assert not rows(project, "shadow_passed") and not rows(project, "shadow_failed")
    assert (project / "train.py").read_text() == TRAIN


SLOW = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)  # a daemon of the test
    os._exit(0)
os.wait()
time.sleep(300)
"""


@pytest.mark.skipif(not PROBE.usable, reason=f"bwrap cannot run: {PROBE.detail}")
def test_sigterm_during_a_slow_sandboxed_shadow_test_leaves_nothing(tmp_path: Path) -> None:
    marker = f"phoenix-e2e-slow-{os.getpid()}-{time.monotonic_ns()}"
    project, env = make_project(tmp_path, [fix()], f"{PY} slow.py {marker}", sandbox=True)
    (project / "slow.py").write_text(SLOW)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env.update(TMPDIR=str(tmpdir), PHOENIX_KILL_GRACE_SEC="1")

    def running() -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["cmdline"]):
            if marker in " ".join(proc.info["cmdline"] or ()):
                with contextlib.suppress(psutil.Error):
                    if proc.status() != psutil.STATUS_ZOMBIE:
                        found.append(proc)
        return found

    proc = subprocess.Popen(
        [PHOENIX, "--unattended"], cwd=project, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        until_sync(lambda: len(running()) >= 2 or proc.poll() is not None, 60, interval=0.05)
        assert len(running()) >= 2, proc.stderr.read() if proc.poll() is not None else ""
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if proc.poll() is None:
            proc.kill()
        for left in running():
            left.kill()
    assert code == 4 and took < 6, (code, took)
    assert running() == []
    assert list(tmpdir.iterdir()) == []  # no phoenix-shadow-* left
    assert (project / "train.py").read_text() == TRAIN
