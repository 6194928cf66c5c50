"""Phoenix's ``gemini_cli`` provider through the real Gemini CLI (npm, pinned) end to end.

The CLI is pointed at a loopback server speaking the Gemini REST API
(``GOOGLE_GEMINI_BASE_URL``; it calls ``:streamGenerateContent?alt=sse``) with a fake key, a
HOME whose ``.gemini/settings.json`` selects API-key auth, and the empty temporary directory
Phoenix runs it in trusted by the ``--skip-trust`` flag Phoenix passes. The installed
``phoenix --unattended`` then repairs a broken project through it; when the API fails, hangs or
cuts the stream, the CLI's failure must be a clear ``provider_failed`` and the builtin doctor
must take over, within Phoenix's timeout however long the CLI would retry on its own.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest
from cli_support import phoenix, user_env
from fakes.llm_servers import Action, Hang, LoopbackServer
from integration_support import GeminiRest, api_error, gemini_home, stream_cut

pytestmark = [pytest.mark.real_client, pytest.mark.timeout(240)]

PY = sys.executable
KEY = "AIzaFAKEKEYforthegeminiCLItest0123456789"
MODEL = "gemini-2.5-flash"

# Only a model can fix this one: the builtin doctor has no rule for it.
NEEDS_MODEL = """\
BATCH = 8
lr = -0.1


def main():
    if lr <= 0:
        raise ValueError("learning rate must be positive")
    print(f"step 1 loss 0.5 lr {lr}")


main()
"""
FIX = {
    "diagnosis": "The learning rate is negative; training needs a positive one.",
    "patches": [
        {
            "type": "replace_range",
            "path": "train.py",
            "start_line": 2,
            "end_line": 2,
            "original": "lr = -0.1\n",
            "replacement": "lr = 0.1\n",
        }
    ],
}
# The builtin doctor fixes this one ("Did you mean: 'learning_rate'?").
DOCTOR_FIXES = "learning_rate = 0.1\nprint('step 1 loss', lerning_rate)\n"


def run_phoenix(
    tmp_path: Path, cli: Path, server: LoopbackServer, train: str, timeout_s: int = 120
) -> tuple[Path, list[dict[str, object]], float]:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(train)
    env = user_env(
        HOME=str(gemini_home(tmp_path)),
        PHOENIX_TRAIN_CMD=f"{PY} train.py",
        PHOENIX_PRIMARY="gemini_cli",
        PHOENIX_GEMINI_CLI=str(cli),
        PHOENIX_LLM_TIMEOUT_SEC=str(timeout_s),
        PHOENIX_MAX_RETRIES="1",
        GEMINI_API_KEY=KEY,
        GEMINI_MODEL=MODEL,
        GOOGLE_GEMINI_BASE_URL=server.url,
    )
    for name in ("GOOGLE_API_KEY", "GOOGLE_CLOUD_PROJECT", "GOOGLE_GENAI_USE_VERTEXAI"):
        env.pop(name, None)
    started = time.monotonic()
    out = phoenix("--unattended", cwd=project, env=env, timeout=timeout_s + 120)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr[-3000:]
    assert KEY not in out.stdout + out.stderr
    rows = [json.loads(x) for x in (project / ".phoenix_cli/run.log").read_text().splitlines()]
    assert KEY not in json.dumps(rows)
    return project, rows, elapsed


def of(rows: list[dict[str, object]], event: str) -> list[dict[str, object]]:
    return [row for row in rows if row["event"] == event]


def test_the_real_cli_repairs_a_broken_project(tmp_path: Path, gemini_cli: Path) -> None:
    app = GeminiRest(reply=json.dumps(FIX))
    with LoopbackServer(app) as server:
        project, rows, _ = run_phoenix(tmp_path, gemini_cli, server, NEEDS_MODEL)
        asked = [s for s in server.seen if ":streamGenerateContent" in s.path]
    assert not app.unknown, f"the CLI called endpoints the fake does not know: {app.unknown}"
    assert not of(rows, "provider_failed"), of(rows, "provider_failed")
    proposed = of(rows, "patch_proposed")
    assert [row["provider"] for row in proposed] == ["gemini_cli"]
    assert of(rows, "diagnosis")[0]["text"] == FIX["diagnosis"]
    assert of(rows, "patch_applied") and rows[-1]["event"] == "run_completed"
    assert (project / "train.py").read_text() == NEEDS_MODEL.replace("lr = -0.1", "lr = 0.1")
    # What the CLI sent: Phoenix's prompt (from stdin), the model of -m, the key in a header.
    assert len(asked) == 1 and asked[0].path.endswith(f"/{MODEL}:streamGenerateContent?alt=sse")
    assert asked[0].headers["x-goog-api-key"] == KEY
    sent = json.dumps(asked[0].json)
    assert "learning rate must be positive" in sent and "replace_range" in sent


FAULTS: dict[str, tuple[Action, int, str]] = {
    # the API's behaviour, Phoenix's timeout, and what provider_failed must say
    "key_refused": (
        api_error(403, "PERMISSION_DENIED", "Permission denied: the API key is blocked"),
        120,
        "HTTP 403: Permission denied: the API key is blocked",
    ),
    # The CLI retries 5xx with backoff for minutes; Phoenix's timeout ends it.
    "server_error_retried": (
        api_error(500, "INTERNAL", "internal error"),
        10,
        "no reply within 10s (killed)",
    ),
    # The fake hangs 10 s (then hangs up); Phoenix's clock starts ~3 s earlier, with the CLI.
    "hangs": (Hang(), 8, "no reply within 8s (killed)"),
    "stream_cut": (stream_cut(), 120, "terminated"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_the_real_cli_failing_fails_over_to_the_builtin_doctor(
    tmp_path: Path, gemini_cli: Path, fault: str
) -> None:
    action, timeout_s, reason = FAULTS[fault]
    app = GeminiRest(reply=json.dumps(FIX), fault=action)
    with LoopbackServer(app) as server:
        project, rows, elapsed = run_phoenix(
            tmp_path, gemini_cli, server, DOCTOR_FIXES, timeout_s=timeout_s
        )
    failed = of(rows, "provider_failed")
    assert [row["provider"] for row in failed] == ["gemini_cli"], failed
    assert reason in str(failed[0]["reason"]), failed[0]["reason"]
    assert [row["provider"] for row in of(rows, "patch_proposed")] == ["builtin"]
    assert rows[-1]["event"] == "run_completed"
    assert "learning_rate)" in (project / "train.py").read_text()
    assert elapsed < timeout_s + 60, f"took {elapsed:.1f}s"
    # Nothing the CLI started outlives it (node and any helper it spawned).
    left = [p.info for p in psutil.process_iter(["pid", "cmdline"]) if _is_ours(p, gemini_cli)]
    assert not left, left


def _is_ours(proc: psutil.Process, cli: Path) -> bool:
    try:
        return any(str(cli.parent.parent) in part for part in proc.cmdline())
    except psutil.Error:
        return False
