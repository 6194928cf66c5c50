"""Shadow validation: try a proposal in a throwaway copy of the project before it touches disk.

Copy -> apply -> ``compile()`` every changed Python file -> run PHOENIX_TEST_CMD there with a
timeout, in its own session -> verdict; the copy is always removed. The copy walks with
``os.scandir`` and never reads a big file: ``.git``, ``.phoenix_cli``, caches and virtualenvs are
left out (a venv the test needs is found through PATH or an absolute python anyway), while the
data dir and every file over ``big_file_bytes`` that the allowlist does not cover are symlinked,
so code that reads them still works. Trade-off: a symlink cannot be made read-only, so a test
that *writes* through one changes the real file; making the copy instead would cost gigabytes
and minutes per attempt. No bytecode is written: ``compile()`` writes none, the test runs with
PYTHONDONTWRITEBYTECODE=1, and ``__pycache__`` is never copied.
"""

from __future__ import annotations

__all__ = ["CopyStats", "ShadowResult", "copy_project", "validate"]

import asyncio
import contextlib
import fnmatch
import os
import re
import shlex
import shutil
import signal
import tempfile
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from phoenix_engine import proctree
from phoenix_engine.atomic import ChangeLike, inside

SKIP_DIRS = frozenset(
    {".phoenix_cli", ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules"}
    | {".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class CopyStats:
    copied: int = 0  # files copied
    linked: int = 0  # the data dir and big files, symlinked to the real ones
    skipped: int = 0  # directories left out, special files
    bytes_copied: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowResult:
    ok: bool
    reason: str
    output_tail: str = ""
    shadow_dir: str = ""  # where the copy was (already removed)
    copied: int = 0
    linked: int = 0


def _data_rel(project_dir: Path, data_dir: str) -> str | None:
    if not data_dir.strip():
        return None
    path = Path(data_dir)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(project_dir.resolve())
        except ValueError:
            return None  # outside the project: the copy never meets it
    return path.as_posix().strip("/") or None


def _link_target(entry: os.DirEntry[str], root: str) -> str:
    """Point a link into the copy when it targets copied source; else at the real target."""
    real = os.path.normpath(os.path.join(os.path.dirname(entry.path), os.readlink(entry.path)))
    rel = os.path.relpath(real, root)
    if rel.startswith("..") or rel.split(os.sep)[0] in SKIP_DIRS:
        return real
    return os.path.relpath(real, os.path.dirname(entry.path))


def copy_project(
    project_dir: Path, dest: Path, *, allowlist: Sequence[str], data_dir: str, big_file_bytes: int
) -> CopyStats:
    """Copy the project's source into ``dest`` (created), linking what is big; never read it."""
    root = os.path.abspath(project_dir)
    data_rel = _data_rel(project_dir, data_dir)
    counts = {"copied": 0, "linked": 0, "skipped": 0, "bytes_copied": 0}
    os.makedirs(dest, exist_ok=True)
    stack = [(root, str(dest), "")]
    while stack:
        src_dir, dst_dir, prefix = stack.pop()
        with os.scandir(src_dir) as entries:
            for entry in entries:
                rel, dst = prefix + entry.name, os.path.join(dst_dir, entry.name)
                if entry.is_symlink():
                    os.symlink(_link_target(entry, root), dst)
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIP_DIRS or entry.name.startswith("phoenix-shadow-"):
                        counts["skipped"] += 1
                    elif rel == data_rel:
                        os.symlink(entry.path, dst)
                        counts["linked"] += 1
                    else:
                        os.mkdir(dst)
                        stack.append((entry.path, dst, rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    _copy_file(entry, dst, rel, allowlist, big_file_bytes, data_rel, counts)
                else:
                    counts["skipped"] += 1  # sockets, fifos, devices
    return CopyStats(**counts)


def _copy_file(
    entry: os.DirEntry[str],
    dst: str,
    rel: str,
    allowlist: Sequence[str],
    big_file_bytes: int,
    data_rel: str | None,
    counts: dict[str, int],
) -> None:
    st = entry.stat(follow_symlinks=False)
    big = st.st_size > big_file_bytes and not any(
        fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(entry.name, p) for p in allowlist
    )
    if big or rel == data_rel:
        os.symlink(entry.path, dst)
        counts["linked"] += 1
        return
    shutil.copyfile(entry.path, dst)  # sendfile(2) on Linux: no Python-level buffer copies
    os.chmod(dst, st.st_mode & 0o7777)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    counts["copied"] += 1
    counts["bytes_copied"] += st.st_size


def _apply_and_compile(shadow: Path, changes: Sequence[ChangeLike]) -> str:
    """Write the changes into the copy and compile the Python ones; return a reason or ''."""
    for change in changes:
        try:
            target = inside(shadow, change.path)  # refuses writing through a link to the real
        except ValueError as exc:
            return f"cannot apply {change.path} in the shadow copy: {exc}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(change.after)
        if change.mode is not None:
            os.chmod(target, change.mode & 0o7777)
    for change in changes:
        if not change.path.endswith(".py"):
            continue
        try:
            with warnings.catch_warnings():  # a SyntaxWarning must not reach the terminal
                warnings.simplefilter("ignore")
                compile(change.after, change.path, "exec", dont_inherit=True)
        except SyntaxError as exc:
            return f"{change.path}:{exc.lineno}: {type(exc).__name__}: {exc.msg}"
        except ValueError as exc:  # null bytes
            return f"{change.path}: {exc}"
    return ""


def _prepare(
    project_dir: Path,
    shadow: Path,
    changes: Sequence[ChangeLike],
    allowlist: Sequence[str],
    data_dir: str,
    big_file_bytes: int,
) -> tuple[CopyStats, str]:
    try:
        stats = copy_project(
            project_dir,
            shadow,
            allowlist=allowlist,
            data_dir=data_dir,
            big_file_bytes=big_file_bytes,
        )
    except OSError as exc:
        return CopyStats(), f"could not copy the project into the shadow: {exc}"
    return stats, _apply_and_compile(shadow, changes)


def _rmtree(path: Path) -> None:
    def retry(func: Callable[[str], object], name: str, _exc: object) -> None:
        with contextlib.suppress(OSError):  # a test left a read-only directory behind
            os.chmod(os.path.dirname(name), 0o700)
            func(name)

    shutil.rmtree(path, onerror=retry)


def _test_env(shadow: Path, env: Mapping[str, str] | None) -> dict[str, str]:
    result = dict(os.environ if env is None else env)
    # The shadow's code must win over an editable install of the real project.
    roots = [str(shadow)] + ([str(shadow / "src")] if (shadow / "src").is_dir() else [])
    if result.get("PYTHONPATH"):
        roots.append(result["PYTHONPATH"])
    result |= {"PYTHONPATH": os.pathsep.join(roots), "PYTHONDONTWRITEBYTECODE": "1"}
    return result | {"PHOENIX_SHADOW": "1"}


_SHELL = re.compile(r"[|&;<>()$`*?\[\]{}~!\n]|^\s*\w+=")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_SUMMARY = re.compile(r"^[=\s]*((?:\d+ \w+(?:, )?)+) in \d[\d.]*s", re.MULTILINE)
_KEEP_BYTES = 256 * 1024  # of output, for the verdict and the tail


@dataclass(frozen=True, slots=True, kw_only=True)
class _Run:
    rc: int | None  # None: timed out
    output: str
    error: str = ""  # the command could not be started


def _kill_tree(pid: int, also: Sequence[psutil.Process] = ()) -> None:
    """SIGKILL the session's group, then descendants that left it (setsid grandchildren)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    for proc in also:
        with contextlib.suppress(psutil.Error):
            proc.kill()


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


async def _pump(stream: asyncio.StreamReader, buf: bytearray) -> None:
    while chunk := await stream.read(65536):
        buf += chunk
        if len(buf) > 2 * _KEEP_BYTES:
            del buf[:-_KEEP_BYTES]


async def _wait_exit(
    proc: asyncio.subprocess.Process, timeout_s: float, seen: dict[int, psutil.Process]
) -> int | None:
    """The exit code, or None on timeout; notes descendants on the way so setsid ones die too.

    Polls ``returncode``: on 3.11 ``Process.wait()`` also waits for the pipes to close, which a
    background grandchild holding stdout would delay until the timeout.
    """
    loop = asyncio.get_running_loop()
    deadline, next_scan = loop.time() + timeout_s, 0.0
    while proc.returncode is None:
        now = loop.time()
        if now >= next_scan:
            seen.update((p.pid, p) for p in _descendants(proc.pid))
            next_scan = now + 0.5
        if now >= deadline:
            return None
        await asyncio.sleep(min(0.05, deadline - now))
    return proc.returncode


async def _run(cmd: str, cwd: Path, env: Mapping[str, str], timeout_s: float) -> _Run:
    argv = ["/bin/sh", "-c", cmd] if _SHELL.search(cmd) else shlex.split(cmd)
    mark = proctree.new_mark()  # finds what the test leaves, even double-forked
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**env, proctree.MARK_ENV: mark},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return _Run(rc=None, output="", error=f"could not start the test command: {exc}")
    assert proc.stdout is not None
    proctree.spawned(proc.pid)
    buf, seen = bytearray(), dict[int, psutil.Process]()
    reader = asyncio.create_task(_pump(proc.stdout, buf))
    rc: int | None = None
    try:
        rc = await _wait_exit(proc, timeout_s, seen)
    finally:  # also on cancellation: nothing the test started may outlive it
        _kill_tree(proc.pid, [*seen.values(), *_descendants(proc.pid)])
        proctree.kill_all(proctree.marked(mark))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)
        proctree.waited(proc.pid)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reader, 2.0)
    text = _ANSI.sub("", bytes(buf[-_KEEP_BYTES:]).decode("utf-8", "replace"))
    return _Run(rc=rc, output=text)


def _verdict(run: _Run, timeout_s: float) -> str:
    """Why the test run failed, or '' when it passed."""
    if run.error:
        return run.error
    if run.rc is None:
        return f"test command timed out after {timeout_s:g} s"
    if run.rc == 5:
        return "pytest collected no tests (exit code 5)"
    if run.rc < 0:
        return f"test command was killed by {signal.Signals(-run.rc).name}"
    if run.rc != 0:
        return f"test command failed with exit code {run.rc}"
    summaries = _SUMMARY.findall(run.output)
    counts = (
        {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summaries[-1])} if summaries else {}
    )
    if counts.get("skipped") and not counts.get("passed"):
        return "all tests were skipped"
    return ""


def _tail(text: str, lines: int = 60, chars: int = 6000) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])[-chars:]


async def validate(
    project_dir: Path,
    changes: Sequence[ChangeLike],
    *,
    test_cmd: str,
    timeout_s: float,
    allowlist: Sequence[str],
    data_dir: str,
    env: Mapping[str, str] | None = None,
    big_file_bytes: int = 4 * 1024 * 1024,
    tmp_root: Path | None = None,
) -> ShadowResult:
    """Copy, apply, compile and test ``changes``; the verdict has a reason and the output tail."""
    base = Path(tempfile.mkdtemp(prefix="phoenix-shadow-", dir=tmp_root))
    shadow = base / (project_dir.resolve().name or "project")
    try:
        args = (project_dir, shadow, changes, allowlist, data_dir, big_file_bytes)
        stats, reason = await asyncio.to_thread(_prepare, *args)

        def result(ok: bool, reason: str, tail: str = "") -> ShadowResult:
            return ShadowResult(
                ok=ok,
                reason=reason,
                output_tail=tail,
                shadow_dir=str(shadow),
                copied=stats.copied,
                linked=stats.linked,
            )

        if reason:
            return result(False, reason)
        if not test_cmd.strip():
            py = sum(c.path.endswith(".py") for c in changes)
            return result(True, f"compiled {py} changed Python file(s); no test command")
        run = await _run(test_cmd, shadow, _test_env(shadow, env), timeout_s)
        reason = _verdict(run, timeout_s)
        return result(not reason, reason or "test command passed", _tail(run.output))
    finally:
        await asyncio.to_thread(_rmtree, base)
