"""Classify how a training process ended and hash a signature that is stable across runs.

``classify`` is a pure function of the exit status and the tail of the output (no file system
access). In order: a hang (from the lines before Phoenix's SIGINT), a clean exit, a launch
failure; then the root cause's text against the class table in :mod:`phoenix_engine.core.triage`
(most specific row wins); then a Python traceback (``exception``), a signal, a plain exit code.
Under torchrun the root cause is the rank named by the "Root Cause" block; a rank's secondary
error ("Connection closed by peer" after another rank crashed) gives way to a rank's own error.

The signature is the first 16 hex chars of ``sha256("kind|exc_type|location|message")``:
the message normalised (numbers, paths, addresses, hashes removed), or for a table row its
cause (a full disk at the same place is the same failure whatever the path). Line numbers never
enter a signature. Choices worth knowing:
- ``returncode == 0`` without a signal or hang is a clean exit: ``EXIT_CODE``, "exited with code
  0", ``repairable=False``, even when the tail holds a traceback (it was caught and logged).
- ``KeyboardInterrupt`` and SIGINT/SIGTERM/SIGHUP are stops from outside: ``action=stop``.
- An ``ImportError`` for a module of the project itself (``local_modules``) is a code bug.
"""

from __future__ import annotations

__all__ = ["Action", "Classified", "FailureKind", "Frame", "classify", "normalise"]

from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

from phoenix_engine.core._classified import LAST_LINE_CHARS, SUMMARY_CHARS, Classified
from phoenix_engine.core._endings import (
    SIGKILL,
    exit_code,
    hung,
    killed,
    launch,
    signal_number,
    signalled,
)
from phoenix_engine.core._normalise import clip, normalise, signature_of
from phoenix_engine.core._rootcause import before_interrupt, memory_holders, root_cause
from phoenix_engine.core._traceback import (
    Frame,
    Ranked,
    Traceback,
    last_traceback,
    location,
    strip_prefix,
    tracebacks,
)
from phoenix_engine.core._triage_match import Found, advice_for, match
from phoenix_engine.core.triage import Action, FailureKind

_SECONDARY = (FailureKind.COLLECTIVE_TIMEOUT,)
_WRAPPERS = frozenset({"ChildFailedError", "CalledProcessError"})
# Table rows a code change may fix (a smaller batch, a fixed index); the others never get a patch.
_CODE_CAN_HELP = frozenset({FailureKind.OOM, FailureKind.HOST_OOM, FailureKind.DEVICE_ASSERT})
_NOT_PRIMARY = _WRAPPERS | {"KeyboardInterrupt", "SignalException"}


def classify(
    *,
    returncode: int | None,
    signal: int | None,
    tail: Sequence[str],
    project_dir: Path,
    hang: bool = False,
    via_shell: bool = False,
    local_modules: Collection[str] = (),
) -> Classified:
    """Say how the process ended; see the module docstring for the order of the rules."""
    ranked = [strip_prefix(line) for line in tail]
    lines = [text for _, text in ranked]
    if hang:
        return hung(before_interrupt(lines))
    signum = signal_number(returncode, signal, via_shell)
    if returncode == 0 and signum is None:
        return exit_code(0, lines)
    unstarted = launch(returncode, lines, via_shell)
    if unstarted is not None:
        return unstarted
    root = root_cause(lines)
    if root is not None and root.signal is not None and signum is None:
        signum = root.signal  # torchrun exits 1; the rank it names died of a signal
    chosen = ranked
    if root is not None and root.rank is not None and any(r == root.rank for r, _ in ranked):
        chosen = [(r, t) for r, t in ranked if r is None or r == root.rank]
    result = _from_text(chosen, project_dir, signum, local_modules)
    if result is not None and result.kind in _SECONDARY:
        if signum == SIGKILL:  # a rank was killed (OOM killer); the others lost their peer
            return killed(result.summary)
        several = root is not None or any(r is not None for r, _ in ranked)
        result = (several and _primary(ranked, project_dir, local_modules)) or result
    if result is not None:
        return result
    if signum is not None:
        return signalled(signum, lines, project_dir)
    return exit_code(returncode, lines)


