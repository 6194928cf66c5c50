"""Shadow validation: try a proposal in a throwaway copy of the project before it touches disk.

Copy (:mod:`phoenix_engine.io.shadow_copy`) -> apply -> ``compile()`` every changed Python file
-> run PHOENIX_TEST_CMD there (:mod:`phoenix_engine.io.shadow_run`), inside the bubblewrap
sandbox when one is given (:mod:`phoenix_engine.io.sandbox`) -> verdict -> check that nothing
real changed (:mod:`phoenix_engine.io.containment`). The copy is always removed, also when the
run is cancelled (Phoenix got SIGTERM): then the test's whole tree is killed at once, the copy
removed, and the cancellation re-raised. No bytecode is written: ``compile()`` writes none,
the test runs with PYTHONDONTWRITEBYTECODE=1, and ``__pycache__`` is never copied.
"""

from __future__ import annotations

__all__ = ["CopyStats", "ShadowResult", "copy_project", "validate"]

import asyncio
import contextlib
import dataclasses
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.core.command_line import parse
from phoenix_engine.io import containment, scratch
from phoenix_engine.io import shadow_run as runner
from phoenix_engine.io.atomic import ChangeLike, inside
from phoenix_engine.io.sandbox import Layout, Probe, bwrap_argv, hidden_dirs, tool_binds
from phoenix_engine.io.shadow_copy import DEFAULT_BUDGET, CopyStats, Stopped, copy_project


@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowResult:
    ok: bool
    reason: str
    output_tail: str = ""
    shadow_dir: str = ""  # where the copy was (already removed)
    copied: int = 0
    linked: int = 0
    sandboxed: bool = False  # the test command ran inside bubblewrap
    breach: tuple[str, ...] = ()  # real paths the run changed: a containment breach
    note: str = ""  # what the copy left out


@dataclass(frozen=True, slots=True, kw_only=True)
class _Job:
    project_dir: Path
    shadow: Path
    changes: Sequence[ChangeLike]
    allowlist: Sequence[str]
    data_dir: str
    big_file_bytes: int
    sandboxed: bool
    budget_bytes: int
    binds: tuple[tuple[str, str], ...] = ()  # from the copy: (real, relative), read-only


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


def _prepare(job: _Job, stop: threading.Event) -> tuple[CopyStats, str]:
    try:
        stats = copy_project(
            job.project_dir,
            job.shadow,
            allowlist=job.allowlist,
            data_dir=job.data_dir,
            big_file_bytes=job.big_file_bytes,
            sandboxed=job.sandboxed,
            budget_bytes=job.budget_bytes,
            stop=stop,
        )
    except Stopped:
        return CopyStats(), "phoenix is stopping"
    except OSError as exc:
        return CopyStats(), f"could not copy the project into the shadow: {exc}"
    return stats, _apply_and_compile(job.shadow, job.changes)


def _rmtree(path: Path) -> None:
    def retry(func: Callable[[str], object], name: str, _exc: object) -> None:
        with contextlib.suppress(OSError):  # a test left a read-only directory behind
            os.chmod(os.path.dirname(name), 0o700)
            func(name)

    shutil.rmtree(path, onerror=retry)


def _note(stats: CopyStats) -> str:
    if not stats.left_out:
        return ""
    shown = ", ".join(stats.left_out[:5]) + (", ..." if len(stats.left_out) > 5 else "")
    return (
        f"{len(stats.left_out)} large file(s) left out of the shadow copy (no sandbox, over the "
        f"copy budget; a link would let the test write the real file): {shown}"
    )


async def _prepared(job: _Job) -> tuple[CopyStats, str]:
    """Copy in a thread; on cancellation stop it, wait for it, then re-raise."""
    stop = threading.Event()
    work = asyncio.ensure_future(asyncio.to_thread(_prepare, job, stop))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()  # checked per directory: the thread ends soon, then the copy is removed
        with contextlib.suppress(BaseException):
            await work
        raise


