"""The installed ``phoenix --unattended`` when its LLM server misbehaves at 3 a.m.

A real loopback server (``fakes.llm_servers``) stands in for an OpenAI-compatible server
(``PHOENIX_PRIMARY=openai``) or the Gemini REST API (``PHOENIX_PRIMARY=gemini_api``) and, asked
for a repair, dies mid-reply, hangs forever, streams 10 MB, or answers with an HTML page. Each
time the journal must hold a ``provider_failed`` with a reason a person can act on, the chain
must fail over to the builtin doctor, whose fix must be applied, and the run must complete
within a bound set by ``PHOENIX_LLM_TIMEOUT_SEC``, never hang with the server.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_support import phoenix, user_env
from fakes.llm_servers import (
    Action,
    Drop,
    Hang,
    Huge,
    LoopbackServer,
    Reply,
    Seen,
    json_reply,
)

# Broken in a way only the builtin doctor fixes here ("Did you mean: 'learning_rate'?").
TRAIN = "learning_rate = 0.1\nprint('step 1 loss', lerning_rate)\n"
FIXED = "learning_rate = 0.1\nprint('step 1 loss', learning_rate)\n"
TIMEOUT_S = 2
# Phoenix's start, two runs of the training, the shadow run, and the one timed-out request.
BOUND_S = 30.0
KEY = "AIzaFAKEKEYfortests0123456789abcdefghij"

HTML = b"""<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>
<body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"""

FAULTS: dict[str, tuple[Action, str]] = {
    # action of the server when asked for a completion, and what the reason must say
    "dies_mid_reply": (Drop(declared=4000), "connection closed mid-reply"),
    "hangs": (Hang(), f"no reply within {TIMEOUT_S}s"),
    "10mb_declared": (Huge(), "reply larger than 2 MB; aborted"),
    "10mb_streamed": (Huge(declare_length=False), "reply larger than 2 MB; aborted"),
    "html_200": (
        Reply(status=200, body=HTML, content_type="text/html"),
        "got an HTML page, not JSON (HTTP 200: 502 Bad Gateway)",
    ),
    "html_502": (
        Reply(status=502, body=HTML, content_type="text/html"),
        "error page (HTTP 502: 502 Bad Gateway)",
    ),
}


def openai_server(fault: Action) -> Callable[[Seen], Action]:
    """Lists one model, then meets every completion request with ``fault``."""

    def handle(seen: Seen) -> Action:
        if seen.method == "GET" and seen.path == "/v1/models":
            return json_reply({"object": "list", "data": [{"id": "local-7b", "object": "model"}]})
        return fault

    return handle


def gemini_server(fault: Action) -> Callable[[Seen], Action]:
    def handle(seen: Seen) -> Action:
        return fault

    return handle


def make_project(tmp_path: Path) -> Path:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    return project


def journal(project: Path) -> list[dict[str, object]]:
    lines = (project / ".phoenix_cli" / "run.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def run_against(
    tmp_path: Path, provider: str, server: LoopbackServer
) -> tuple[Path, list[dict[str, object]], float]:
    project = make_project(tmp_path)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{sys.executable} train.py",
        PHOENIX_PRIMARY=provider,
        PHOENIX_LLM_TIMEOUT_SEC=str(TIMEOUT_S),
        PHOENIX_MAX_RETRIES="1",
    )
    if provider == "openai":
        env["PHOENIX_FALLBACK_LLM_URL"] = f"{server.url}/v1/chat/completions"
    else:
        env.update(PHOENIX_GEMINI_BASE_URL=server.url, GEMINI_API_KEY=KEY)
    started = time.monotonic()
    out = phoenix("--unattended", cwd=project, env=env, timeout=BOUND_S * 2)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert KEY not in out.stdout + out.stderr
    return project, journal(project), elapsed


@pytest.mark.parametrize("provider", ["openai", "gemini_api"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_misbehaving_server_fails_over_to_the_builtin_doctor(
    tmp_path: Path, provider: str, fault: str
) -> None:
    action, reason = FAULTS[fault]
    handler = openai_server(action) if provider == "openai" else gemini_server(action)
    with LoopbackServer(handler) as server:
        project, rows, elapsed = run_against(tmp_path, provider, server)
        asked = [s for s in server.seen if s.method == "POST"]
    names = [str(row["event"]) for row in rows]
    failed = [row for row in rows if row["event"] == "provider_failed"]
    assert [row["provider"] for row in failed] == [provider], failed
    assert failed[0]["reason"] == reason
    proposed = [row for row in rows if row["event"] == "patch_proposed"]
    assert [row["provider"] for row in proposed] == ["builtin"]
    at = names.index("provider_failed")
    assert names[at - 1] == "repair_requested"
    assert names[at + 1 : at + 3] == ["diagnosis", "patch_proposed"]
    assert "patch_applied" in names and names[-1] == "run_completed"
    assert (project / "train.py").read_text() == FIXED
    assert len(asked) == 1  # one request; no retry loop against a broken server
    if provider == "gemini_api":
        assert asked[0].headers["x-goog-api-key"] == KEY and KEY not in asked[0].path
    assert elapsed < BOUND_S, f"took {elapsed:.1f}s"
    raw = (project / ".phoenix_cli" / "run.log").read_text()
    assert KEY not in raw


def test_a_server_that_is_gone_fails_over_at_once(tmp_path: Path) -> None:
    """Connection refused: nothing listens on the port any more (the server was killed)."""
    with LoopbackServer(openai_server(Hang())) as server:
        url = server.url
    project = make_project(tmp_path)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{sys.executable} train.py",
        PHOENIX_PRIMARY="openai",
        PHOENIX_FALLBACK_LLM_URL=f"{url}/v1/chat/completions",
        PHOENIX_LLM_TIMEOUT_SEC="30",
    )
    started = time.monotonic()
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 0, out.stderr
    assert time.monotonic() - started < BOUND_S
    failed = [row for row in journal(project) if row["event"] == "provider_failed"]
    assert len(failed) == 1 and failed[0]["provider"] == "openai"
    assert str(failed[0]["reason"]).startswith("cannot connect")


# What Gemini CLI 0.61 prints when the API refuses (its exit status varies: 144 for a 400, 147
# for a 403): a stack trace on stderr, then its JSON envelope whose message is the API's own
# JSON error body. Recorded from the real CLI (tests/integration/test_gemini_cli.py drives it live).
API_ERROR = {"code": 403, "message": "Permission denied: the key is blocked", "status": "DENIED"}
CLI_STDERR = (
    'Error when talking to Gemini API ApiError: {"error":{"code":403}}\n'
    "    at async Turn.run (file:///gemini-cli/bundle/chunk.js:333001:24) {\n"
    "  status: 403\n}\n"
) + json.dumps(
    {
        "session_id": "7beda1fd-7315-43d4-bc2b-d63dc2e73e9a",
        "error": {"type": "Error", "message": json.dumps({"error": API_ERROR}), "code": 403},
    },
    indent=2,
)
CLI_REFUSED = f"import sys\nsys.stdin.read()\nsys.stderr.write({CLI_STDERR!r})\nsys.exit(147)\n"


def test_the_gemini_cli_error_envelope_becomes_a_short_reason(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    cli = tmp_path / "gemini_cli.py"
    cli.write_text(CLI_REFUSED)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{sys.executable} train.py",
        PHOENIX_PRIMARY="gemini_cli",
        PHOENIX_GEMINI_CLI=f"{sys.executable} {cli}",
    )
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 0, out.stderr
    failed = [row for row in journal(project) if row["event"] == "provider_failed"]
    assert [row["reason"] for row in failed] == [
        "exit status 147: HTTP 403: Permission denied: the key is blocked"
    ]
    proposed = [row for row in journal(project) if row["event"] == "patch_proposed"]
    assert [row["provider"] for row in proposed] == ["builtin"]
