"""The bubblewrap sandbox: its command line and probe (pure, with fakes), then the real thing.

Tests marked ``needs_bwrap`` run the real bwrap (``.ci/run`` installs it); they skip, saying
why, only where bwrap cannot run. The fallback (no sandbox) has tests that always run.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from waiting import until

from phoenix_engine import events as ev
from phoenix_engine.io.sandbox import Chooser, Layout, bwrap_argv, probe, userns_hint
from phoenix_engine.io.shadow import ShadowResult, validate

PROBE = probe(os.environ)
needs_bwrap = pytest.mark.skipif(
    not PROBE.usable, reason=f"bubblewrap cannot run here: {PROBE.detail}"
)
PY = shlex.quote(sys.executable)
MB = 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    path: str
    before: bytes | None
    after: bytes
    mode: int | None = None


# --- pure: the command line, the hint, the probe ---------------------------------------------


def test_argv_binds_the_copy_at_the_project_path_and_hides_what_must_not_be_seen() -> None:
    layout = Layout(
        project=Path("/home/u/proj"),
        shadow=Path("/tmp/phoenix-shadow-x/proj"),
        ro_binds=((Path("/home/u/proj/data"), Path("/home/u/proj/data")),),
        hide=(Path("/run"), Path("/home/u/proj/.phoenix_cli"), Path("/srv/state")),
    )
    argv = bwrap_argv("/usr/bin/bwrap", layout, ["pytest", "-q"], cwd=Path("/home/u/proj"))
    text = " ".join(argv)
    assert argv[0] == "/usr/bin/bwrap" and argv[-3:] == ["--", "pytest", "-q"]
    for option in ("--unshare-net", "--unshare-pid", "--die-with-parent", "--new-session"):
        assert option in argv
    assert "--cap-drop ALL" in text  # root keeps every capability otherwise
    assert "--ro-bind / /" in text and "--tmpfs /tmp" in text and "--tmpfs /dev/shm" in text
    assert "--tmpfs /run" in text and "--tmpfs /srv/state" in text
    assert "--tmpfs /home/u/proj/.phoenix_cli" not in text  # under the copy's bind already
    bind = text.index("--bind /tmp/phoenix-shadow-x/proj /home/u/proj")
    assert text.index("--tmpfs /tmp") < bind < text.index("--ro-bind /home/u/proj/data")
    assert "--chdir /home/u/proj" in text


@pytest.mark.parametrize(
    ("sysctl", "needle"),
    [
        ({"kernel.apparmor_restrict_unprivileged_userns": "1"}, "apparmor_restrict"),
        ({"kernel.unprivileged_userns_clone": "0"}, "unprivileged_userns_clone=1"),
        ({"user.max_user_namespaces": "0"}, "max_user_namespaces"),
        ({}, "container"),
    ],
)
def test_userns_hint_says_what_to_change(sysctl: dict[str, str], needle: str) -> None:
    assert needle in userns_hint(sysctl)


def test_probe_without_bwrap_names_the_install_command() -> None:
    found = probe({"PATH": "/nonexistent"})
    assert not found.usable and "apt-get install bubblewrap" in found.detail


def test_probe_that_fails_explains_user_namespaces(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)

    def runner(argv: list[str]) -> tuple[int, str]:
        assert argv[0] == str(fake) and "--unshare-net" in argv
        return 1, "bwrap: No permissions to create new namespace"

    sysctl = {"kernel.apparmor_restrict_unprivileged_userns": "1"}
    found = probe({"PATH": str(tmp_path)}, runner=runner, sysctl=lambda: sysctl)
    assert not found.usable
    assert "No permissions" in found.detail and "AppArmor" in found.detail


@pytest.mark.parametrize("mode", ["auto", "require"])
async def test_chooser_says_once_per_run_when_it_cannot_sandbox(tmp_path: Path, mode: str) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    said: list[ev.Event] = []
    chooser = Chooser(mode, {"PATH": str(tmp_path)}, said.append)
    assert await chooser.choose() is None
    assert await chooser.choose() is None
    assert len(said) == 1 and isinstance(said[0], ev.Notice)
    assert "Permission denied" in said[0].message
    assert ("bubblewrap" in said[0].message) if mode == "auto" else "refused" in said[0].message


async def test_chooser_off_never_probes() -> None:
    said: list[ev.Event] = []
    assert await Chooser("off", {"PATH": "/nonexistent"}, said.append).choose() is None
    assert said == []


# --- the real sandbox ------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "checkpoints").mkdir()
    (root / ".phoenix_cli").mkdir()
    (root / "train.py").write_text("LR = 0.1\n")
    (root / "tests" / "test_train.py").write_text("def test_lr():\n    assert True\n")
    (root / "data" / "train.csv").write_text("x,y\n1,2\n")
    (root / "checkpoints" / "last.pt").write_bytes(b"\x01" * (5 * MB))  # over 4 MB
    (root / ".phoenix_cli" / "run.log").write_text('{"event": "approval_requested"}\n')
    return root


def real_state(project: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(project)): p.read_bytes()
        for p in sorted(project.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


async def shadow(project: Path, cmd: str, **kw: object) -> ShadowResult:
    tmp_root = project.parent / "shadows"
    tmp_root.mkdir(exist_ok=True)
    options: dict[str, object] = {"timeout_s": 60.0, "allowlist": ["*.py"], "data_dir": "data"}
    options.update(kw)
    fix = Change(path="train.py", before=b"LR = 0.1\n", after=b"LR = 0.01\n")
    result = await validate(project, [fix], test_cmd=cmd, tmp_root=tmp_root, **options)  # type: ignore[arg-type]
    assert list(tmp_root.iterdir()) == []  # the copy is always removed
    return result


def py(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


@needs_bwrap
async def test_ordinary_checkpoint_saving_test_leaves_the_real_one_alone(project: Path) -> None:
    """Finding 1: a plain test that saves a checkpoint turned the real 5 MB file into 20 bytes."""
    before = real_state(project)
    save = "open('checkpoints/last.pt', 'wb').write(b'20 bytes of nothing')"
    result = await shadow(project, py(save), sandbox=PROBE)
    assert result.ok and result.sandboxed, result.output_tail  # its own copy (budget)
    over_budget = await shadow(project, py(save), sandbox=PROBE, budget_bytes=0)
    assert not over_budget.ok and "Read-only file system" in over_budget.output_tail
    assert real_state(project) == before


@needs_bwrap
async def test_failing_patch_cannot_rewrite_real_files_by_any_path(project: Path) -> None:
    """Finding 2: data through the data dir, a test through ``data/..``, absolute paths."""
    before = real_state(project)
    outside = project.parent / "outside.txt"
    outside.write_text("mine\n")
    attempts = [
        "data/train.csv",
        str(project / "data" / "train.csv"),
        "data/../tests/test_train.py",
        str(project / "train.py"),
        str(outside),
        str(project / ".phoenix_cli" / "run.log"),
    ]
    code = (
        "import sys\n"
        f"for path in {attempts!r}:\n"
        "    try:\n"
        "        open(path, 'a').write('pwned')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.strerror)\n"
        "sys.exit(1)\n"
    )
    result = await shadow(project, py(code), sandbox=PROBE)
    assert not result.ok and not result.breach, result.reason
    assert f"refused {project / 'data' / 'train.csv'} Read-only" in result.output_tail
    # the copy and the private /tmp took the other writes; nothing real changed:
    assert real_state(project) == before and outside.read_text() == "mine\n"


@needs_bwrap
async def test_code_runs_at_the_project_path_with_no_phoenix_in_sight(project: Path) -> None:
    (project.parent / "secret-note").write_text("x")
    code = (
        "import os, train, pathlib\n"
        f"assert pathlib.Path(train.__file__).resolve() == pathlib.Path({str(project)!r}) "
        "/ 'train.py', train.__file__\n"
        "assert train.LR == 0.01\n"
        "assert not os.path.exists('.phoenix_cli')\n"
        "assert not [k for k in os.environ if 'SHADOW' in k or 'TOKEN' in k]\n"
        "assert [k for k in os.environ if k.startswith('PHOENIX_')] == ['PHOENIX_TREE_ID']\n"
        "assert 'PYTHONPATH' not in os.environ\n"
        f"assert not os.path.exists({str(project.parent / 'secret-note')!r})\n"
        "import urllib.request\n"
        "try:\n"
        "    urllib.request.urlopen('http://127.0.0.1:9', timeout=2)\n"
        "except OSError as exc:\n"
        "    print('network:', exc)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PHOENIX_SHADOW": "1", "DISCORD_TOKEN": "t0ken-value"}
    env.pop("PYTHONPATH", None)
    result = await shadow(project, py(code), sandbox=PROBE, env=env)
    assert result.ok, result.output_tail
    assert "network:" in result.output_tail


@pytest.fixture
def runtime_dir() -> Iterator[Path]:
    """An $XDG_RUNTIME_DIR outside /tmp, so hiding it is not a side effect of the private /tmp."""
    base = "/var/tmp" if os.access("/var/tmp", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="phoenix-xdg-", dir=base))
    yield path
    shutil.rmtree(path)


DAEMON = r"""
import os, socket, sys, time
marker, *doors = sys.argv[1:]
if os.fork():
    time.sleep(1.0)
    sys.exit(0)  # the test command ends; its grandchild daemon lives on
