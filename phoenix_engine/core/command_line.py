"""The one shell rule: does a user's command line run as a plain argv or under ``/bin/sh -c``?

Every user command (the training, the shadow run's test command, the evaluation and promotion
commands, the fallback LLM commands, the Gemini CLI, ``phoenix doctor``'s checks of them) goes
through :func:`parse`. A line with any shell
syntax outside single quotes (an env assignment ``V=1 cmd``, a glob, a pipe, a redirection,
``&&``, ``;``, ``$VAR``, ``$(...)``, a backtick, a leading ``~``, a comment, a builtin such as
``cd`` or ``source``) runs under ``/bin/sh -c`` exactly as written, so it means what it means in
a terminal; anything else is split the POSIX way and exec'd directly (the training's PID is
then the program's own, and its signals reach it without a shell in between). Running a
plain line through the shell would be harmless; missing shell syntax is the bug this rules out.

:attr:`CommandLine.program` is the program the line really starts (after ``V=1``, after
``env``), for the launch check; '' when only the shell can tell (``$CMD``, ``cd x && ...``).
:func:`add_arguments` puts arguments where the line's program takes them (before a pipe or a
comment: the resume flag of a restart), and :func:`argv_prefix` gives an argv that arguments
can be appended to (the Gemini CLI). All of it reads quotes with the one scanner, ``_unquoted``.
"""

from __future__ import annotations

__all__ = [
    "CommandLine",
    "Launch",
    "add_arguments",
    "arguments_end",
    "argv_prefix",
    "parse",
    "shell_argv",
]

import enum
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

SHELL = "/bin/sh"
_OPERATORS = frozenset("|&;<>()`\n")  # a pipe, a list, a redirection, a subshell, a new line
_EXPANSIONS = frozenset("$*?[{}!")  # variables, globs, braces, history-less negation
_WORD_START = frozenset("~#")  # a home directory, a comment: only at the start of a word
_BLANK = frozenset(" \t")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
# Words only the shell knows (builtins and keywords): exec'd directly they are "not found".
_BUILTINS = frozenset({"!", ".", ":", "[[", "{", "case", "cd", "eval", "exec", "export", "for"})
_BUILTINS |= {"function", "if", "set", "source", "time", "trap", "ulimit", "umask", "unset"}
_BUILTINS |= {"until", "while"}
_ENV_OPTIONS_WITH_VALUE = frozenset({"-u", "--unset", "-C", "--chdir"})


class Launch(enum.StrEnum):
    ARGV = "argv"  # exec'd directly: the line has no shell syntax
    SHELL = "shell"  # /bin/sh -c runs the line as written


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandLine:
    text: str
    launch: Launch
    argv: tuple[str, ...]  # what is exec'd: the words, or /bin/sh -c text
    words: tuple[str, ...]  # the program and its arguments, when known without running a shell
    program: str  # words[0], or '' when only the shell can tell

    @property
    def via_shell(self) -> bool:
        return self.launch is Launch.SHELL


def _unquoted(text: str) -> Iterator[tuple[int, str, bool, bool]]:
    """The one quote-aware scan: ``(index, character, inside double quotes, starts a word)``
    for each character the shell may read specially, i.e. not escaped by a backslash and not
    inside single quotes (the quote marks themselves are left out)."""
    quote, escaped, word_start = "", False, True
    for i, ch in enumerate(text):
        if escaped:
            escaped, word_start = False, False
        elif quote == "'":
            quote = "" if ch == "'" else quote
        elif ch == "\\":
            escaped = True
        elif ch == '"' or (ch == "'" and not quote):
            quote, word_start = ("" if quote else ch), False
        else:
            yield i, ch, bool(quote), word_start
            word_start = not quote and ch in _BLANK


def _shell_syntax(text: str) -> bool:
    """Any character the shell would treat specially, outside single quotes?"""
    for _, ch, in_double, word_start in _unquoted(text):
        if in_double:  # inside double quotes only $ and ` still expand
            if ch in "$`":
                return True
        elif ch in _OPERATORS or ch in _EXPANSIONS or (word_start and ch in _WORD_START):
            return True
    return False


