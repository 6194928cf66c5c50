"""Running the test command in the shadow copy, and the gate that reads its verdict.

The command runs by :func:`~phoenix_engine.io.run_once.run_to_completion` (its own session,
inside bwrap when the sandbox is used), with a timeout; on timeout, and on cancellation
(Phoenix is stopping), its whole tree is killed at once (under bwrap the PID namespace dies
with it). The environment is the user's without ``PHOENIX_*`` settings (only
the mark is added) and without secrets (variables named like KEY/TOKEN/SECRET/PASSWORD): the
code under test cannot tell it is being judged, and holds no key to leak.

The gate: exit 0, and for a pytest command a summary line with at least one passed test
(exit 0 without a summary is a failure; so is "all skipped").
"""

from __future__ import annotations

__all__ = ["Run", "run", "tail", "test_env", "verdict"]

import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.core.lines import strip_control
from phoenix_engine.core.redact import SECRET_NAME
from phoenix_engine.io.run_once import run_to_completion
from phoenix_engine.io.supervisor import SpawnError

_SUMMARY = re.compile(r"^[=\s]*((?:\d+ \w+(?:, )?)+) in \d[\d.]*s", re.MULTILINE)
_PYTEST = re.compile(r"(?:^|[\s/;&|(])(?:py\.test|pytest)(?:$|[\s;&|)])")
_KEEP_BYTES = 256 * 1024  # of output, for the verdict and the tail


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    rc: int | None  # None: timed out
    output: str
    error: str = ""  # the command could not be started


def test_env(env: Mapping[str, str], shadow: Path, *, sandboxed: bool) -> dict[str, str]:
    """The test's environment: no PHOENIX_* (no ``PHOENIX_SHADOW``), no secrets."""
    result = {
        k: v for k, v in env.items() if not k.startswith("PHOENIX_") and not SECRET_NAME.search(k)
    }
    result["PYTHONDONTWRITEBYTECODE"] = "1"
    if sandboxed:  # the copy sits at the project's own path: nothing to redirect
        result["TMPDIR"] = "/tmp"  # the only writable place besides the copy
        return result
    # No sandbox: the copy lives elsewhere, so its code must win over an editable install of
    # the real project. The table in phoenix_engine.core.refused keeps test-runner names out of it.
    roots = [str(shadow)] + ([str(shadow / "src")] if (shadow / "src").is_dir() else [])
    if result.get("PYTHONPATH"):
        roots.append(result["PYTHONPATH"])
    result["PYTHONPATH"] = os.pathsep.join(roots)
    return result


async def run(argv: Sequence[str], cwd: Path, env: Mapping[str, str], timeout_s: float) -> Run:
    """The test command's exit and its last output (stdout and stderr as one, ANSI stripped)."""
    try:
        done = await run_to_completion(
            argv,
            cwd=cwd,
            env=env,
            timeout_s=timeout_s,
            max_stdout=_KEEP_BYTES,
            keep_tail=True,
            merge_stderr=True,
        )
    except SpawnError as exc:
        return Run(rc=None, output="", error=f"could not start the test command: {exc.reason}")
    text = done.stdout.decode("utf-8", "replace")
    return Run(rc=done.returncode, output=strip_control(text, keep_controls=True))


def verdict(run: Run, timeout_s: float, cmd: str) -> str:
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
    if _PYTEST.search(cmd) and not counts.get("passed"):
        if not summaries:
            return "pytest printed no summary line, so no test is known to have passed (-qq?)"
        return "pytest reported no passed test"
    return ""


def tail(text: str, lines: int = 60, chars: int = 6000) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])[-chars:]