os.setsid()
if os.fork():
    os._exit(0)
seen = [f"{d}={'visible' if os.path.exists(d) else 'missing'}" for d in doors]
print("daemon", *seen, flush=True)
deadline = time.time() + 30
while time.time() < deadline:
    for door in doors:
        if door.endswith(".sock") and os.path.exists(door):
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(door)
                s.sendall(b'{"type": "accept"}\n')
            except OSError:
                pass
    time.sleep(0.05)
"""


def markers(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if marker in " ".join(proc.info["cmdline"] or ()):
            found.append(proc)
    return found


def live_markers(marker: str) -> list[psutil.Process]:
    """The marked processes that still run (a zombie only waits for its parent to reap it)."""
    found = []
    for proc in markers(marker):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


@needs_bwrap
async def test_self_approving_daemon_sees_no_door_and_dies(
    project: Path, runtime_dir: Path
) -> None:
    """Finding 4: a daemon left by the shadow run read run.log and approved over engine.sock."""
    servers = []
    doors = [project / ".phoenix_cli" / "engine.sock", runtime_dir / "phoenix" / "engine.sock"]
    for door in doors:
        door.parent.mkdir(exist_ok=True)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(door))
        server.listen()
        server.setblocking(False)
        servers.append(server)
    marker = f"phoenix-daemon-{os.getpid()}-{time.monotonic_ns()}"
    log = project / ".phoenix_cli" / "run.log"
    cmd = " ".join([PY, "-c", shlex.quote(DAEMON), marker, *map(str, [*doors, log])])
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime_dir)}
    try:
        result = await shadow(project, cmd, sandbox=PROBE, env=env)
        assert result.ok, result.output_tail
        assert "daemon" in result.output_tail and "visible" not in result.output_tail
        await until(lambda: not markers(marker), 5, what="no marker left", interval=0.05)
        assert markers(marker) == []  # nothing outlives the sandbox
        for server in servers:
            with pytest.raises(BlockingIOError):
                server.accept()  # nobody ever knocked
    finally:
        for server in servers:
            server.close()
        for proc in markers(marker):
            proc.kill()


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandbox", "no-sandbox"])
async def test_cancelled_shadow_run_leaves_no_process_and_no_copy(
    project: Path, sandboxed: bool
) -> None:
    """SIGTERM during a slow test: the engine cancels the repair; the tree dies at once."""
    if sandboxed and not PROBE.usable:
        pytest.skip(f"bubblewrap cannot run here: {PROBE.detail}")
    marker = f"phoenix-slow-{os.getpid()}-{time.monotonic_ns()}"
    child = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{marker}']);"
        "time.sleep(120)"
    )
    tmp_root = project.parent / "shadows"
    tmp_root.mkdir()
    fix = Change(path="train.py", before=b"LR = 0.1\n", after=b"LR = 0.01\n")
    task = asyncio.ensure_future(
        validate(
            project,
            [fix],
            test_cmd=f"{py(child)} {marker}",
            timeout_s=300,
            allowlist=["*.py"],
            data_dir="data",
            tmp_root=tmp_root,
            sandbox=PROBE if sandboxed else None,
        )
    )
    await until(lambda: len(markers(marker)) >= 2, 60, what="two markers", interval=0.05)
    assert len(markers(marker)) >= 2  # the test command and its child are running
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 10
    await until(lambda: not live_markers(marker), 5, what="no live marker", interval=0.05)
    assert live_markers(marker) == []
    assert list(tmp_root.iterdir()) == []


async def test_without_sandbox_a_real_write_is_a_containment_breach(project: Path) -> None:
    """Finding 2 without bwrap: the write happens, but it is caught and the patch refused."""
    target = project / "data" / "train.csv"
    code = f"open({str(target)!r}, 'w').write('poisoned')"
    result = await shadow(project, py(code), sandbox=None)
    assert not result.ok and not result.sandboxed
    assert result.breach == ("data/train.csv",)
    assert result.reason.startswith("containment breach: the shadow run changed 1 real path")


async def test_without_sandbox_nothing_real_changed_is_no_breach(project: Path) -> None:
    result = await shadow(project, py("open('checkpoints/last.pt', 'wb').write(b'x')"))
    assert result.ok and result.breach == (), result.reason
    assert (project / "checkpoints" / "last.pt").stat().st_size == 5 * MB


@needs_bwrap
async def test_the_projects_venv_is_there_read_only(project: Path) -> None:
    """A test command like ``.venv/bin/python -m pytest``: the venv is left out of the copy,
    so the sandbox shows the real one at its place, read-only."""
    tool = project / ".venv" / "bin" / "hello"
    tool.parent.mkdir(parents=True)
    (project / ".venv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    tool.write_text(f'#!/bin/sh\necho hello from the venv\nexec {PY} "$@"\n')
    tool.chmod(0o755)
    (project / "env2").mkdir()
    (project / "env2" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    code = (
        "import os\n"
        "for path in ('.venv/pyvenv.cfg', 'env2/pyvenv.cfg', '.venv/bin/hello'):\n"
        "    try:\n"
        "        open(path, 'a').write('x')\n"
        "    except OSError as exc:\n"
        "        print('refused', path, exc.strerror)\n"
    )
    result = await shadow(project, f".venv/bin/hello -c {shlex.quote(code)}", sandbox=PROBE)
    assert result.ok, result.output_tail
    assert "hello from the venv" in result.output_tail
    assert result.output_tail.count("Read-only file system") == 3
    assert (project / ".venv" / "pyvenv.cfg").read_text() == "home = /usr/bin\n"


@needs_bwrap
async def test_timeout_in_the_sandbox_kills_everything_it_started(project: Path) -> None:
    marker = f"phoenix-timeout-{os.getpid()}-{time.monotonic_ns()}"
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"
    child = (
        "import subprocess, sys, time;"
        f"subprocess.Popen([sys.executable, '-c', {stubborn!r}, '{marker}'],"
        " start_new_session=True);"
        "time.sleep(120)"
    )
    started = time.monotonic()
    result = await shadow(project, f"{py(child)} {marker}", sandbox=PROBE, timeout_s=2)
    assert result.reason == "test command timed out after 2 s"
    assert time.monotonic() - started < 30
    await until(lambda: not markers(marker), 5, what="no marker left", interval=0.05)
    assert markers(marker) == []


def test_tools_in_the_private_tmp_are_shown_again_read_only(tmp_path: Path) -> None:
    """A venv made under /tmp (a fresh clone in /tmp: Phoenix's own) would vanish under the
    sandbox's empty /tmp: the test command's interpreter environment is bound back, read-only;
    nothing inside the project, and nothing outside the private folders, is bound."""
    venv = Path(tempfile.mkdtemp(prefix="phoenix-test-venv-"))
    try:
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (venv / "bin").mkdir()
        tool = venv / "bin" / "python"
        tool.write_text("#!/bin/sh\n")
        project = tmp_path / "proj"
        project.mkdir()
        from phoenix_engine.io.sandbox import tool_binds

        direct = tool_binds([str(tool), "-m", "pytest"], {}, project)
        shelled = tool_binds(["/bin/sh", "-c", f"V=1 {tool} check.py && true"], {}, project)
        real = Path(os.path.realpath(venv))
        assert (real, real) in direct and (real, real) in shelled
        assert all(not r.is_relative_to(Path(os.path.realpath(project))) for r, _ in direct)
        inside = tool_binds(["/bin/sh", "-c", ".venv/bin/python t.py"], {}, project)
        assert all(r != project for r, _ in inside)
        assert all(str(r).startswith(("/tmp/", "/dev/shm/")) for r, _ in direct + shelled)
    finally:
        shutil.rmtree(venv)


@needs_bwrap
async def test_a_test_command_from_a_venv_under_tmp_runs_in_the_sandbox(project: Path) -> None:
    venv = Path(tempfile.mkdtemp(prefix="phoenix-test-venv-"))
    try:
        (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
        (venv / "bin").mkdir()
        tool = venv / "bin" / "check"
        tool.write_text("#!/bin/sh\necho tool ran\n")
        tool.chmod(0o755)
        result = await shadow(project, f"{tool}", sandbox=PROBE)
        assert result.ok and "tool ran" in result.output_tail, result.output_tail
    finally:
        shutil.rmtree(venv)
