"""The provider protocol and the request every provider receives."""

from __future__ import annotations

__all__ = ["Provider", "RepairRequest"]

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from phoenix_engine.core.classify import Classified


@dataclass(frozen=True, slots=True, kw_only=True)
class RepairRequest:
    """What a provider gets: the redacted prompt, plus the structured failure for offline ones."""

    prompt: str  # complete, redacted, within PHOENIX_MAX_PROMPT_CHARS
    failure: Classified
    project_dir: Path
    reply_format: str = "json"  # "json" or "diff": what the prompt asked for


class Provider(Protocol):
    """One LLM transport. ``name`` appears in events (gemini_api, gemini_cli, openai, cmd...)."""

    name: str

    async def complete(self, request: RepairRequest) -> str:
        """Return the reply text; raise ProviderError on any failure (never return '')."""
        ...
