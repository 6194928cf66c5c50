"""Where the engine's socket lives, and who trusts it: no predictable /tmp name, a squatter's
path is neither served on nor believed.

"Another user" is real where the suite runs as root (a forked process that drops to
``nobody``, files chowned to it); elsewhere the same checks run with the uid they compare
against changed, which exercises the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import Recorder
from waiting import until_sync

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import RunView
from phoenix_engine.io.engine_socket import serving_problem, socket_path, trust_problem
from phoenix_engine.remote.attach_client import AttachError, query_status
from phoenix_engine.remote.attach_server import AttachServer

NOBODY = 65534
as_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root to act as another user (the uid-seam tests cover it)"
)


def test_a_short_project_keeps_its_socket_in_phoenix_cli(tmp_path: Path) -> None:
    assert socket_path(tmp_path / ".phoenix_cli") == tmp_path / ".phoenix_cli" / "engine.sock"


def test_a_deep_project_gets_a_socket_in_the_private_runtime_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))  # the real input platformdirs reads
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 5, ".phoenix_cli")
    path = socket_path(deep)
    assert path.parent == runtime / "phoenix" and path.name.endswith(".sock")
    assert path == socket_path(deep) != socket_path(deep.with_name("other"))  # per project
    assert not str(path).startswith(f"{tempfile.gettempdir()}/phoenix-")
    assert serving_problem(path, os.getuid()) == ""
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_engine_will_not_serve_where_another_uid_owns_the_path(tmp_path: Path) -> None:
    path = tmp_path / "engine.sock"
    left = socket.socket(socket.AF_UNIX)
    left.bind(str(path))
    other = os.getuid() + 1  # as that user, the file belongs to someone else
    assert "belongs to uid" in serving_problem(path, other)
    assert path.exists()  # never removed: it is not ours
    assert "belongs to uid" in trust_problem(path, other)
    assert trust_problem(path, os.getuid()) == ""
    assert serving_problem(path, os.getuid()) == "" and not path.exists()  # our stale one goes
    left.close()


def test_a_directory_open_to_others_is_made_private_and_a_file_is_not_a_socket(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".phoenix_cli"
    state.mkdir(mode=0o755)
    state.chmod(0o777)
    (state / "engine.sock").write_text("not a socket")
    assert "not a socket" in serving_problem(state / "engine.sock", os.getuid())
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert "is not a socket" in trust_problem(state / "engine.sock", os.getuid())


@as_root
def test_a_squatted_path_gets_no_socket_and_a_notice(tmp_path: Path) -> None:
    state = tmp_path / ".phoenix_cli"
    state.mkdir()
    squat = state / "engine.sock"
    squat.write_text("")
    os.chown(squat, NOBODY, NOBODY)
    recorder = Recorder()
    server = AttachServer(
        state_dir=state, emit=recorder.emit, request_stop=lambda r: None, desk=None, view=RunView()
    )
    asyncio.run(asyncio.wait_for(server.run(), 5))  # returns at once: nothing to serve
    asyncio.run(server.aclose())
    (notice,) = recorder.of(ev.Notice)
    assert "no attach socket" in notice.message and f"uid {NOBODY}" in notice.message
    assert squat.stat().st_uid == NOBODY  # left as it was

    os.chown(state, NOBODY, NOBODY)  # the directory itself is someone else's
    squat.unlink()
    asyncio.run(asyncio.wait_for(server.run(), 5))
    assert f"belongs to uid {NOBODY}" in recorder.of(ev.Notice)[-1].message
    assert not squat.exists()


def _fake_engine(bind: Path, ready: Path) -> None:
    """A squatter's server, as ``nobody``: it claims the run completed."""
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(bind))
    server.listen(4)
    ready.touch()
    while True:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as f:
            completed = {"event": "run_completed", "ts": 1.0, "duration_s": 1.0}
            for message in (
                {"type": "hello", "version": 1},
                {"type": "snapshot", "events": [completed]},
                {"type": "reply", "id": 1, "ok": True, "text": "phase: completed (FAKE)"},
            ):
                f.write(json.dumps(message).encode() + b"\n")
                f.flush()
                if message["type"] != "reply":
                    f.readline()


@contextlib.contextmanager
def squatter(target: Path) -> Iterator[int]:
    """A real process of another user listening at ``target`` (bound where nobody may write,
    then moved into place: the binding follows the file)."""
    spot = Path(tempfile.mkdtemp())
    spot.chmod(0o777)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            _fake_engine(spot / "s.sock", spot / "ready")
        finally:
            os._exit(0)
    try:
        until_sync((spot / "ready").exists, 10, what="the squatter listens")
        os.rename(spot / "s.sock", target)
        yield pid
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        (spot / "ready").unlink(missing_ok=True)
        spot.rmdir()


@as_root
def test_status_does_not_believe_another_users_socket(tmp_path: Path) -> None:
    state = tmp_path / ".phoenix_cli"
    state.mkdir(mode=0o700)
    path = state / "engine.sock"
    with squatter(path):
        with pytest.raises(AttachError, match=f"belongs to uid {NOBODY}"):
            asyncio.run(query_status(path))
        cli = subprocess.run(
            [str(Path(sys.executable).with_name("phoenix")), "status"],
            cwd=tmp_path,
            env={k: v for k, v in os.environ.items() if not k.startswith("PHOENIX_")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and "FAKE" not in cli.stdout + cli.stderr
        assert f"uid {NOBODY}" in cli.stderr
        os.chown(path, 0, 0, follow_symlinks=False)  # the file looks ours: the peer does not
        with pytest.raises(AttachError, match=f"listening there .* belongs to uid {NOBODY}"):
            asyncio.run(query_status(path))


DAEMON = """
import ctypes, os, sys, time
if sys.argv[1] == "subreaper":
    ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
r, w = os.pipe()
first = os.fork()
if first == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
    os.setsid()
    if os.fork() == 0:
        os.write(w, str(os.getpid()).encode())
        time.sleep(20)
    os._exit(0)
os.waitpid(first, 0)  # the middle one is reaped, so the daemon already has its new parent
daemon = int(os.read(r, 20))
from phoenix_engine.io.engine_socket import started_by
print(started_by(daemon, os.getpid()), flush=True)
os.kill(daemon, 9)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux-only")
def test_a_double_forked_daemon_is_still_a_descendant_of_a_child_subreaper() -> None:
    """The check that keeps run code from attaching relies on Phoenix being the child
    subreaper of what it starts; without it a double fork escapes to init."""

    def found(mode: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", DAEMON, mode], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip() or out.stderr

    assert found("subreaper") == "True"
    assert found("plain") == "False"