def _from_text(
    ranked: Sequence[Ranked], project_dir: Path, signum: int | None, local: Collection[str]
) -> Classified | None:
    """A table row over the last traceback and what follows it, else that traceback."""
    tb = last_traceback(ranked, project_dir)
    if tb is not None and signum is not None and _name(tb) in _WRAPPERS:
        tb = None  # torchrun's own traceback; the rank it names died of a signal
    window = ranked[tb.start :] if tb is not None else ranked
    before = "\n".join(text for _, text in ranked[: tb.start]) if tb is not None else ""
    found = _usable(match("\n".join(text for _, text in window), before), local)
    # A rank that exited on its own traceback: that is its error, the timeout came after it.
    # (A watchdog's abort, a signal, means the traceback before it was not what ended it.)
    if found is not None and found.rule.kind in _SECONDARY and tb is not None and not signum:
        own = _usable(match(f"{tb.exc_type}: {tb.message}"), local)
        if own is None or own.rule.kind not in _SECONDARY:
            found = own
    if found is not None:
        if found.rule.kind is FailureKind.HOST_OOM and signum == SIGKILL and tb is None:
            return killed("")
        if tb is not None and signum and not found.rule.pattern.search(_head(tb)):
            tb = None  # a signal ended it after the traceback: the evidence is what followed
        return _from_row(found, tb, window)
    if tb is not None:
        return _from_traceback(tb)
    return None


def _primary(
    ranked: Sequence[Ranked], project_dir: Path, local: Collection[str]
) -> Classified | None:
    """A traceback of some rank (several processes printed) that is not itself a secondary
    error, the earliest first."""
    for tb in tracebacks(ranked, project_dir):
        if _name(tb) in _NOT_PRIMARY:
            continue
        found = _usable(match(f"{tb.exc_type}: {tb.message}"), local)
        if found is None:
            return _from_traceback(tb)
        if found is not None and found.rule.kind not in _SECONDARY:
            return _from_row(found, tb, [(tb.rank, f"{tb.exc_type}: {tb.message}")])
    return None


def _head(tb: Traceback) -> str:
    return f"{tb.exc_type}: {tb.message}"


def _name(tb: Traceback) -> str:
    return tb.exc_type.rsplit(".", 1)[-1]


def _usable(found: Found | None, local: Collection[str]) -> Found | None:
    """A missing module of the project itself is a bug in the code, not the environment."""
    if found is None or found.rule.cause != "module":
        return found
    return None if found.detail.split(".")[0] in local else found


def _from_row(found: Found, tb: Traceback | None, window: Sequence[Ranked]) -> Classified:
    rule = found.rule
    text = "\n".join(t for _, t in window)
    holders, capacity = memory_holders(text) if rule.kind is FailureKind.OOM else ((), None)
    sig_message = rule.cause if rule.cause != "module" else f"module {found.detail}"
    if tb is not None:
        base = _from_traceback(tb, rule.kind, sig_message)
        if not rule.pattern.search(base.summary):  # the evidence is in another line
            evidence = found.text if len(found.text) <= LAST_LINE_CHARS else found.detail
            base = replace(base, summary=clip(f"{evidence} — {base.summary}", SUMMARY_CHARS))
    else:
        base = Classified(
            kind=rule.kind,
            signature=signature_of(rule.kind, "", "", sig_message),
            summary=clip(found.text.removeprefix("what():").strip(), SUMMARY_CHARS),
            message=found.text,
        )
    return replace(
        base,
        action=rule.action,
        advice=advice_for(found),
        cause=rule.cause,
        detail=found.detail,
        holders=holders,
        capacity_gib=capacity,
        repairable=rule.kind in _CODE_CAN_HELP,
    )


def _from_traceback(
    tb: Traceback, kind: FailureKind = FailureKind.EXCEPTION, sig_message: str | None = None
) -> Classified:
    where_, line = location(tb.frames)
    head = f"{tb.exc_type}: {tb.message}" if tb.message else tb.exc_type
    where = f" ({where_}, line {line})" if where_ else ""
    summary = clip(head, SUMMARY_CHARS - len(where)) + where
    outside = tb.exc_type.rsplit(".", 1)[-1] == "KeyboardInterrupt"
    message = normalise(tb.message) if sig_message is None else sig_message
    return Classified(
        kind=kind,
        signature=signature_of(kind, tb.exc_type, where_, message),
        summary=summary,
        exc_type=tb.exc_type,
        message=tb.message,
        frames=tb.frames,
        location=where_,
        line=line,
        repairable=not outside,
        action=Action.STOP if outside else Action.REPAIR,
        advice="stopped from outside (Ctrl-C)" if outside else "",
    )
