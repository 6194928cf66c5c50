"""The chain: order, failover, provider_failed events, fallback cap, breaker, skip; and the
chain and doctor rows that the settings ask for."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes.llm_servers import Action, LoopbackServer, OpenAIApp, Seen, json_reply
from fakes.repair_requests import make_request
from virtual_time import VirtualTime

from phoenix_engine.core.settings import Settings, resolve
from phoenix_engine.errors import ProviderError
from phoenix_engine.events import Event, ProviderFailed
from phoenix_engine.llm._base import RepairRequest
from phoenix_engine.llm.chain import ProviderChain, build_chain, describe

SECRET = "AIzaSyCHAIN-0123456789abcdefghijklmnopq"


class Fake:
    """Answers each call with the next outcome: a reply, or an exception to raise."""

    def __init__(self, name: str, *outcomes: str | Exception) -> None:
        self.name = name
        self.outcomes = list(outcomes)
        self.calls = 0

    async def complete(self, request: RepairRequest) -> str:
        self.calls += 1
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def down(name: str, reason: str = "HTTP 503") -> Fake:
    return Fake(name, ProviderError(name, reason))


def chain(*entries: tuple[Fake, str], events: list[Event], **kw: Any) -> ProviderChain:
    kw.setdefault("fallback_max_per_run", 5)
    return ProviderChain(list(entries), emit=events.append, wall_clock=lambda: 42.0, **kw)


def failed(events: list[Event]) -> list[tuple[str, str]]:
    assert all(isinstance(e, ProviderFailed) for e in events)
    return [(e.provider, e.reason) for e in events if isinstance(e, ProviderFailed)]


async def test_first_answer_wins_in_order() -> None:
    events: list[Event] = []
    first, second = Fake("a", "reply-a"), Fake("b", "reply-b")
    c = chain((first, "primary"), (second, "fallback"), events=events)
    assert c.names == ("a", "b")
    assert await c.ask(make_request()) == ("a", "reply-a")
    assert second.calls == 0 and events == []


async def test_failover_emits_provider_failed_per_failure() -> None:
    events: list[Event] = []
    c = chain(
        (down("gemini_api", "HTTP 503"), "primary"),
        (Fake("openai", ValueError("bug")), "fallback"),
        (Fake("builtin", "offline reply"), "builtin"),
        events=events,
    )
    assert await c.ask(make_request()) == ("builtin", "offline reply")
    assert failed(events) == [
        ("gemini_api", "HTTP 503"),
        ("openai", "internal error: ValueError: bug"),
    ]
    assert events[0].ts == 42.0


async def test_empty_reply_is_a_failure_and_all_failing_gives_none() -> None:
    events: list[Event] = []
    c = chain((Fake("a", "  \n"), "primary"), (down("b"), "builtin"), events=events)
    assert await c.ask(make_request()) is None
    assert failed(events) == [("a", "empty reply"), ("b", "HTTP 503")]


async def test_reasons_are_redacted() -> None:
    events: list[Event] = []
    leaky = down("a", f"echoed {SECRET}")
    c = chain((leaky, "primary"), events=events, redact=lambda s: s.replace(SECRET, "[R]"))
    await c.ask(make_request())
    assert failed(events) == [("a", "echoed [R]")]


async def test_fallback_cap_counts_each_use() -> None:
    events: list[Event] = []
    fallback = Fake("cmd", "from fallback")
    c = chain((down("p"), "primary"), (fallback, "fallback"), events=events, fallback_max_per_run=2)
    for _ in range(3):
        events.clear()
        result = await c.ask(make_request())
    assert result is None and fallback.calls == 2 and c.fallback_used == 2
    assert failed(events)[1][0] == "cmd"
    assert "fallback cap reached (2 per run" in failed(events)[1][1]


async def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    events: list[Event] = []
    clock = VirtualTime(1000.0)
    flaky = down("gemini_cli")
    last = Fake("builtin", "ok")
    c = chain(
        (flaky, "primary"),
        (last, "builtin"),
        events=events,
        clock=clock,
        breaker_threshold=3,
        breaker_cooldown_s=600,
    )
    for _ in range(4):
        await c.ask(make_request())
    assert flaky.calls == 3
    assert failed(events)[-1] == (
        "gemini_cli",
        "skipped: failed 3 times in a row; next try in 600s",
    )
    clock.now += 601
    await c.ask(make_request())
    assert flaky.calls == 4  # half-open: one try, which failed: open again
    clock.now += 10
    await c.ask(make_request())
    assert flaky.calls == 4
    flaky.outcomes = ["back"]
    clock.now += 601
    assert await c.ask(make_request()) == ("gemini_cli", "back")
    assert await c.ask(make_request()) == ("gemini_cli", "back")
    assert flaky.calls == 6


async def test_builtin_is_never_broken() -> None:
    events: list[Event] = []
    builtin = down("builtin")
    c = chain((builtin, "builtin"), events=events, breaker_threshold=1)
    for _ in range(3):
        await c.ask(make_request())
    assert builtin.calls == 3


async def test_skip_passes_over_silently() -> None:
    events: list[Event] = []
    a, b = Fake("a", "ra"), Fake("b", "rb")
    c = chain((a, "primary"), (b, "builtin"), events=events)
    assert await c.ask(make_request(), skip={"a"}) == ("b", "rb")
    assert a.calls == 0 and events == []
    assert await c.ask(make_request(), skip=("a", "b")) is None


async def test_empty_chain() -> None:
    events: list[Event] = []
    c = chain(events=events)
    assert c.names == () and await c.ask(make_request()) is None and events == []


def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="role 'secondary'"):
        ProviderChain([(Fake("a", "x"), "secondary")], fallback_max_per_run=1, emit=print)


# --- build_chain / describe ----------------------------------------------------------------


def settings(tmp_path: Path, **env: str) -> Settings:
    return resolve(project_dir=tmp_path, env={"PHOENIX_TRAIN_CMD": "python train.py", **env})


def build(tmp_path: Path, **env: str) -> ProviderChain:
    return build_chain(
        settings(tmp_path, **env),
        env=env,
        emit=lambda e: None,
        builtin=lambda: Fake("builtin", "offline"),
    )


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, ("gemini_cli", "builtin")),  # fallback type cmd without commands: left out
        ({"PHOENIX_FALLBACK_LLM_CMD": "ollama run x"}, ("gemini_cli", "cmd", "builtin")),
        (
            {"PHOENIX_PRIMARY": "gemini_api", "PHOENIX_FALLBACK_LLM_TYPE": "api"},
            ("gemini_api", "openai", "builtin"),
        ),
        ({"PHOENIX_PRIMARY": "openai", "PHOENIX_FALLBACK_LLM_TYPE": "api"}, ("openai", "builtin")),
        ({"PHOENIX_PRIMARY": "builtin", "PHOENIX_FALLBACK_LLM_CMD": "x"}, ("cmd", "builtin")),
        ({"PHOENIX_PRIMARY": "none", "PHOENIX_FALLBACK_LLM_CMD": "x"}, ()),
    ],
)
def test_build_chain_order(tmp_path: Path, env: dict[str, str], names: tuple[str, ...]) -> None:
    assert build(tmp_path, **env).names == names


async def test_gemini_api_without_key_fails_at_first_use(tmp_path: Path) -> None:
    events: list[Event] = []
    s = settings(tmp_path, PHOENIX_PRIMARY="gemini_api")
    c = build_chain(s, env={}, emit=events.append, builtin=lambda: Fake("builtin", "offline"))
    assert await c.ask(make_request()) == ("builtin", "offline")
    assert failed(events) == [("gemini_api", "no API key: GEMINI_API_KEY is not set")]


def test_describe_rows(tmp_path: Path) -> None:
    python_dir = os.path.dirname(sys.executable)
    env = {
        "PATH": python_dir,
        "PHOENIX_PRIMARY": "gemini_api",
        "GEMINI_API_KEY": SECRET,
        "PHOENIX_FALLBACK_LLM_CMD": f"{os.path.basename(sys.executable)} ask.py;nope-llm",
    }
    rows = describe(settings(tmp_path, **env), env)
    assert [(name, ok) for name, ok, _ in rows] == [
        ("gemini_api", True),
        ("cmd", True),
        ("builtin", True),
    ]
    assert all(SECRET not in detail for _, _, detail in rows)
    assert "key in GEMINI_API_KEY (hidden)" in rows[0][2]
    assert python_dir in rows[1][2] and "'nope-llm' not found on PATH" in rows[1][2]


def test_describe_missing_pieces(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path), "PHOENIX_GEMINI_CLI": "gemini --debug"}
    rows = describe(settings(tmp_path, **env), env)
    assert rows == [
        ("gemini_cli", False, "primary: 'gemini' not found on PATH"),
        ("cmd", False, "fallback: not used: PHOENIX_FALLBACK_LLM_CMD is empty"),
        ("builtin", True, "last resort: offline rules, always available"),
    ]
    url = "http://u:pw@127.0.0.1:8080/v1/chat/completions?k=1"
    api = {"PHOENIX_FALLBACK_LLM_TYPE": "api", "PHOENIX_FALLBACK_LLM_URL": url}
    (_, (name, ok, detail), _) = describe(settings(tmp_path, **api), api)
    assert (name, ok) == ("openai", True)
    assert detail.startswith("fallback: http://127.0.0.1:8080/v1/chat/completions; model auto")
    assert "pw" not in detail


async def test_built_chain_fails_over_from_gemini_to_openai_on_loopback(tmp_path: Path) -> None:
    openai = OpenAIApp(models=("qwen2.5-coder:7b",), reply='{"patches": []}')

    def both(seen: Seen) -> Action:
        if seen.path.startswith("/v1beta/"):
            return json_reply({"error": {"code": 503, "message": f"overloaded {SECRET}"}}, 503)
        return openai(seen)

    events: list[Event] = []
    with LoopbackServer(both) as server:
        env = {
            "PHOENIX_PRIMARY": "gemini_api",
            "GEMINI_API_KEY": SECRET,
            "PHOENIX_GEMINI_BASE_URL": server.url,
            "PHOENIX_FALLBACK_LLM_TYPE": "api",
            "PHOENIX_FALLBACK_LLM_URL": f"{server.url}/v1/chat/completions",
            "PHOENIX_LLM_TIMEOUT_SEC": "5",
        }
        c = build_chain(
            settings(tmp_path, **env),
            env=env,
            emit=events.append,
            transport=httpx.AsyncHTTPTransport(),
            free_vram_bytes=lambda: 8 * 10**9,
            builtin=lambda: Fake("builtin", "offline"),
        )
        assert await c.ask(make_request()) == ("openai", '{"patches": []}')
    assert failed(events) == [("gemini_api", "HTTP 503: overloaded [REDACTED]")]
    assert [s.path for s in server.seen][1:] == ["/v1/models", "/v1/chat/completions"]
