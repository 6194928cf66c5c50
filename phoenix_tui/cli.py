"""The ``phoenix`` command: parse the command line, resolve settings, pick a front end.

``phoenix [run] [--unattended] [--json] [-C DIR] [--setting VALUE ...] [-- command ...]``
and ``demo`` start an engine and live here (:func:`run_headless` builds the headless one);
the other subcommands are in :mod:`phoenix_tui._subcommands`, the parsers and the help in
:mod:`phoenix_tui._cli_flags`. Errors become one line on stderr and a documented exit code
(see README): 0 completed, 1 gave up, 2 usage/configuration, 3 locked, 4 stopped, 5 trained
but not promoted.
"""

from __future__ import annotations

__all__ = ["main", "run_headless"]

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ConfigError, ExitCode, PhoenixError
from phoenix_engine.io.proctree import become_subreaper
from phoenix_tui._cli_flags import build_parser, load_settings, split_argv
from phoenix_tui._subcommands import SUBCOMMANDS, Subcommand, stdout_tee

if TYPE_CHECKING:
    from phoenix_engine.engine import Engine
    from phoenix_engine.io.gpu import GpuSampler


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point; returns the exit code."""
    call = split_argv(sys.argv[1:] if argv is None else argv)
    parsed = build_parser(call.command, explicit=call.explicit).parse_args(call.args)
    env = dict(os.environ)
    try:
        return _COMMANDS[call.command](parsed, call.train, env)
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
        tee = stdout_tee()
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


_COMMANDS: dict[str, Subcommand] = {"run": _cmd_run, "demo": _cmd_demo, **SUBCOMMANDS}

if __name__ == "__main__":
    raise SystemExit(main())