def _watched(project_dir: Path, data_dir: str) -> list[Path]:
    roots = [project_dir, *containment.phoenix_roots()]
    if data_dir.strip():
        data = (project_dir / data_dir).resolve()
        if not data.is_relative_to(project_dir.resolve()):
            roots.append(data)
    return roots


async def _test(
    job: _Job, test_cmd: str, timeout_s: float, env: Mapping[str, str], sandbox: Probe | None
) -> tuple[runner.Run, tuple[str, ...]]:
    """Run the command (sandboxed when given); also the real paths the run changed."""
    project = job.project_dir.resolve()
    state = project / ".phoenix_cli"
    argv: Sequence[str] = parse(test_cmd).argv  # the one shell rule, as for the training
    cwd = job.shadow
    if sandbox is not None:
        binds = tuple((Path(real), project / rel) for real, rel in job.binds)
        binds += tool_binds(argv, env, project)
        layout = Layout(
            project=project, shadow=job.shadow, ro_binds=binds, hide=hidden_dirs(env, state)
        )
        argv = bwrap_argv(sandbox.bwrap, layout, argv, cwd=project)
    roots = _watched(project, job.data_dir)
    before = await asyncio.to_thread(containment.take, roots, state_dir=state)
    test_env = runner.test_env(env, job.shadow, sandboxed=sandbox is not None)
    run = await runner.run(argv, cwd, test_env, timeout_s)
    after = await asyncio.to_thread(containment.take, roots, state_dir=state)
    return run, containment.changed(before, after, relative_to=project)


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
    sandbox: Probe | None = None,
    budget_bytes: int = DEFAULT_BUDGET,
) -> ShadowResult:
    """Copy, apply, compile and test ``changes``; the verdict has a reason and the output tail.

    ``sandbox``: a usable bwrap probe to run the test command in; None runs it unconfined.
    """
    base = Path(tempfile.mkdtemp(prefix=scratch.prefix("shadow"), dir=tmp_root))
    shadow = base / (project_dir.resolve().name or "project")
    job = _Job(
        project_dir=project_dir,
        shadow=shadow,
        changes=changes,
        allowlist=allowlist,
        data_dir=data_dir,
        big_file_bytes=big_file_bytes,
        sandboxed=sandbox is not None,
        budget_bytes=budget_bytes,
    )
    try:
        return await _validate(job, test_cmd, timeout_s, env or os.environ, sandbox)
    except asyncio.CancelledError:
        _rmtree(base)  # at once, before the loop goes away: Phoenix is stopping
        raise
    finally:
        if base.exists():
            await asyncio.to_thread(_rmtree, base)


async def _validate(
    job: _Job, test_cmd: str, timeout_s: float, env: Mapping[str, str], sandbox: Probe | None
) -> ShadowResult:
    stats, reason = await _prepared(job)
    note = _note(stats)

    def result(ok: bool, reason: str, tail: str = "", breach: tuple[str, ...] = ()) -> ShadowResult:
        return ShadowResult(
            ok=ok,
            reason=reason,
            output_tail=tail,
            shadow_dir=str(job.shadow),
            copied=stats.copied,
            linked=stats.linked,
            sandboxed=sandbox is not None,
            breach=breach,
            note=note,
        )

    if reason:
        return result(False, reason)
    if not test_cmd.strip():
        py = sum(c.path.endswith(".py") for c in job.changes)
        return result(True, f"compiled {py} changed Python file(s); no test command")
    job = dataclasses.replace(job, binds=stats.binds)
    run, breach = await _test(job, test_cmd, timeout_s, env, sandbox)
    tail = runner.tail(run.output)
    if breach:
        shown = ", ".join(breach[:5]) + (", ..." if len(breach) > 5 else "")
        why = f"containment breach: the shadow run changed {len(breach)} real path(s): {shown}"
        return result(False, why, tail, breach)
    reason = runner.verdict(run, timeout_s, test_cmd)
    return result(not reason, reason or "test command passed", tail)
