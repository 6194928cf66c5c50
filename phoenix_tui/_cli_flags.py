"""The ``phoenix`` command line: its subcommands, its parsers, its help, and the settings.

``phoenix --help`` names the subcommands first (one line each), then the few options every
command takes; the per-setting flags (one per entry of the settings table) are accepted
everywhere, and listed under their own heading by ``phoenix run --help`` (and by each
command's own help). The subcommand may come after the common options
(``phoenix -C DIR doctor``).
"""

from __future__ import annotations

__all__ = ["COMMANDS", "Invocation", "build_parser", "load_settings", "split_argv"]

import argparse
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine import __version__
from phoenix_engine.core.settings import SPECS, Settings, resolve
from phoenix_engine.errors import ConfigError
from phoenix_engine.io.settings_file import load_toml

# name -> (its arguments, one line of help), in the order ``phoenix --help`` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("[-- CMD...]", "supervise the training (the default command)"),
    "doctor": ("", "print every setting with its source and check the set-up"),
    "demo": ("", "supervise the bundled demo project in a temporary copy"),
    "status": ("", "the running engine's state, or how the last run ended"),
    "attach": ("", "open the console on the engine running in this project"),
    "runs": ("", "list the past runs"),
    "review": ("[RUN]", "open the console read-only on a finished run"),
    "report": ("[RUN] [-o FILE] [--svg]", "draw a run as an image"),
    "history": ("", "list the backups, newest first"),
    "rollback": ("[ID]", "restore a backup (the newest applied one by default)"),
    "promote": ("CANDIDATE | --rollback", "evaluate a model and put it in service"),
    "reset": ("", "clear the retry and restart budgets"),
}

_DESCRIPTION = "Supervise a training run overnight: watch, diagnose, repair, restart."
_USAGE = "phoenix {} [-C DIR] [--unattended] [--json] [--SETTING V ...]"
_SETTINGS_HEADING = "settings (each also PHOENIX_* or phoenix.toml)"


@dataclass(frozen=True, slots=True, kw_only=True)
class Invocation:
    """The command line cut in three: which command, phoenix's own arguments, the training."""

    command: str
    args: list[str]
    train: list[str]
    explicit: bool  # the command was named (then its help lists the settings)


def _commands_text() -> str:
    rows = [(f"{name} {args}".rstrip(), what) for name, (args, what) in COMMANDS.items()]
    width = max(len(left) for left, _ in rows)
    lines = [f"  {left:<{width}}  {what}" for left, what in rows]
    return "commands:\n" + "\n".join(lines)


def build_parser(command: str, *, explicit: bool = True) -> argparse.ArgumentParser:
    """The parser of one command; every one accepts the common options and every setting.

    ``phoenix --help`` (``run`` not named) is the short one: the commands, the common options;
    ``phoenix COMMAND --help`` lists the settings too, under their own heading."""
    top = command == "run" and not explicit
    args, what = COMMANDS[command]
    if top:
        description = f"{_DESCRIPTION}\n\n{_commands_text()}"
        epilog = (
            "Every setting is also a flag (--max-retries V, --approval V, ...):\n"
            "`phoenix run --help` lists them; `phoenix COMMAND --help` shows one command."
        )
        usage = _USAGE.format("[COMMAND]") + " [-- CMD ...]"
    else:
        description, epilog = f"{what[0].upper()}{what[1:]}.", ""
        named = "[run]" if command == "run" else f"{command} {args}".rstrip()
        usage = _USAGE.format(named) + (" [-- CMD ...]" if command == "run" else "")
    parser = argparse.ArgumentParser(
        prog="phoenix" if top else f"phoenix {command}",
        usage=usage,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"phoenix {__version__}")
    parser.add_argument(
        "-C", dest="project", default=".", metavar="DIR", help="project directory (default: .)"
    )
    parser.add_argument(
        "--unattended", action="store_true", help="headless: no console, for systemd or cron"
    )
    parser.add_argument("--json", action="store_true", help="print events as JSON lines")
    _add_command_arguments(parser, command)
    listed = not top
    group = parser.add_argument_group(_SETTINGS_HEADING) if listed else parser
    for spec in SPECS:
        if not spec.flag:
            continue
        shown = spec.help.replace("%", "%%") if listed else argparse.SUPPRESS
        if spec.switch:
            group.add_argument(
                spec.option, dest=spec.field, action="store_const", const="1", help=shown
            )
        else:
            group.add_argument(spec.option, dest=spec.field, metavar="V", help=shown)
    return parser


def _add_command_arguments(parser: argparse.ArgumentParser, command: str) -> None:
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


def _takes_value(parser: argparse.ArgumentParser, option: str) -> bool:
    """Whether ``option`` (or a unique abbreviation of it) consumes the next argument."""
    if "=" in option:
        return False
    actions = parser._option_string_actions  # argparse's own table: flags and their actions
    action = actions.get(option)
    if action is None:
        matches = {actions[name] for name in actions if name.startswith(option)}
        action = matches.pop() if len(matches) == 1 else None
    return action is not None and action.nargs != 0


def split_argv(argv: Sequence[str]) -> Invocation:
    """Find the command: the first argument that is no option and no option's value."""
    args = list(argv)
    train: list[str] = []
    if "--" in args:
        cut = args.index("--")
        args, train = args[:cut], args[cut + 1 :]
    common = build_parser("run")
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
        elif arg.startswith("-") and arg != "-":
            skip = _takes_value(common, arg)
        else:
            if arg in COMMANDS:
                del args[i]
                return Invocation(command=arg, args=args, train=train, explicit=True)
            break  # not a command: argparse names it as unrecognised
    return Invocation(command="run", args=args, train=train, explicit=False)


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
