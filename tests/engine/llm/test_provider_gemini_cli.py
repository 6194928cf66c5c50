"""gemini_cli: a fake ``gemini`` first on PATH records how it was run and answers as told."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fakes.processes import alive
from fakes.repair_requests import make_request

from phoenix_engine.errors import ProviderError
from phoenix_engine.llm.gemini_cli import INSTRUCTION, GeminiCli, cli_env

FAKE = Path(__file__).resolve().parents[2] / "support" / "fakes" / "gemini_fake.py"
PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """PATH with a ``gemini`` wrapper first, and where the fake writes its record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "gemini"
    wrapper.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE))} "$@"\n'
    )
    wrapper.chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(tmp_path),
        "GEMINI_FAKE_LOG": str(tmp_path / "record.json"),
        "GOOGLE_CLOUD_PROJECT": "p",
        "WANDB_API_KEY": "not-for-gemini-0123456789",
        "TRAIN_LR": "3e-4",
    }


def record(env: dict[str, str]) -> Any:
    return json.loads(Path(env["GEMINI_FAKE_LOG"]).read_text())


def cli(env: dict[str, str], mode: str = "json", **kw: Any) -> GeminiCli:
    kw.setdefault("timeout_s", 10.0)
    return GeminiCli(env={**env, "GEMINI_FAKE_MODE": mode}, **kw)


async def test_headless_flags_prompt_on_stdin_and_an_empty_cwd(env: dict[str, str]) -> None:
    reply = await cli(env, model="gemini-2.5-pro").complete(
        make_request("PROMPT", project_dir=PROJECT)
    )
    assert reply == '{"patches": []}'
    seen = record(env)
    argv = seen["argv"]
    assert argv[argv.index("-p") + 1] == INSTRUCTION
    assert argv[argv.index("-o") + 1] == "json"
    assert argv[argv.index("-m") + 1] == "gemini-2.5-pro"
    assert argv[argv.index("--approval-mode") + 1] == "plan"
    assert "--skip-trust" in argv
    assert "PROMPT" not in " ".join(argv)
    assert seen["stdin"] == "PROMPT"
    cwd = Path(seen["cwd"])
    assert seen["cwd_entries"] == []
    assert cwd != PROJECT and PROJECT not in cwd.parents and not cwd.exists()


async def test_no_model_no_m_flag(env: dict[str, str]) -> None:
    await cli(env).complete(make_request())
    assert "-m" not in record(env)["argv"]


async def test_environment_is_filtered_and_the_key_passed(env: dict[str, str]) -> None:
    await cli(env, api_key="AIza-from-MY_KEY").complete(make_request())
    seen = record(env)
    assert {"PATH", "HOME", "GOOGLE_CLOUD_PROJECT", "GEMINI_API_KEY"} <= set(seen["env"])
    assert "WANDB_API_KEY" not in seen["env"] and "TRAIN_LR" not in seen["env"]
    assert seen["gemini_api_key"] == "AIza-from-MY_KEY"
    assert "AIza" not in repr(cli(env, api_key="AIza-from-MY_KEY"))


def test_cli_env_keeps_what_the_cli_needs() -> None:
    kept = cli_env({"HOME": "h", "LC_ALL": "C", "XDG_CONFIG_HOME": "x", "HF_TOKEN": "t"})
    assert kept == {"HOME": "h", "LC_ALL": "C", "XDG_CONFIG_HOME": "x"}


@pytest.mark.parametrize("mode", ["json", "noisy", "text"])
async def test_json_response_field_or_plain_text(env: dict[str, str], mode: str) -> None:
    env["GEMINI_FAKE_REPLY"] = '{"diagnosis": "lr undefined"}'
    assert await cli(env, mode).complete(make_request()) == '{"diagnosis": "lr undefined"}'


async def test_non_zero_exit_reports_the_cli_error(env: dict[str, str]) -> None:
    with pytest.raises(ProviderError) as caught:
        await cli(env, "fail").complete(make_request())
    assert caught.value.reason == "exit status 1: quota exhausted"


async def test_flood_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(ProviderError, match="output larger than 2 MB"):
        await cli(env, "flood").complete(make_request())


async def test_hang_is_killed_at_the_timeout_with_its_child(env: dict[str, str]) -> None:
    started = time.monotonic()
    with pytest.raises(ProviderError, match=r"no reply within 1.5s \(killed\)"):
        await cli(env, "hang", timeout_s=1.5).complete(make_request())
    assert time.monotonic() - started < 4
    child = record(env)["child_pid"]
    assert not alive(child)


async def test_missing_executable(env: dict[str, str]) -> None:
    with pytest.raises(ProviderError, match="cannot start 'no-such-gemini'"):
        await cli(env, command=["no-such-gemini"]).complete(make_request())
