"""The ``phoenix`` subcommands that supervise nothing: doctor, reset, history, rollback,
status, promote, attach, runs, review and report (``run`` and ``demo`` are in
:mod:`phoenix_tui.cli`, with the engine they start).

Each takes the parsed arguments, the training command after ``--`` and the environment, and
returns the exit code; a :class:`~phoenix_engine.errors.PhoenixError` is turned into its
one-line message and code by ``main``. The heavier imports wait until a command needs them.
"""

from __future__ import annotations

__all__ = ["SUBCOMMANDS", "Subcommand", "stdout_tee"]

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Sequence

from phoenix_engine.core.settings import SPECS
from phoenix_tui._cli_flags import load_settings

Subcommand = Callable[[argparse.Namespace, Sequence[str], dict[str, str]], int]


def stdout_tee() -> Callable[[bytes], None]:
    """Echo the training output to stdout, as tee would; a closed stdout is ignored."""
    out = sys.stdout.buffer
    broken = False

    def write(data: bytes) -> None:
        nonlocal broken
        if broken:
            return
        try:
            out.write(data)
            out.flush()
        except (OSError, ValueError):
            broken = True

    return write


def _cmd_doctor(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.core.redact import Redactor
    from phoenix_engine.core.settings import shown_value
    from phoenix_engine.doctor import run_checks

    settings = load_settings(args, train, env)
    redact = Redactor.from_env(env, settings.secrets()).redact
    print(f"Phoenix settings for {settings.project_dir}\n")
    width = max(len(s.env) for s in SPECS)
    for spec in SPECS:
        value = shown_value(settings, spec.field)
        print(f"  {spec.env:<{width}}  {value or '(empty)'}  [{settings.sources[spec.field]}]")
    key_state = "(set, hidden)" if settings.gemini_api_key else "(not set)"
    print(f"  {settings.gemini_api_key_env:<{width}}  {key_state}  [env]\n")
    failed = warned = 0
    for check in run_checks(settings, env):
        mark = "ok  " if check.ok else ("warn" if check.warning else "FAIL")
        failed += 0 if check.ok or check.warning else 1
        warned += 1 if mark == "warn" else 0
        print(f"  [{mark}] {check.name}: {redact(check.detail)}")
    notes = f" ({warned} warning(s))" if warned else ""
    print(f"\nAll checks passed{notes}." if not failed else f"\n{failed} check(s) failed{notes}.")
    return 0 if not failed else 1


def _cmd_reset(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.io.lock import ProjectLock
    from phoenix_engine.io.state_store import StateStore

    settings = load_settings(args, train, env)
    lock = ProjectLock(settings.state_dir)
    if not settings.state_dir.is_dir():
        print("phoenix: nothing to reset (no .phoenix_cli here)")
        return 0
    lock.acquire()  # refuses while an engine runs: its budgets are live
    try:
        StateStore(settings.state_dir).clear_budgets()
    finally:
        lock.release()
    print(f"phoenix: retry and restart budgets cleared for {settings.project_dir}")
    return 0


def _cmd_history(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.io.backups import list_backups

    settings = load_settings(args, train, env)
    records = list_backups(settings.state_dir)
    if args.json:
        for r in records:
            row = {"id": r.id, "created": r.created, "state": str(r.state), "kind": r.kind}
            row |= {"paths": list(r.paths), "provider": r.provider, "signature": r.signature}
            print(json.dumps(row | {"diagnosis": r.diagnosis, "reason": r.reason}))
        return 0
    if not records:
        print("phoenix: no backups yet")
        return 0
    for r in records:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.created))
        what = ", ".join(r.paths) or r.reason
        print(f"{r.id}  {when}  {r.state:<11} {r.kind:<8} {r.provider or '-':<10} {what}")
    return 0


def _cmd_rollback(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.core.redact import Redactor
    from phoenix_engine.io.backups import rollback
    from phoenix_engine.io.journal import JournalSink
    from phoenix_engine.io.lock import ProjectLock

    settings = load_settings(args, train, env)
    lock = ProjectLock(settings.state_dir)
    lock.acquire()  # never change files under a running engine's feet
    try:
        result = rollback(settings.state_dir, settings.project_dir, args.backup_id)
        journal = JournalSink(
            settings.state_dir / "run.log",
            redactor=Redactor.from_env(env, settings.secrets()),
            max_bytes=settings.log_max_bytes,
        )
        journal.emit(dataclasses.replace(result.event(), ts=time.time()))
        journal.close()
    finally:
        lock.release()
    restored = ", ".join(result.paths) or "nothing"
    print(f"phoenix: rolled back {result.backup_id}: restored {restored}")
    print(f"phoenix: the files as they were are kept in backup {result.safety_backup_id}")
    return 0


def _cmd_status(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.promotion import describe_in_service
    from phoenix_engine.remote.attach_client import AttachError, query_status
    from phoenix_engine.remote.attach_server import socket_path

    settings = load_settings(args, train, env)
    model = describe_in_service(settings)  # which model is in service, and why
    try:
        text = asyncio.run(query_status(socket_path(settings.state_dir)))
    except AttachError as exc:
        from phoenix_tui.runs_cli import status_from_journal

        return status_from_journal(settings, json_output=args.json, why=str(exc), model=model)
    if args.json:
        from phoenix_tui.runs_cli import status_json_running

        print(status_json_running(settings, text, model=model))
        return 0
    print(text + (f"\n{model}" if model else ""))
    return 0


def _cmd_promote(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_tui._promote import run_promote

    settings = load_settings(args, train, env)
    return run_promote(
        settings,
        env,
        candidate=args.candidate,
        back=args.rollback,
        force=args.force,
        json_output=args.json,
        tee=stdout_tee(),
    )


def _cmd_attach(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_tui.console.attached import run_attached

    settings = load_settings(args, train, env)
    return run_attached(settings, env)


def _cmd_runs(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_tui.runs_cli import cmd_runs

    return cmd_runs(load_settings(args, train, env), json_output=args.json)


def _cmd_review(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_tui.runs_cli import cmd_review

    return cmd_review(load_settings(args, train, env), args.run_id, env)


def _cmd_report(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_tui.runs_cli import cmd_report

    settings = load_settings(args, train, env)
    return cmd_report(settings, args.run_id, args.output, svg=args.svg)


SUBCOMMANDS: dict[str, Subcommand] = {
    "doctor": _cmd_doctor,
    "reset": _cmd_reset,
    "history": _cmd_history,
    "rollback": _cmd_rollback,
    "status": _cmd_status,
    "attach": _cmd_attach,
    "promote": _cmd_promote,
    "runs": _cmd_runs,
    "review": _cmd_review,
    "report": _cmd_report,
}
