"""Local commands as an LLM (``PHOENIX_FALLBACK_LLM_CMD``): prompt on stdin, reply on stdout.

The commands (``;``-separated in the setting) are tried in order; a non-zero exit, a timeout,
an empty reply or output past the cap moves on to the next. Each runs by the one shell rule
(:mod:`phoenix_engine.core.command_line`), as the training does: a plain line is exec'd as its
words, one with shell syntax (``V=1 llama-cli ...``, ``$HOME/bin/llm``) under ``/bin/sh -c``.
Each runs in a new session in an empty temporary directory, so a local agent cannot edit the
project behind Phoenix's back, and a hung one is killed with its process group. When every
command fails, the ProviderError names each one's reason.
"""

from __future__ import annotations

__all__ = ["CmdProvider"]

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from phoenix_engine.core.command_line import parse
from phoenix_engine.errors import ProviderError
from phoenix_engine.io import scratch
from phoenix_engine.llm._base import RepairRequest
from phoenix_engine.llm._http import MAX_REPLY_BYTES, one_line
from phoenix_engine.llm._proc import ProcFailure, exit_text, last_line, run_command

_SHOWN_CHARS = 40  # of a command line, in a reason


class CmdProvider:
    """Tries each command in turn; the first non-empty stdout of a zero exit is the reply."""

    def __init__(
        self,
        *,
        commands: Sequence[str],
        timeout_s: float = 180.0,
        env: Mapping[str, str],
        max_reply_bytes: int = MAX_REPLY_BYTES,
        name: str = "cmd",
    ) -> None:
        self.name = name
        self.commands = tuple(c.strip() for c in commands if c.strip())
        self._timeout_s = timeout_s
        self._env = dict(env)
        self._cap = max_reply_bytes

    def __repr__(self) -> str:
        return f"CmdProvider(commands={self.commands!r})"

    async def complete(self, request: RepairRequest) -> str:
        if not self.commands:
            raise ProviderError(self.name, "no command configured (PHOENIX_FALLBACK_LLM_CMD)")
        failures: list[str] = []
        for command in self.commands:
            try:
                return await self._run(command, request.prompt)
            except ProcFailure as exc:
                failures.append(f"{one_line(command, _SHOWN_CHARS)}: {exc.reason}")
        raise ProviderError(self.name, "; ".join(failures))

    async def _run(self, command: str, prompt: str) -> str:
        argv = parse(command).argv  # an unbalanced quote: /bin/sh says what is wrong
        if not argv:
            raise ProcFailure("empty command")
        with tempfile.TemporaryDirectory(prefix=scratch.prefix("cmd")) as empty:
            result = await run_command(
                argv,
                stdin=prompt.encode(),
                cwd=Path(empty),
                env=self._env,
                timeout_s=self._timeout_s,
                max_stdout=self._cap,
            )
        if result.returncode != 0:
            said = last_line(result.stderr) or last_line(result.stdout)
            raise ProcFailure(exit_text(result.returncode) + (f" ({said})" if said else ""))
        reply = result.stdout.decode("utf-8", "replace")
        if not reply.strip():
            raise ProcFailure("empty reply")
        return reply
