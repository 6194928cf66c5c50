"""The real ``gemini`` command, run headless in an empty temporary directory.

The prompt goes on stdin under a short ``-p`` instruction; ``-o json`` asks for an envelope
whose ``response`` field is the reply (plain text is accepted too). ``--approval-mode plan`` and
an empty working directory mean the agent can neither read nor edit the project: Phoenix vets
and applies patches itself. The CLI retries 429s for minutes on its own, so Phoenix's timeout
decides, and a timed-out CLI is killed with its whole process group.
"""

from __future__ import annotations

__all__ = ["INSTRUCTION", "GeminiCli", "cli_env"]

import json
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from phoenix_engine.errors import ProviderError
from phoenix_engine.io import scratch
from phoenix_engine.llm._base import RepairRequest
from phoenix_engine.llm._http import MAX_REPLY_BYTES, server_message
from phoenix_engine.llm._proc import (
    ProcFailure,
    ProcResult,
    exit_text,
    last_line,
    run_command,
)

INSTRUCTION = (
    "Answer the request given on standard input. Reply only in the format it asks for. "
    "Do not use tools; do not read or write files."
)

# What the CLI needs to find itself, its login and the network; nothing of the training run.
_PASS_NAMES = frozenset(
    {"HOME", "PATH", "USER", "LOGNAME", "SHELL", "LANG", "TERM", "TMPDIR", "TZ"}
    | {"SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS"}
    | {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"}
    | {"http_proxy", "https_proxy", "no_proxy", "all_proxy"}
)
_PASS_PREFIXES = ("GEMINI_", "GOOGLE_", "CLOUDSDK_", "LC_", "XDG_")
_MAX_JSON_TRIES = 3  # lines starting with "{" tried as the envelope (notices may come first)


def cli_env(env: Mapping[str, str], api_key: str = "") -> dict[str, str]:
    """The variables passed to the CLI; ``api_key`` (from GEMINI_API_KEY_ENV) wins."""
    passed = {k: v for k, v in env.items() if k in _PASS_NAMES or k.startswith(_PASS_PREFIXES)}
    if api_key:
        passed["GEMINI_API_KEY"] = api_key
    return passed


class GeminiCli:
    """``gemini -p INSTRUCTION -o json --approval-mode plan --skip-trust [-m MODEL] < prompt``."""

    def __init__(
        self,
        *,
        command: Sequence[str] = ("gemini",),
        model: str = "",
        timeout_s: float = 180.0,
        env: Mapping[str, str],
        api_key: str = "",
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.name = "gemini_cli"
        self.argv: tuple[str, ...] = (
            *(command or ("gemini",)),
            *("-p", INSTRUCTION, "-o", "json", "--approval-mode", "plan", "--skip-trust"),
            *(("-m", model) if model else ()),
        )
        self._timeout_s = timeout_s
        self._env = cli_env(env, api_key)
        self._cap = max_reply_bytes

    def __repr__(self) -> str:  # the environment (and any key in it) stays out
        return f"GeminiCli(argv={self.argv!r})"

    async def complete(self, request: RepairRequest) -> str:
        with tempfile.TemporaryDirectory(prefix=scratch.prefix("gemini")) as empty:
            try:
                result = await run_command(
                    self.argv,
                    stdin=request.prompt.encode(),
                    cwd=Path(empty),
                    env=self._env,
                    timeout_s=self._timeout_s,
                    max_stdout=self._cap,
                )
            except ProcFailure as exc:
                raise ProviderError(self.name, exc.reason) from exc
        return _reply(result, self.name)


def _reply(result: ProcResult, name: str) -> str:
    text = result.stdout.decode("utf-8", "replace")
    envelope = _envelope(text)
    if result.returncode != 0:
        said = _error(envelope) or _error(_envelope(result.stderr.decode("utf-8", "replace")))
        said = said or last_line(result.stderr) or last_line(result.stdout) or "no output"
        raise ProviderError(name, f"{exit_text(result.returncode)}: {said}")
    if envelope is None:
        reply = text.strip()  # plain text: an older CLI, or one without -o json
    elif isinstance(envelope.get("response"), str):
        reply = envelope["response"]
    else:
        raise ProviderError(name, _error(envelope) or "JSON output has no response field")
    if not reply.strip():
        raise ProviderError(name, "empty reply")
    return reply


def _envelope(text: str) -> dict[str, Any] | None:
    """The CLI's JSON object (``response``/``error``), skipping any notice printed before it."""
    stripped = text.strip()
    starts = [0] + [i + 1 for i, ch in enumerate(stripped) if ch == "\n"]
    objects = [i for i in starts if stripped.startswith("{", i)][:_MAX_JSON_TRIES]
    for start in objects:
        try:
            data = json.loads(stripped[start:])
        except ValueError:
            continue
        found = isinstance(data, dict) and ("response" in data or "error" in data)
        return data if found else None
    return None


def _error(envelope: dict[str, Any] | None) -> str:
    error = (envelope or {}).get("error")
    if isinstance(error, dict):
        error = error.get("message") or error.get("type")
    return last_line(_api_message(str(error)).encode()) if error else ""


def _api_message(message: str) -> str:
    """``HTTP 403: <the API's message>`` when the CLI passes on the API's JSON error body."""
    try:
        data = json.loads(message)
    except ValueError:
        return message
    said = server_message(data)
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    if not said:
        return message
    return f"HTTP {code}: {said}" if isinstance(code, int) else said
