"""cmd: commands tried in order, prompt on stdin, reply on stdout; each failure moves on;
each runs by the one shell rule (argv when plain, /bin/sh -c with shell syntax)."""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path

import pytest
from fakes.processes import alive
from fakes.repair_requests import make_request

from phoenix_engine.errors import ProviderError
from phoenix_engine.llm.cmd import CmdProvider

PY = shlex.quote(sys.executable)


def py(code: str) -> str:
    return f"{PY} -c {shlex.quote(code)}"


ECHO_UPPER = py("import sys; print(sys.stdin.read().upper(), end='')")
FAIL = py("import sys; print('model not found', file=sys.stderr); sys.exit(3)")
SLEEP = py("import time; time.sleep(30)")


def provider(
    *commands: str,
    timeout_s: float = 5.0,
    max_reply_bytes: int = 2**21,
    env: dict[str, str] | None = None,
) -> CmdProvider:
    return CmdProvider(
        commands=commands,
        timeout_s=timeout_s,
        env=dict(os.environ) if env is None else env,
        max_reply_bytes=max_reply_bytes,
    )


ARGS = "import os, sys; print(os.environ.get('V'), sys.argv[1:], end='')"


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        (f"{py(ARGS)} a 'b c'", "None ['a', 'b c']"),  # plain: exec'd as its words
        (f"{py(ARGS)} '$HOME' '*'", "None ['$HOME', '*']"),  # quoted: nothing expands
        (f"V=1 {py(ARGS)}", "1 []"),  # an env assignment, as in a terminal
        (f"env V=2 {py(ARGS)}", "2 []"),
        (f'"$PHX_PY" -c {shlex.quote(ARGS)} "$PHX_HOME"', "None ['/home/me']"),  # variables
        (f"{py(ARGS)} ~/x", "None ['/home/me/x']"),  # a home directory
        (f"cd / && {py(ARGS)} $(pwd)", "None ['/']"),  # a builtin, a command substitution
        (f"{py('print(0)')} >/dev/null; {py(ARGS)} 2>&1 | cat", "None []"),  # lists, pipes
    ],
)
async def test_each_command_runs_by_the_shell_rule(command: str, reply: str) -> None:
    env = {**os.environ, "PHX_PY": sys.executable, "PHX_HOME": "/home/me", "HOME": "/home/me"}
    assert await provider(command, env=env).complete(make_request()) == reply


async def test_first_command_that_answers_wins() -> None:
    second = py("print('second')")
    assert await provider(ECHO_UPPER, second).complete(make_request("fix it")) == "FIX IT"


async def test_non_zero_exit_moves_to_the_next() -> None:
    assert await provider(FAIL, ECHO_UPPER).complete(make_request("abc")) == "ABC"


async def test_timeout_moves_to_the_next_and_kills_the_first() -> None:
    started = time.monotonic()
    reply = await provider(SLEEP, ECHO_UPPER, timeout_s=0.5).complete(make_request("x"))
    assert reply == "X"
    assert time.monotonic() - started < 3


def shown(command: str, as_shown: str) -> bool:
    """Is ``as_shown`` the command (whitespace collapsed), or its start cut with '...'?"""
    flat = " ".join(command.split())
    return as_shown == flat or (as_shown.endswith("...") and flat.startswith(as_shown[:-3]))


async def test_all_fail_names_each_reason() -> None:
    empty = py("pass")
    commands = (FAIL, SLEEP, empty, "no-such-llm-binary --x")
    with pytest.raises(ProviderError) as caught:
        await provider(*commands, timeout_s=0.3).complete(make_request())
    # "<command>: <reason>" per command, joined by "; " (a command may hold "; " itself, so
    # the whole text is matched, and each shown command checked against its own)
    reasons = re.fullmatch(
        r"(.+): exit status 3 \(model not found\); "
        r"(.+): no reply within 0\.3s \(killed\); "
        r"(.+): empty reply; "
        r"(.+): cannot start 'no-such-llm-binary': No such file or directory",
        caught.value.reason,
    )
    assert reasons is not None, caught.value.reason
    assert all(shown(c, r) for c, r in zip(commands, reasons.groups(), strict=True))
    assert reasons[4] == "no-such-llm-binary --x"
    assert caught.value.provider == "cmd"


async def test_no_commands_is_a_failure() -> None:
    with pytest.raises(ProviderError, match="no command configured"):
        await provider().complete(make_request())


async def test_runs_in_an_empty_directory_outside_the_project(tmp_path: Path) -> None:
    show = py("import os; print(os.getcwd(), os.listdir('.'))")
    reply = await provider(show).complete(make_request(project_dir=tmp_path))
    cwd, entries = reply.split(" ", 1)
    assert entries.strip() == "[]"
    assert Path(cwd) != tmp_path and not Path(cwd).exists()  # and it was removed afterwards


async def test_flood_is_cut_at_the_cap() -> None:
    flood = py("import sys; sys.stdout.write('y' * 100_000); sys.stdout.flush()")
    with pytest.raises(ProviderError, match=r"output larger than .* MB \(killed\)"):
        await provider(flood, max_reply_bytes=10_000).complete(make_request())


async def test_a_timed_out_command_leaves_no_process_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(60)\n"
    )
    with pytest.raises(ProviderError, match="no reply within"):
        await provider(py(code), timeout_s=1.0).complete(make_request())
    assert not alive(int(pid_file.read_text()))