def _first_command(text: str) -> str:
    """The line up to its first unquoted operator: the first simple command."""
    for i, ch, in_double, word_start in _unquoted(text):
        if not in_double and (ch in _OPERATORS or (word_start and ch == "#")):
            return text[:i]
    return text


def arguments_end(text: str) -> int:
    """Where arguments added to the line's program go: at the first ``|`` the shell reads as a
    pipe (not ``||``: ``python t.py 2>&1 | tee log``) or a comment, else ``len(text)``."""
    last_bar = -2
    for i, ch, in_double, word_start in _unquoted(text):
        if in_double:
            continue
        if word_start and ch == "#":
            return i
        if ch == "|":
            if text[i + 1 : i + 2] != "|" and last_bar != i - 1:
                return i
            last_bar = i
    return len(text)


def add_arguments(text: str, arguments: str) -> str:
    """``text`` with ``arguments`` (already shell-quoted) where :func:`arguments_end` says."""
    cut = arguments_end(text)
    head, tail = text[:cut].rstrip(), text[cut:].lstrip()
    return f"{head} {arguments}" + (f" {tail}" if tail else "")


def _program_words(words: list[str]) -> tuple[str, ...]:
    """The words from the program on: leading ``NAME=value`` and ``env [options]`` dropped.
    Empty when the program is for the shell to find (a builtin, an expansion, a new PATH)."""
    rest = list(words)
    while rest and _ASSIGNMENT.match(rest[0]):
        if rest.pop(0).startswith("PATH="):
            return ()  # looked up on a PATH the line sets itself
    if rest and rest[0] == "env":
        rest.pop(0)
        while rest and (rest[0].startswith("-") or _ASSIGNMENT.match(rest[0])):
            word = rest.pop(0)
            if word == "--":
                break
            if word in _ENV_OPTIONS_WITH_VALUE and rest:
                rest.pop(0)
            if word.startswith("PATH=") or word in ("-S", "--split-string"):
                return ()
    if not rest or rest[0] in _BUILTINS or any(c in rest[0] for c in "$`*?[~"):
        return ()
    return tuple(rest)


def parse(text: str) -> CommandLine:
    """How ``text`` runs (pure: no PATH lookup, no file system)."""
    stripped = text.strip()
    try:
        words, unbalanced = shlex.split(stripped), False
    except ValueError:  # an unbalanced quote: the shell reports it as the launch failure
        words, unbalanced = [], True
    first = words[0] if words else ""
    shell = unbalanced or _shell_syntax(stripped) or first in _BUILTINS
    shell = shell or _ASSIGNMENT.match(first) is not None
    if not shell:
        found = _program_words(words)  # `env V=1 python` is exec'd as is; python is checked
        return CommandLine(
            text=text,
            launch=Launch.ARGV,
            argv=tuple(words),
            words=found,
            program=found[0] if found else "",
        )
    try:
        found = _program_words(shlex.split(_first_command(stripped)))
    except ValueError:
        found = ()
    return CommandLine(
        text=text,
        launch=Launch.SHELL,
        argv=(SHELL, "-c", text),
        words=found,
        program=found[0] if found else "",
    )


def shell_argv(command: str) -> tuple[list[str], bool]:
    """(argv, runs under /bin/sh): :func:`parse` for callers that only spawn."""
    line = parse(command)
    return list(line.argv), line.via_shell


def argv_prefix(command: str) -> tuple[str, ...]:
    """An argv that the caller's own arguments can be appended to (``PHOENIX_GEMINI_CLI``):
    the words of a plain line; under the shell, the line with ``"$@"`` where
    :func:`add_arguments` puts arguments, so they arrive as they are, unexpanded."""
    line = parse(command)
    if not line.via_shell:
        return line.argv
    return (SHELL, "-c", add_arguments(line.text.strip(), '"$@"'), "sh")
