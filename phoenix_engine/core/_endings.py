"""Endings that need no class table: a hang, an exit code, a launch failure, a signal.

Pure helpers of :func:`phoenix_engine.core.classify.classify`; each returns a ``Classified``.
"""

from __future__ import annotations

__all__ = ["exit_code", "hung", "killed", "launch", "signal_number", "signalled"]

import re
from collections.abc import Sequence
from pathlib import Path
from signal import Signals, strsignal

from phoenix_engine.core._classified import LAST_LINE_CHARS, SUMMARY_CHARS, Classified
from phoenix_engine.core._normalise import clip, normalise, shape, signature_of
from phoenix_engine.core._traceback import faulthandler_frames, location
from phoenix_engine.core.triage import Action, FailureKind

_LAUNCH_TEXT = re.compile(
    r"^\S*python[\w.]*: (?:can't open file|can't find '__main__' module|No module named )"
    r"|^(?:\S*/)?(?:ba|da|z)?sh: (?:\d+: )?(?:line \d+: )?.+: "
    r"(?:not found|command not found|Permission denied|cannot execute.*|No such file or directory)$"
    r"|^(?:\S*/)?env: .+: No such file or directory$"
)
SIGKILL = 9
_EX_TEMPFAIL = 75  # sysexits: "try again later", what a trainer exits with to be requeued
_OUTSIDE_STOPS = frozenset({Signals.SIGINT, Signals.SIGTERM, Signals.SIGHUP})


def _last_line(lines: Sequence[str]) -> str:
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


def signal_number(returncode: int | None, signal: int | None, via_shell: bool) -> int | None:
    if signal:
        return signal
    if returncode is not None and returncode < 0:
        return -returncode
    # /bin/sh reports a child killed by signal N as exit status 128+N; 137 is a killed child
    # of a wrapper script even without our shell.
    if via_shell and returncode is not None and 128 < returncode <= 128 + 64:
        return returncode - 128
    return SIGKILL if returncode == 128 + SIGKILL else None


def hung(lines: Sequence[str]) -> Classified:
    last = _last_line(lines)
    tail = f"last line: {clip(last, LAST_LINE_CHARS)}" if last else "no output at all"
    return Classified(
        kind=FailureKind.HANG,
        signature=signature_of(FailureKind.HANG, "", "", shape(last)),
        summary=f"no output for the heartbeat period; {tail}",
        advice="the training went silent: Phoenix stopped it and asks for a fix",
    )


def exit_code(returncode: int | None, lines: Sequence[str]) -> Classified:
    last = _last_line(lines)
    head = "exited (status unknown)" if returncode is None else f"exited with code {returncode}"
    summary = f"{head}; last line: {last}" if last and returncode != 0 else head
    temporary = returncode == _EX_TEMPFAIL
    return Classified(
        kind=FailureKind.EXIT_CODE,
        signature=signature_of(FailureKind.EXIT_CODE, "", "", f"code {returncode} {shape(last)}"),
        summary=clip(summary, SUMMARY_CHARS),
        repairable=returncode != 0,  # a clean exit has nothing to repair
        action=Action.RESTART if temporary else Action.REPAIR,
        advice="the training asked to be run again later (exit 75): restarting"
        if temporary
        else "",
    )


def launch(returncode: int | None, lines: Sequence[str], via_shell: bool) -> Classified | None:
    line = _launch_line(lines)
    if line is None and not (via_shell and returncode in (126, 127)):
        return None
    what = "command not found" if returncode == 127 else "command not executable"
    text = line or f"{what} (the shell exited with {returncode})"
    return Classified(
        kind=FailureKind.LAUNCH,
        signature=signature_of(FailureKind.LAUNCH, "", "", normalise(text)),
        summary=clip(f"could not start: {text}", SUMMARY_CHARS),
        message=line or "",
        repairable=False,
        action=Action.STOP,
        advice="the training command cannot start: fix PHOENIX_TRAIN_CMD",
    )


def _launch_line(lines: Sequence[str]) -> str | None:
    # Only the last few lines: "sh: nvidia-smi: not found" early in a run is not a launch failure.
    recent = [line.strip() for line in lines if line.strip()][-3:]
    return next((line for line in reversed(recent) if _LAUNCH_TEXT.search(line)), None)


def killed(extra: str) -> Classified:
    summary = "killed by SIGKILL, most likely the kernel's out-of-memory killer (check dmesg)"
    return Classified(
        kind=FailureKind.HOST_OOM,
        signature=signature_of(FailureKind.HOST_OOM, "SIGKILL", "", ""),
        summary=clip(f"{summary}; {extra}" if extra else summary, SUMMARY_CHARS),
        action=Action.RESTART,
        advice="the machine ran out of RAM (killed by SIGKILL): restarting; if it comes back "
        "without progress Phoenix asks for a fix",
        cause="sigkill",
    )


def signalled(signum: int, lines: Sequence[str], project_dir: Path) -> Classified:
    name = _signal_name(signum)
    if signum == SIGKILL:
        return killed("")
    frames = faulthandler_frames(lines, project_dir)
    where_, line = location(frames)
    described = _describe_signal(signum)
    where = f" in {where_}, line {line}" if where_ else ""
    # Without a faulthandler dump the last line is the best clue (e.g. a C++ "what():").
    last = "" if frames else _last_line(lines)
    summary = f"died of signal {name}{described}{where}" + (f"; last line: {last}" if last else "")
    outside = signum in _OUTSIDE_STOPS
    return Classified(
        kind=FailureKind.SIGNAL,
        signature=signature_of(FailureKind.SIGNAL, name, where_, ""),
        summary=clip(summary, SUMMARY_CHARS),
        frames=frames,
        location=where_,
        line=line,
        repairable=not outside,
        action=Action.STOP if outside else Action.REPAIR,
        advice=f"stopped from outside ({name})" if outside else "",
    )


def _signal_name(signum: int) -> str:
    try:
        return Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


def _describe_signal(signum: int) -> str:
    try:
        text = strsignal(signum)
    except ValueError:
        return ""
    return f" ({text})" if text else ""
