"""The bubblewrap sandbox the shadow run's test command runs in: the argv, and whether it works.

Inside, the whole filesystem is read-only, with private ``/tmp``, ``/dev/shm`` and ``/run`` (the
socket directories: ``$XDG_RUNTIME_DIR``, D-Bus, Docker), a fresh ``/dev`` and ``/proc``; the
shadow copy is bound read-write *at the real project's path*, so absolute paths and
``Path(__file__)`` behave as in the real run and nothing real is writable; the real
``.phoenix_cli/`` is not there (the copy has none) and Phoenix's other directories are covered.
No network, its own PID, IPC and UTS namespaces, no capabilities (bwrap run by root keeps them
all otherwise, and could remount ``/`` read-write), a new session (no TIOCSTI into Phoenix's
terminal); when bwrap dies everything in it dies (``--die-with-parent``, PID 1 of the namespace).

What is shown where (:class:`Layout`, the covered directories, the interpreter environments
bound back) is :mod:`phoenix_engine.io._sandbox_layout`'s, re-exported here.

:func:`probe` runs bwrap once with the same options; when it cannot (not installed, user
namespaces disabled), it says why and what to change.
"""

from __future__ import annotations

__all__ = [
    "INSTALL",
    "Chooser",
    "Layout",
    "Probe",
    "bwrap_argv",
    "hidden_dirs",
    "probe",
    "tool_binds",
    "userns_hint",
]

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.io._sandbox_layout import Layout, hidden_dirs, tool_binds

INSTALL = "apt-get install bubblewrap (Debian/Ubuntu; dnf/pacman install bubblewrap elsewhere)"

_BASE = (
    "--die-with-parent",
    "--new-session",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--cap-drop",
    "ALL",
    "--ro-bind",
    "/",
    "/",
    "--dev",
    "/dev",
    "--proc",
    "/proc",
    "--tmpfs",
    "/tmp",
    "--tmpfs",
    "/dev/shm",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    usable: bool
    bwrap: str = ""  # the executable found
    detail: str = ""  # why it cannot be used, and what to change


def bwrap_argv(bwrap: str, layout: Layout, command: Sequence[str], *, cwd: Path) -> list[str]:
    """The full command line: bwrap, its options, ``--``, the test command."""
    argv = [bwrap, *_BASE]
    project = layout.project
    for path in layout.hide:
        if not path.is_relative_to(project):  # under the project, the shadow's bind covers it
            argv += ["--tmpfs", str(path)]
    argv += ["--bind", str(layout.shadow), str(project)]
    for real, where in layout.ro_binds:
        argv += ["--ro-bind", str(real), str(where)]
    argv += ["--chdir", str(cwd), "--", *command]
    return argv


def userns_hint(sysctl: Mapping[str, str]) -> str:
    """What to change when user namespaces are off (``sysctl`` name -> current value)."""
    if sysctl.get("kernel.apparmor_restrict_unprivileged_userns") == "1":
        return (
            "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+): allow bwrap "
            "with an AppArmor profile (/etc/apparmor.d/bwrap with 'userns,'), or run "
            "`sysctl kernel.apparmor_restrict_unprivileged_userns=0`"
        )
    if sysctl.get("kernel.unprivileged_userns_clone") == "0":
        return "user namespaces are disabled: `sysctl kernel.unprivileged_userns_clone=1`"
    if sysctl.get("user.max_user_namespaces") == "0":
        return "user namespaces are disabled: `sysctl user.max_user_namespaces=15000`"
    return "user namespaces may be disabled in this container or by a security policy"


def _sysctls() -> dict[str, str]:
    out = {}
    for name in (
        "kernel.apparmor_restrict_unprivileged_userns",
        "kernel.unprivileged_userns_clone",
        "user.max_user_namespaces",
    ):
        try:
            out[name] = Path("/proc/sys", *name.split(".")).read_text().strip()
        except OSError:
            continue
    return out


Runner = Callable[[list[str]], tuple[int, str]]


def _run(argv: list[str]) -> tuple[int, str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 127, str(exc)
    return done.returncode, (done.stderr or done.stdout).strip()


def probe(
    env: Mapping[str, str],
    *,
    runner: Runner = _run,
    sysctl: Callable[[], Mapping[str, str]] = _sysctls,
) -> Probe:
    """Whether bwrap runs here with the sandbox's options (blocking: call it in a thread)."""
    bwrap = shutil.which("bwrap", path=env.get("PATH", os.defpath))
    if bwrap is None:
        return Probe(usable=False, detail=f"bwrap (bubblewrap) is not installed: {INSTALL}")
    layout = Layout(  # the same mounts a shadow run makes
        project=Path("/tmp/phoenix-probe"),
        shadow=Path(tempfile.gettempdir()),
        hide=hidden_dirs(env, Path("/nonexistent")),
    )
    rc, said = runner(bwrap_argv(bwrap, layout, ["/bin/sh", "-c", "exit 0"], cwd=Path("/")))
    if rc == 0:
        return Probe(usable=True, bwrap=bwrap)
    said = said.splitlines()[-1] if said else f"exit code {rc}"
    lowered = said.lower()
    if "namespace" in lowered or "permission" in lowered or "uid map" in lowered:
        said += "; " + userns_hint(sysctl())
    return Probe(usable=False, bwrap=bwrap, detail=f"{bwrap} cannot run here: {said}")


class Chooser:
    """PHOENIX_SANDBOX applied: probes once per run, says once when the shadow is unconfined."""

    def __init__(self, mode: str, env: Mapping[str, str], emit: Callable[[ev.Event], None]):
        self.mode, self._env, self._emit = mode, env, emit
        self._probe: Probe | None = None

    @property
    def detail(self) -> str:
        return f"the sandbox cannot run ({self._probe.detail})" if self._probe else ""

    async def choose(self) -> Probe | None:
        """The sandbox to run the test command in; None: unconfined (``off``, or none here)."""
        if self.mode == "off":
            return None
        if self._probe is None:
            self._probe = await asyncio.to_thread(probe, self._env)
            if not self._probe.usable:
                self._emit(ev.Notice(message=self._unconfined(self._probe)))
        return self._probe if self._probe.usable else None

    def _unconfined(self, found: Probe) -> str:
        if self.mode == "require":
            return (
                f"PHOENIX_SANDBOX=require, but the sandbox cannot run: {found.detail}. Every "
                "patch that needs the test command is refused until it can."
            )
        return (
            f"the shadow run is not sandboxed: {found.detail}. Model-written code runs with "
            "your rights; Phoenix can only check afterwards that no real file changed. "
            f"Install bubblewrap ({INSTALL}), or set PHOENIX_SANDBOX=require to refuse instead."
        )
