"""The one shell rule (core.command_line) and every place that runs a user command by it:
the training, ``phoenix doctor``'s launch check, the evaluation/promotion commands, the Gemini
CLI and the doctor's provider rows (the fallback commands: test_provider_cmd.py; the resume
flag's place: test_checkpoints.py)."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import PY, Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.command_line import (
    Launch,
    add_arguments,
    arguments_end,
    argv_prefix,
    parse,
)
from phoenix_engine.core.settings import Settings
from phoenix_engine.doctor import command_problem
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.usercmd import CommandRun, run_command
from phoenix_engine.llm._factory import describe, make_provider
from phoenix_engine.llm.gemini_cli import GeminiCli

Make = Callable[..., Settings]
SH = "/bin/sh"


@pytest.mark.parametrize(
    ("text", "launch", "program"),
    [
        # plain argv: split the POSIX way, exec'd directly
        ("python train.py --lr 3e-4", Launch.ARGV, "python"),
        ("python 'my train.py'", Launch.ARGV, "python"),
        ('python train.py --name "a b"', Launch.ARGV, "python"),
        ("python train.py --tag 'a|b;c>d'", Launch.ARGV, "python"),  # quoted: no shell syntax
        ("python train.py --q '$HOME'", Launch.ARGV, "python"),  # single quotes: literal
        ("python train.py --x=a#b", Launch.ARGV, "python"),  # '#' inside a word
        ("python train.py --home=a~b", Launch.ARGV, "python"),  # '~' inside a word
        ("python train.py --x \\*", Launch.ARGV, "python"),  # an escaped glob
        ('python train.py --x "a\\"|b"', Launch.ARGV, "python"),  # an escaped quote inside ""
        ("python train.py --x 'a\\' b", Launch.ARGV, "python"),  # no escapes inside ''
        ("./run.sh", Launch.ARGV, "./run.sh"),
        ("", Launch.ARGV, ""),
        # env assignments: the shell sets them; the program is the one after them
        ("V=1 python train.py", Launch.SHELL, "python"),
        ("CUDA_VISIBLE_DEVICES=0 V=1 torchrun t.py", Launch.SHELL, "torchrun"),
        ("env V=1 python train.py", Launch.ARGV, "python"),  # env runs it: no shell needed
        ("env -u HOME V=1 python train.py", Launch.ARGV, "python"),
        ("PATH=/opt/bin:$PATH python train.py", Launch.SHELL, ""),  # its own PATH: shell's to find
        # globs, braces, ~
        ("python train.py data/*.csv", Launch.SHELL, "python"),
        ("python train.py data/?.csv", Launch.SHELL, "python"),
        ("python train.py data/[ab].csv", Launch.SHELL, "python"),
        ("python train.py ~/data", Launch.SHELL, "python"),
        ("~/venv/bin/python train.py", Launch.SHELL, ""),
        # pipes, lists, redirections, subshells
        ("python t.py | tee x", Launch.SHELL, "python"),
        ("python t.py > out.log 2>&1", Launch.SHELL, "python"),
        ("python t.py < in.txt", Launch.SHELL, "python"),
        ("python a.py && python b.py", Launch.SHELL, "python"),
        ("python a.py || true", Launch.SHELL, "python"),
        ("python a.py; python b.py", Launch.SHELL, "python"),
        ("python a.py &", Launch.SHELL, "python"),
        ("(cd sub && python t.py)", Launch.SHELL, ""),
        ("python t.py # a note", Launch.SHELL, "python"),
        # expansions: variables and commands, also inside double quotes
        ("$PY train.py", Launch.SHELL, ""),
        ("python train.py --out $OUT", Launch.SHELL, "python"),
        ('python train.py --out "$OUT/x"', Launch.SHELL, "python"),
        ("python train.py --n $(nproc)", Launch.SHELL, "python"),
        ("python train.py --n `nproc`", Launch.SHELL, "python"),
        # builtins: exec'd directly they would be "not found"
        ("source venv/bin/activate && python t.py", Launch.SHELL, ""),
        ("cd sub && python t.py", Launch.SHELL, ""),
        ("export V=1 && python t.py", Launch.SHELL, ""),
        ("exec python t.py", Launch.SHELL, ""),
        # an unbalanced quote: the shell says what is wrong, as a launch failure
        ("python 'train.py", Launch.SHELL, ""),
        ("python train.py \\", Launch.SHELL, ""),  # a trailing backslash
    ],
)
def test_the_shell_rule(text: str, launch: Launch, program: str) -> None:
    line = parse(text)
    assert (line.launch, line.program) == (launch, program)
    if launch is Launch.SHELL:
        assert line.argv == (SH, "-c", text) and line.via_shell
    else:
        assert line.argv == tuple(shlex.split(text)) and not line.via_shell


def test_the_program_words_are_what_the_shell_would_start() -> None:
    assert parse("V=1 python train.py --lr 1 > log").words == ("python", "train.py", "--lr", "1")
    assert parse("env -i V=1 -- torchrun t.py | tee x").words == ("torchrun", "t.py")
    assert parse("cd x && python t.py").words == ()


ASSERTS_V = "import os, sys\nassert os.environ['V'] == '1', os.environ.get('V')\nprint('V ok')\n"
ASSERTS_GLOB = (
    "import sys\nassert sys.argv[1:] == ['data/a.csv', 'data/b.csv'], sys.argv\nprint('glob ok')\n"
)


def _data(project: Path) -> None:
    (project / "data").mkdir()
    for name in ("a.csv", "b.csv"):
        (project / "data" / name).write_text("x\n")


@pytest.mark.parametrize(
    ("script", "command"),
    [(ASSERTS_V, f"V=1 {PY} train.py"), (ASSERTS_GLOB, f"{PY} train.py data/*.csv")],
)
def test_the_training_runs_env_assignments_and_globs(
    make_settings: Make, recorder: Recorder, tmp_path: Path, script: str, command: str
) -> None:
    _data(tmp_path)
    s = make_settings(script, TRAIN_CMD=command)
    assert command_problem(s, os.environ) == ""  # the launch check no longer refuses it
    engine = Engine(s, env=os.environ, sinks=[recorder])
    assert asyncio.run(asyncio.wait_for(engine.run(), 30)) == ExitCode.COMPLETED
    assert not recorder.of(ev.Failure)
    assert (s.state_dir / "train.log").read_text().strip() in ("V ok", "glob ok")


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        (f"V=1 {PY} train.py", ""),
        (f"env V=1 {PY} train.py", ""),
        ("V=1 nope-xyz train.py", "`nope-xyz` was not found on PATH"),  # the real program
        ("env -u HOME nope-xyz train.py", "`nope-xyz` was not found on PATH"),
        ("V=1 ./missing.sh", "./missing.sh does not exist"),
        ("$TRAINER train.py", ""),  # only the shell can tell
        ("nope-xyz train.py data/*.csv", "`nope-xyz` was not found on PATH"),
    ],
)
def test_the_launch_check_looks_at_the_real_program(
    make_settings: Make, command: str, problem: str
) -> None:
    s = make_settings(TRAIN_CMD=command)
    assert command_problem(s, {"PATH": os.environ.get("PATH", os.defpath)}) == problem


def test_an_evaluation_command_expands_its_glob_too(tmp_path: Path) -> None:
    _data(tmp_path)
    (tmp_path / "ev.py").write_text(ASSERTS_GLOB.replace("glob ok", "score 0.5"))
    out: list[bytes] = []

    async def go() -> CommandRun:
        return await run_command(
            f"V=1 {PY} ev.py data/*.csv",
            cwd=tmp_path,
            env=os.environ,
            timeout_s=30,
            grace_s=1,
            output=lambda stream, data: out.append(data),
            stop=asyncio.Event(),
            metric=re.compile(r"score (\S+)"),
        )

    done = asyncio.run(go())
    assert done.returncode == 0, b"".join(out)
    assert done.score_text == "0.5"


@pytest.mark.parametrize(
    ("text", "head"),
    [
        # where arguments for the line's program go: before a pipe or a comment, else the end
        ("python t.py", "python t.py"),
        ("python t.py 2>&1 | tee log", "python t.py 2>&1 "),
        ("python t.py|tee log", "python t.py"),
        ("python t.py || echo failed", "python t.py || echo failed"),  # a list, not a pipe
        ("a || b | c", "a || b "),
        ("python t.py --tag 'a|b' | tee x", "python t.py --tag 'a|b' "),
        ('python t.py --tag "a|b" | tee x', 'python t.py --tag "a|b" '),
        ("python t.py --tag a\\|b | tee x", "python t.py --tag a\\|b "),  # an escaped bar
        ("python t.py --tag a\\||b", "python t.py --tag a\\|"),  # \| is a word; | a pipe
        ("python t.py # a | b", "python t.py "),
        ("python t.py --x=a#b | c", "python t.py --x=a#b "),  # '#' inside a word
        ("python t.py '# not a comment'", "python t.py '# not a comment'"),
    ],
)
def test_where_arguments_go(text: str, head: str) -> None:
    assert text[: arguments_end(text)] == head


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("python t.py", "python t.py --resume x"),
        ("python t.py  ", "python t.py --resume x"),
        ("python t.py 2>&1 | tee log", "python t.py 2>&1 --resume x | tee log"),
        ("python t.py # note", "python t.py --resume x # note"),
    ],
)
def test_add_arguments(text: str, expected: str) -> None:
    assert add_arguments(text, "--resume x") == expected


@pytest.mark.parametrize(
    ("text", "prefix"),
    [
        ("gemini", ("gemini",)),
        ("npx -y @google/gemini-cli", ("npx", "-y", "@google/gemini-cli")),
        ("V=1 gemini", (SH, "-c", 'V=1 gemini "$@"', "sh")),
        ("$HOME/bin/gemini --debug", (SH, "-c", '$HOME/bin/gemini --debug "$@"', "sh")),
        ("gemini 2>/dev/null | cat", (SH, "-c", 'gemini 2>/dev/null "$@" | cat', "sh")),
        ("", ()),
    ],
)
def test_argv_prefix(text: str, prefix: tuple[str, ...]) -> None:
    assert argv_prefix(text) == prefix


SHOW = "import os, sys; print(os.environ.get('V'), sys.argv[1:])"


@pytest.mark.parametrize(
    "command",
    [f"{PY} -c {shlex.quote(SHOW)}", f"V=1 {PY} -c {shlex.quote(SHOW)}"],
)
def test_appended_arguments_arrive_as_they_are(command: str) -> None:
    """Under the shell too: "$@" passes them on unexpanded and unsplit."""
    argv = [*argv_prefix(command), "a b", "$HOME", "*"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    v = "1" if command.startswith("V=1") else "None"
    assert out.strip() == f"{v} ['a b', '$HOME', '*']"


@pytest.mark.parametrize(
    ("setting", "head"),
    [
        ("gemini --debug", ("gemini", "--debug")),
        ("V=1 gemini", (SH, "-c", 'V=1 gemini "$@"', "sh")),
    ],
)
def test_the_gemini_cli_setting_follows_the_rule(
    make_settings: Make, setting: str, head: tuple[str, ...]
) -> None:
    s = make_settings(GEMINI_CLI=setting)
    cli = make_provider("gemini_cli", s, {}, None, lambda: None)
    assert isinstance(cli, GeminiCli)
    assert cli.argv[: len(head)] == head and cli.argv[len(head)] == "-p"


@pytest.mark.parametrize(
    ("setting", "ok", "detail"),
    [
        (f"V=1 {os.path.basename(PY)} ask.py", True, os.path.dirname(PY)),  # the real program
        ("V=1 nope-llm ask.py", False, "'nope-llm' not found on PATH"),
        ("env -u HOME nope-llm", False, "'nope-llm' not found on PATH"),
        ("$HOME/bin/llm --x", True, "'$HOME/bin/llm --x' runs under /bin/sh -c"),
    ],
)
def test_the_doctor_rows_look_at_the_real_program(
    make_settings: Make, setting: str, ok: bool, detail: str
) -> None:
    s = make_settings(PRIMARY="builtin", FALLBACK_LLM_CMD=setting)
    rows = describe(s, {"PATH": os.path.dirname(PY)})
    assert rows[0][:2] == ("cmd", ok) and detail in rows[0][2]
