"""The installed ``phoenix --unattended`` stopped by SIGTERM while it waits on a slow model or a
slow shadow test: it exits within PHOENIX_KILL_GRACE_SEC plus a few seconds and leaves nothing
behind (no model command, no test, no daemon they forked, no ``phoenix-*`` temp folder).
Also: a damaged ``state.json`` and a non-UTF-8 ``phoenix.toml`` through the real command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from cli_support import PHOENIX, phoenix, user_env
from fakes.llm_servers import Action, Hang, LoopbackServer, Seen, json_reply
from waiting import until_sync

PY = sys.executable
GRACE_S = 1.0
pytestmark = pytest.mark.timeout(60)

TRAIN = "lr = -0.1\nif lr <= 0:\n    raise ValueError('learning rate must be positive')\n"

# Forks a daemon (setsid, double fork, stdio on /dev/null) that writes its pid to argv[1] and
# sleeps; then the process itself sleeps 300 s (a model that takes its time, a slow test).
SLOW = """
import os, sys, time
pidfile = sys.argv[1]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if 'noenv' in sys.argv:  # a daemon that drops its environment (and so any mark)
            os.execve(sys.executable, [sys.executable, '-c', 'import time; time.sleep(300)',
                                       pidfile], {})
        time.sleep(300)
    os._exit(0)
os.wait()
with open(pidfile + '.tmp', 'w') as fh:
    fh.write(str(os.getpid()))
os.replace(pidfile + '.tmp', pidfile)
print('step 1 loss 0.5', flush=True)
time.sleep(300)
"""


def ours(tmp_path: Path) -> list[psutil.Process]:
    """Live processes whose command line names a file of this test."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            named = str(tmp_path) in " ".join(proc.info["cmdline"] or [])
            if named and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 40) -> None:
    try:
        until_sync(path.exists, timeout, give_up=lambda: proc.poll() is not None)
    except AssertionError:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"{path.name} never appeared (phoenix: {proc.returncode}):\n{err}")


