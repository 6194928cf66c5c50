"""Which providers the settings ask for, how each is built, and what ``phoenix doctor`` says.

The plan is: the primary (unless ``builtin`` or ``none``), then the fallback when it is
configured (``api``: the OpenAI-compatible URL; ``cmd``: the commands) and not the primary
again, then ``builtin`` last. ``none`` means no provider at all. A primary is always built,
even when unusable (``gemini_api`` without a key): the choice was explicit, so its failure is
reported where the user looks, as a provider_failed event, instead of vanishing from the chain.
"""

from __future__ import annotations

__all__ = ["describe", "load_builtin", "make_provider", "planned"]

import importlib
import shutil
from collections.abc import Callable, Mapping
from typing import cast
from urllib.parse import urlsplit, urlunsplit

import httpx

from phoenix_engine.core.command_line import argv_prefix, parse
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.llm._base import Provider
from phoenix_engine.llm.cmd import CmdProvider
from phoenix_engine.llm.gemini_api import GeminiApi
from phoenix_engine.llm.gemini_cli import GeminiCli
from phoenix_engine.llm.openai import OpenAICompat

FreeVram = Callable[[], int | None]


def planned(settings: Settings) -> list[tuple[str, str]]:
    """``(provider kind, role)`` in the order they are asked."""
    if settings.primary == "none":
        return []
    plan = [] if settings.primary == "builtin" else [(settings.primary, "primary")]
    fallback = _fallback_kind(settings)
    if fallback and fallback != settings.primary:
        plan.append((fallback, "fallback"))
    return [*plan, ("builtin", "builtin")]


def _fallback_kind(settings: Settings) -> str:
    if settings.fallback_llm_type == "api":
        return "openai" if settings.fallback_llm_url else ""
    return "cmd" if settings.fallback_llm_cmd else ""


def _cli_model(settings: Settings) -> str:
    """``-m`` only for a model the user chose; otherwise the CLI picks its own."""
    return "" if settings.sources.get("gemini_model") == "default" else settings.gemini_model


def make_provider(
    kind: str,
    settings: Settings,
    env: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None,
    free_vram_bytes: FreeVram,
) -> Provider:
    """One provider of ``kind`` (not ``builtin``: see :func:`load_builtin`)."""
    timeout = settings.llm_timeout_sec
    if kind == "gemini_api":
        return GeminiApi(
            api_key=settings.gemini_api_key,
            model=settings.gemini_model,
            base_url=settings.gemini_base_url,
            timeout_s=timeout,
            key_env=settings.gemini_api_key_env,
            transport=transport,
        )
    if kind == "gemini_cli":
        command = argv_prefix(settings.gemini_cli) or ("gemini",)  # the one shell rule
        model = _cli_model(settings)
        key = settings.gemini_api_key
        return GeminiCli(command=command, model=model, timeout_s=timeout, env=env, api_key=key)
    if kind == "openai":
        return OpenAICompat(
            url=settings.fallback_llm_url,
            model=settings.fallback_llm_model,
            timeout_s=timeout,
            transport=transport,
            free_vram_bytes=free_vram_bytes,
        )
    if kind == "cmd":
        return CmdProvider(commands=settings.fallback_llm_cmd, timeout_s=timeout, env=env)
    raise ValueError(f"unknown provider kind {kind!r}")


def load_builtin() -> Provider:
    """The offline doctor, imported only when a chain is built (it is written separately)."""
    module = importlib.import_module("phoenix_engine.llm.builtin")
    return cast(Provider, module.BuiltinDoctor())


_ROLE_WORDS = {"primary": "primary", "fallback": "fallback", "builtin": "last resort"}


def describe(settings: Settings, env: Mapping[str, str]) -> list[tuple[str, bool, str]]:
    """``(provider, configured?, detail)`` per planned provider, for ``phoenix doctor``."""
    if settings.primary == "none":
        return [("none", True, "PHOENIX_PRIMARY=none: no provider is asked")]
    rows = [(kind, role, *_detail(kind, settings, env)) for kind, role in planned(settings)]
    missing = settings.fallback_llm_type == "api" and not settings.fallback_llm_url
    if not _fallback_kind(settings):
        kind = "openai" if missing else "cmd"
        variable = "PHOENIX_FALLBACK_LLM_URL" if missing else "PHOENIX_FALLBACK_LLM_CMD"
        rows.insert(len(rows) - 1, (kind, "fallback", False, f"not used: {variable} is empty"))
    scrub = Redactor.from_env(env, settings.secrets()).redact
    return [(kind, ok, f"{_ROLE_WORDS[role]}: {scrub(text)}") for kind, role, ok, text in rows]


def _detail(kind: str, settings: Settings, env: Mapping[str, str]) -> tuple[bool, str]:
    if kind == "gemini_cli":
        ok, text = _which(settings.gemini_cli, env)
        model = _cli_model(settings)
        return ok, text + (f"; model {model}" if model else "")
    if kind == "gemini_api":
        if not settings.gemini_api_key:
            return False, f"{settings.gemini_api_key_env} is not set"
        where = f"{settings.gemini_base_url}; model {settings.gemini_model}"
        return True, f"key in {settings.gemini_api_key_env} (hidden); {where}"
    if kind == "openai":
        model = settings.fallback_llm_model or "automatic (GET /v1/models, by free VRAM)"
        return True, f"{_safe_url(settings.fallback_llm_url)}; model {model}"
    if kind == "cmd":
        found = [_which(command, env) for command in settings.fallback_llm_cmd]
        text = "; ".join(text for _, text in found) or "PHOENIX_FALLBACK_LLM_CMD is empty"
        return any(ok for ok, _ in found), text
    return True, "offline rules, always available"


def _which(command: str, env: Mapping[str, str]) -> tuple[bool, str]:
    """Where the program the line really starts is (after ``V=1``, after ``env``)."""
    line = parse(command)
    if not line.argv:
        return False, f"cannot parse {command!r}"
    if not line.program:  # `$HOME/bin/llm`, `cd x && llm`: only the shell can tell
        return True, f"{command.strip()!r} runs under /bin/sh -c"
    found = shutil.which(line.program, path=env.get("PATH", ""))
    return (True, found) if found else (False, f"{line.program!r} not found on PATH")


def _safe_url(url: str) -> str:
    """The URL without a password or query (either may carry a secret)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
