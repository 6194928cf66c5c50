"""Remote commands as values: parsing a Discord message into a command, and dispatching it.

Pure apart from the controller it is handed. A command is ``!name [argument]``, optionally
after a mention of the bot (``<@BOTID> !status``; ``<@BOTID> status`` works too), because
Discord delivers a message's content to a bot without the Message Content intent only when the
message mentions it. Only the commands listed here are commands: ``!play`` meant for another bot
is not ours and is ignored.
"""

from __future__ import annotations

__all__ = ["COMMANDS", "HELP", "Command", "Controller", "dispatch", "parse_command"]

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

COMMANDS = (
    "status",
    "stop",
    "resume",
    "config",
    "patches",
    "accept",
    "reject",
    "rollback",
    "tail",
    "help",
)

HELP = (
    "Phoenix commands: !status, !stop (graceful), !resume (after a stop or give-up), !config, "
    "!patches, !accept ID, !reject ID, !rollback ID (only while stopped), !tail N, !help"
)

_MENTION = re.compile(r"<@!?(\d+)>\s*")
_TAIL_DEFAULT, _TAIL_MAX = 20, 100


class Controller(Protocol):
    """What the commands act on; every method returns the reply text."""

    def status(self) -> str: ...
    def stop(self, by: str) -> str: ...
    def resume(self, by: str) -> str: ...
    def patches(self) -> str: ...
    def accept(self, patch_id: str, by: str) -> str: ...
    def reject(self, patch_id: str, by: str) -> str: ...
    def rollback(self, backup_id: str, by: str) -> str: ...
    def tail(self, n: int) -> str: ...
    def config(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: str  # one of COMMANDS
    arg: str = ""
    text: str = ""  # as typed, without the mention: what the journal records


def parse_command(content: str, bot_id: str = "") -> Command | None:
    """The command in a message, or None when it holds none of ours."""
    text = content.strip()
    mentioned = False
    m = _MENTION.match(text)
    if m and (not bot_id or m.group(1) == bot_id):
        text, mentioned = text[m.end() :].strip(), True
    if text.startswith("!"):
        text = text[1:]
    elif not mentioned:
        return None
    word, _, rest = text.partition(" ")
    name = word.lower()
    if name not in COMMANDS:
        return None
    return Command(name=name, arg=rest.strip(), text=("!" + text)[:200])


def _tail_count(arg: str) -> int | str:
    if not arg:
        return _TAIL_DEFAULT
    if not arg.isdigit():
        return f"usage: !tail N (a number of lines, at most {_TAIL_MAX})"
    return min(max(int(arg), 1), _TAIL_MAX)


def dispatch(controller: Controller, command: Command, by: str) -> str:
    """Run an allowed command; the reply text."""
    name, arg = command.name, command.arg
    if name in ("accept", "reject") and not arg:
        return f"usage: !{name} ID (see !patches)"
    if name == "rollback" and not arg:
        return "usage: !rollback ID (see !patches)"
    if name == "tail":
        count = _tail_count(arg)
        return count if isinstance(count, str) else controller.tail(count)
    simple: dict[str, Callable[[], str]] = {
        "status": controller.status,
        "patches": controller.patches,
        "config": controller.config,
        "help": lambda: HELP,
        "stop": lambda: controller.stop(by),
        "resume": lambda: controller.resume(by),
        "accept": lambda: controller.accept(arg.split()[0], by),
        "reject": lambda: controller.reject(arg.split()[0], by),
        "rollback": lambda: controller.rollback(arg.split()[0], by),
    }
    return simple[name]()