def sigterm_and_check(
    proc: subprocess.Popen[str], tmp_path: Path, tmpdir: Path, sig: int = signal.SIGTERM
) -> str:
    # The pidfile is written once the daemon is forked: wait until both show, not a fixed time.
    until_sync(lambda: len(ours(tmp_path)) >= 2, 10, what="the slow process and its daemon")
    before = ours(tmp_path)
    assert len(before) >= 2, before  # the slow process and its daemon
    started = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(timeout=GRACE_S + 15)
    finally:
        took = time.monotonic() - started
        for left in ours(tmp_path):  # never leave them running, whatever happened
            left.kill()
    _, err = proc.communicate()
    assert code == 4, err
    assert took < GRACE_S + 5, f"took {took:.1f}s to stop"
    survivors = [p for p in before if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert survivors == [], survivors
    assert list(tmpdir.iterdir()) == []  # no phoenix-cmd-*, phoenix-shadow-*
    return err


def start(project: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PHOENIX, "--unattended"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def setup(tmp_path: Path, model: str, **extra: str) -> tuple[Path, dict[str, str], Path]:
    project, tmpdir = tmp_path / "proj", tmp_path / "tmp"
    project.mkdir()
    tmpdir.mkdir()
    (project / "train.py").write_text(TRAIN)
    (tmp_path / "slow.py").write_text(SLOW)
    (tmp_path / "model.py").write_text(model)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{PY} train.py",
        PHOENIX_PRIMARY="cmd",
        PHOENIX_FALLBACK_LLM_CMD=f"{PY} {tmp_path / 'model.py'}",
        PHOENIX_KILL_GRACE_SEC=str(GRACE_S),
        PHOENIX_MAX_RETRIES="1",
        TMPDIR=str(tmpdir),
        **extra,
    )
    return project, env, tmpdir


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_during_a_slow_model_call(tmp_path: Path, sig: signal.Signals) -> None:
    pidfile = tmp_path / "model.pid"
    slow = str(tmp_path / "slow.py")
    model = f"import runpy, sys\nsys.argv = ['slow', {str(pidfile)!r}]\nrunpy.run_path({slow!r})\n"
    project, env, tmpdir = setup(tmp_path, model)
    proc = start(project, env)
    wait_for(pidfile, proc)
    err = sigterm_and_check(proc, tmp_path, tmpdir, sig)
    assert sig.name in err
    journal = [json.loads(line) for line in (project / ".phoenix_cli/run.log").open()]
    assert journal[-1]["event"] == "stopped"


def test_sigterm_during_a_slow_shadow_test(tmp_path: Path) -> None:
    pidfile = tmp_path / "test.pid"
    patch = {
        "type": "replace_range",
        "path": "train.py",
        "start_line": 1,
        "end_line": 1,
        "original": "lr = -0.1\n",
        "replacement": "lr = 0.1\n",
    }
    reply = tmp_path / "reply.json"
    reply.write_text(json.dumps({"diagnosis": "lr is negative", "patches": [patch]}))
    model = f"import sys\nsys.stdin.read()\nprint(open({str(reply)!r}).read())\n"
    test_cmd = f"{PY} {tmp_path / 'slow.py'} {pidfile}"
    # Unconfined: the pidfile must reach the real /tmp (in the sandbox, /tmp is private and the
    # PID namespace kills the tree; test_containment_e2e covers SIGTERM there).
    project, env, tmpdir = setup(tmp_path, model, PHOENIX_TEST_CMD=test_cmd, PHOENIX_SANDBOX="off")
    proc = start(project, env)
    wait_for(pidfile, proc)
    sigterm_and_check(proc, tmp_path, tmpdir)
    assert (project / "train.py").read_text() == TRAIN  # never applied


def test_sigterm_during_a_hanging_http_model_call(tmp_path: Path) -> None:
    def handle(seen: Seen) -> Action:
        if seen.method == "GET":  # the model list
            return json_reply({"object": "list", "data": [{"id": "local-7b"}]})
        return Hang()

    with LoopbackServer(handle) as server:
        project, env, tmpdir = setup(tmp_path, "")
        env.update(
            PHOENIX_PRIMARY="openai",
            PHOENIX_FALLBACK_LLM_URL=f"{server.url}/v1/chat/completions",
            PHOENIX_LLM_TIMEOUT_SEC="120",
        )
        proc = start(project, env)
        asked = lambda: [s for s in server.seen if s.method == "POST"]  # noqa: E731
        until_sync(asked, 40, what="the model was asked", give_up=lambda: proc.poll() is not None)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=GRACE_S + 15)
        finally:
            took = time.monotonic() - started
            proc.kill()
            proc.communicate()
    assert code == 4
    assert took < GRACE_S + 5, f"took {took:.1f}s to stop"
    assert list(tmpdir.iterdir()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the subreaper is Linux only")
def test_sigterm_reaches_a_daemon_of_the_training_that_dropped_its_environment(
    tmp_path: Path,
) -> None:
    pidfile = tmp_path / "train.pid"
    project, env, tmpdir = setup(tmp_path, "")
    env["PHOENIX_TRAIN_CMD"] = f"{PY} {tmp_path / 'slow.py'} {pidfile} noenv"
    proc = start(project, env)
    wait_for(pidfile, proc)
    sigterm_and_check(proc, tmp_path, tmpdir)


DAMAGED = {
    "binary": bytes(range(256)),
    "a string pid": b'{"child": {"pid": "12", "pgid": 12, "create_time": 1, "command": "x"}}',
    "1e400": b'{"restarts": 1e400}',
}


@pytest.mark.parametrize("content", DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_state_is_moved_aside_and_the_run_goes_on(project: Path, content: bytes) -> None:
    (project / ".phoenix_cli").mkdir()
    (project / ".phoenix_cli" / "state.json").write_bytes(content)
    out = phoenix("--unattended", "--", PY, "train.py", cwd=project)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert "state.json was damaged" in out.stderr and "starting fresh" in out.stderr
    (aside,) = (project / ".phoenix_cli").glob("state.json.damaged-*")
    assert aside.read_bytes() == content


def test_non_utf8_phoenix_toml_exits_2_with_one_line(project: Path) -> None:
    (project / "phoenix.toml").write_bytes(b"[phoenix]\ntrain_cmd = 'caf\xe9'\n")
    out = phoenix("--unattended", cwd=project)
    assert out.returncode == 2
    (line,) = out.stderr.strip().splitlines()
    assert str(project / "phoenix.toml") in line and "UTF-8" in line
