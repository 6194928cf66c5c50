"""The one remote command set: commands and replies as values, parsing a Discord message into
a command, and dispatching a command to the controller that acts on the run.

Both remote doors use it: Discord's ``!status`` and an attached console's ``status`` message
(:mod:`~phoenix_engine.remote.attach_server`) reach the same controller method and get the
same reply. Pure apart from the controller it is handed. A command is ``!name [argument]``,
optionally after a mention of the bot (``<@BOTID> !status``; ``<@BOTID> status`` works too), because
Discord delivers a message's content to a bot without the Message Content intent only when the
message mentions it. Only the commands listed here are commands: ``!play`` meant for another bot
is not ours and is ignored.
"""

from __future__ import annotations

__all__ = [
    "COMMANDS",
    "HELP",
    "Command",
    "Controller",
    "Reply",
    "dispatch",
    "parse_command",
    "refused",
]

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """What a command answers: the text, and whether it did what was asked (the attach
    socket's ``ok``; Discord shows only the text)."""

    text: str
    ok: bool = True


def refused(text: str) -> Reply:
    return Reply(text=text, ok=False)


class Controller(Protocol):
    """What the commands act on; every method returns the reply. ``by`` names the sender as
    the front end knows it (a Discord user ID, ``attach:<uid>``); ``reason`` is the sender's
    own, where it gave one."""

    def status(self) -> Reply: ...
    def stop(self, by: str, reason: str = "") -> Reply: ...
    def resume(self, by: str) -> Reply: ...
    def patches(self) -> Reply: ...
    def accept(self, patch_id: str, by: str) -> Reply: ...
    def reject(self, patch_id: str, by: str, reason: str = "") -> Reply: ...
    def rollback(self, backup_id: str, by: str) -> Reply: ...
    def tail(self, n: int) -> Reply: ...
    def config(self) -> Reply: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: str  # one of COMMANDS
    arg: str = ""
    text: str = ""  # as typed, without the mention: what the journal records
    reason: str = ""  # the sender's own reason for a stop or a reject (an attached console's)


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


def _tail_count(arg: str) -> int | Reply:
    if not arg:
        return _TAIL_DEFAULT
    if not arg.isdigit():
        return refused(f"usage: !tail N (a number of lines, at most {_TAIL_MAX})")
    return min(max(int(arg), 1), _TAIL_MAX)


def dispatch(controller: Controller, command: Command, by: str) -> Reply:
    """Run an allowed command; its reply."""
    name, words = command.name, command.arg.split()
    ident = words[0] if words else ""  # the ID an accept, reject or rollback names
    if name in ("accept", "reject", "rollback") and not ident:
        return refused(f"usage: !{name} ID (see !patches)")
    if name == "tail":
        count = _tail_count(command.arg)
        return count if isinstance(count, Reply) else controller.tail(count)
    simple: dict[str, Callable[[], Reply]] = {
        "status": controller.status,
        "patches": controller.patches,
        "config": controller.config,
        "help": lambda: Reply(text=HELP),
        "stop": lambda: controller.stop(by, command.reason),
        "resume": lambda: controller.resume(by),
        "accept": lambda: controller.accept(ident, by),
        "reject": lambda: controller.reject(ident, by, command.reason),
        "rollback": lambda: controller.rollback(ident, by),
    }
    return simple[name]()
