"""The ``phoenix`` command: parse the command line, resolve settings, pick a front end.

``phoenix [run] [--unattended] [--json] [-C DIR] [--setting VALUE ...] [-- command ...]``
plus ``doctor``, ``demo``, ``reset``, ``promote``. Errors become one line on stderr and a
documented exit code (see README): 0 completed, 1 gave up, 2 usage/configuration, 3 locked,
4 stopped, 5 trained but not promoted.
"""

from __future__ import annotations

__all__ = ["main"]

import argparse
import asyncio
import dataclasses
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from phoenix_engine.core.settings import SPECS, Settings, load_toml, resolve
from phoenix_engine.errors import ConfigError, ExitCode, PhoenixError
from phoenix_engine.io.proctree import become_subreaper

if TYPE_CHECKING:
    from phoenix_engine.engine import Engine
    from phoenix_engine.io.gpu import GpuSampler

COMMANDS: tuple[str, ...] = ("run", "doctor", "demo", "reset", "history", "rollback", "status")
COMMANDS += ("attach", "promote", "runs", "review", "report")


def _parser(command: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"phoenix {command}" if command != "run" else "phoenix",
        description="Supervise a training run overnight: watch, diagnose, repair, restart.",
        epilog="Commands: run (default), doctor, demo, reset, history, rollback [ID], "
        "status, attach, promote [CANDIDATE | --rollback], runs, review [RUN], "
        "report [RUN] [-o FILE] [--svg]. "
        "The training command may follow `--`.",
    )
    parser.add_argument("-C", dest="project", default=".", help="project directory (default: .)")
    parser.add_argument(
        "--unattended", action="store_true", help="headless: no console, for systemd or cron"
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    if command == "rollback":
        parser.add_argument("backup_id", nargs="?", help="backup to restore (default: newest)")
    if command == "promote":
        parser.add_argument("candidate", nargs="?", help="the model to put in service")
        parser.add_argument("--rollback", action="store_true", help="back to the previous model")
        parser.add_argument("--force", action="store_true", help="promote without evaluating")
    if command in ("review", "report"):
        parser.add_argument("run_id", nargs="?", help="a run from `phoenix runs` (default: last)")
    if command == "report":
        parser.add_argument("-o", dest="output", help="the image file (default: in .phoenix_cli)")
        parser.add_argument("--svg", action="store_true", help="SVG instead of PNG")
    group = parser.add_argument_group("settings (each also PHOENIX_* or phoenix.toml)")
    for spec in SPECS:
        if not spec.flag:
            continue
        if spec.parse.__name__ == "_bool":
            group.add_argument(spec.option, dest=spec.field, action="store_const", const="1")
        else:
            group.add_argument(spec.option, dest=spec.field, metavar="V", help=spec.help)
    return parser


def _split_argv(argv: Sequence[str]) -> tuple[str, list[str], list[str]]:
    """(command, phoenix's own arguments, the training command after ``--``)."""
    args = list(argv)
    train: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, train = args[:cut], args[cut + 1 :]
    command = "run"
    if args and args[0] in COMMANDS:
        command = args.pop(0)
    return command, args, train


def load_settings(
    args: argparse.Namespace, train: Sequence[str], env: Mapping[str, str]
) -> Settings:
    """Resolve flags > environment > phoenix.toml > defaults for the chosen project."""
    project = Path(args.project).expanduser()
    if not project.is_dir():
        raise ConfigError("-C", args.project, "an existing project directory")
    if not os.access(project, os.R_OK | os.X_OK):
        raise ConfigError("-C", args.project, "a project directory Phoenix may read")
    project = project.resolve()
    flags = {s.field: getattr(args, s.field) for s in SPECS if getattr(args, s.field, None)}
    if train:
        flags["train_cmd"] = shlex.join(train)
    toml = load_toml(project / "phoenix.toml")
    return resolve(project_dir=project, env=env, flags=flags, toml=toml)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    command, args, train = _split_argv(sys.argv[1:] if argv is None else argv)
    parsed = _parser(command).parse_args(args)
    env = dict(os.environ)
    try:
        return _COMMANDS[command](parsed, train, env)
    except PhoenixError as exc:
        print(f"phoenix: {exc}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("phoenix: interrupted", file=sys.stderr)
        return int(ExitCode.STOPPED)


def _cmd_run(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.doctor import command_problem, setting_label

    settings = load_settings(args, train, env)
    problem = command_problem(settings, env)
    if problem:
        raise ConfigError(
            setting_label(settings, "train_cmd"),
            settings.train_cmd,
            f"a runnable command: {problem}",
        )
    if settings.eval_cmd:  # found now, not after a night of training
        problem = command_problem(dataclasses.replace(settings, train_cmd=settings.eval_cmd), env)
        if problem:
            raise ConfigError(
                setting_label(settings, "eval_cmd"), settings.eval_cmd, f"runnable: {problem}"
            )
    if _wants_console(args):
        if _engine_running(settings):  # like tmux: open the console on that run
            from phoenix_tui.console.attached import run_attached

            return run_attached(settings, env)
        from phoenix_tui.console.run import run_console

        become_subreaper()
        _announce(settings)
        return _summarised(settings, run_console(settings, env))
    become_subreaper()  # orphans of the training become ours: found and stopped with it
    _announce(settings)
    code = run_headless(settings, env, json_output=args.json)
    return code if args.json else _summarised(settings, code)


def _announce(settings: Settings) -> None:
    if not (settings.state_dir / "run.log").is_file():
        return  # a first run: nothing to say, nothing to import
    from phoenix_tui.runs_cli import announce_last_run

    announce_last_run(settings)


def _summarised(settings: Settings, code: int) -> int:
    """The run is over: say how it went (from the journal) before Phoenix exits."""
    from phoenix_tui.runs_cli import print_summary

    print_summary(settings)
    return code


def _engine_running(settings: Settings) -> bool:
    from phoenix_engine.io.lock import ProjectLock
    from phoenix_engine.remote.attach_server import socket_path

    held = settings.state_dir.is_dir() and not ProjectLock(settings.state_dir).is_free()
    return held and socket_path(settings.state_dir).exists()


def _wants_console(args: argparse.Namespace) -> bool:
    """The console needs a terminal on both ends; --unattended and --json mean headless."""
    return not args.unattended and not args.json and sys.stdin.isatty() and sys.stdout.isatty()


def run_headless(
    settings: Settings,
    env: Mapping[str, str],
    *,
    json_output: bool,
    gpu_sampler: GpuSampler | None = None,
) -> int:
    """Run the engine with the headless printers until it completes, gives up or is stopped."""
    from phoenix_engine.core.redact import Redactor
    from phoenix_engine.events import EventSink
    from phoenix_engine.session import build_session
    from phoenix_tui.headless import HumanPrinter, JsonPrinter

    redactor = Redactor.from_env(env, settings.secrets())
    sink: EventSink
    tee: Callable[[bytes], None] | None = None
    if json_output:
        sink = JsonPrinter(sys.stdout, redactor=redactor)
    else:
        color = sys.stderr.isatty() and not env.get("NO_COLOR")
        sink = HumanPrinter(sys.stderr, redactor=redactor, color=color)
        tee = _stdout_tee()
    session = build_session(
        settings, env, console=False, sinks=[sink], tee=tee, gpu_sampler=gpu_sampler
    )
    session.add_services()
    return asyncio.run(_supervise(session.engine))


async def _supervise(engine: Engine) -> int:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        name = signal.Signals(signum).name
        loop.add_signal_handler(signum, engine.request_stop, f"phoenix received {name}")
    return int(await engine.run())


def _stdout_tee() -> Callable[[bytes], None]:
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


def _cmd_demo(args: argparse.Namespace, train: Sequence[str], env: dict[str, str]) -> int:
    from phoenix_engine.io.gpu import SimulatedGpu
    from phoenix_tui.demo import prepare_demo

    project, demo_env = prepare_demo(env)
    print(f"phoenix: demo project copied to {project}", file=sys.stderr)
    args.project = str(project)
    settings = load_settings(args, train, demo_env)
    if _wants_console(args):
        from phoenix_tui.console.run import run_console

        code = run_console(settings, demo_env, gpu_sampler=SimulatedGpu(), title="phoenix demo")
    else:
        code = run_headless(settings, demo_env, json_output=args.json, gpu_sampler=SimulatedGpu())
    if not args.json:
        _summarised(settings, code)
    _demo_report(settings)
    return code


def _demo_report(settings: Settings) -> None:
    """The demo ends with the picture of its night (when matplotlib is installed)."""
    from phoenix_engine.errors import ReportError
    from phoenix_tui.runs_cli import cmd_report

    try:
        cmd_report(settings, None, None, svg=False, stream=sys.stderr)  # stdout may be JSON
    except (ReportError, ConfigError) as exc:
        print(f"phoenix: no report: {exc}", file=sys.stderr)


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
    from phoenix_engine import events as ev
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
        journal.emit(
            ev.RolledBack(
                ts=time.time(),
                backup_id=result.backup_id,
                paths=tuple(result.paths),
                safety_backup_id=result.safety_backup_id,
            )
        )
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
        tee=_stdout_tee(),
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


_COMMANDS: dict[str, Callable[[argparse.Namespace, Sequence[str], dict[str, str]], int]] = {
    "run": _cmd_run,
    "doctor": _cmd_doctor,
    "demo": _cmd_demo,
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

if __name__ == "__main__":
    raise SystemExit(main())
