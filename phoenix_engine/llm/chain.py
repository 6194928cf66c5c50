"""The failover chain: ask providers in order until one answers, reporting every failure.

Order is primary, fallback(s), builtin. Each failure becomes a ``provider_failed`` event with
the provider and a (redacted) reason, and the next provider is asked. Fallback providers are
capped per run (``PHOENIX_FALLBACK_MAX_PER_RUN`` counts every time one is asked), and a
provider that fails ``breaker_threshold`` times in a row is skipped for ``breaker_cooldown_s``
(the builtin doctor is never skipped: it is the last resort and costs nothing). A skip is also
a ``provider_failed`` event, so the user sees why a provider was not asked.
"""

from __future__ import annotations

__all__ = ["ROLES", "ProviderChain", "build_chain", "describe"]

import time
from collections.abc import Callable, Collection, Mapping, Sequence

import httpx

from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ProviderError
from phoenix_engine.events import Event, ProviderFailed
from phoenix_engine.llm._base import Provider, RepairRequest
from phoenix_engine.llm._factory import describe, load_builtin, make_provider, planned

ROLES = ("primary", "fallback", "builtin")


class _Breaker:
    """Failures in a row per provider; at ``threshold`` it opens for ``cooldown_s``.

    Once the cooldown is over one call is let through (half-open): a success closes it, a
    failure opens it again for another cooldown. ``threshold <= 0`` never opens.
    """

    def __init__(self, *, threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self._threshold = threshold
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}

    def failures(self, name: str) -> int:
        """Failures in a row so far."""
        return self._failures.get(name, 0)

    def open_for(self, name: str) -> float:
        """Seconds until ``name`` may be asked again; 0 when it may be asked now."""
        return max(0.0, self._open_until.get(name, 0.0) - self._clock())

    def failed(self, name: str) -> None:
        count = self._failures[name] = self.failures(name) + 1
        if 0 < self._threshold <= count:
            self._open_until[name] = self._clock() + self._cooldown_s

    def succeeded(self, name: str) -> None:
        self._failures.pop(name, None)
        self._open_until.pop(name, None)


class ProviderChain:
    """Providers with their roles, asked in order by :meth:`ask`."""

    def __init__(
        self,
        providers: Sequence[tuple[Provider, str]],
        *,
        fallback_max_per_run: int,
        emit: Callable[[Event], None],
        clock: Callable[[], float] = time.monotonic,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 600.0,
        wall_clock: Callable[[], float] = time.time,
        redact: Callable[[str], str] = str,
    ) -> None:
        for provider, role in providers:
            if role not in ROLES:
                raise ValueError(f"{provider.name}: role {role!r} is not one of {ROLES}")
        self._providers = tuple(providers)
        self._fallback_max = fallback_max_per_run
        self._emit = emit
        self._breaker = _Breaker(
            threshold=breaker_threshold, cooldown_s=breaker_cooldown_s, clock=clock
        )
        self._wall_clock = wall_clock
        self._redact = redact
        self.fallback_used = 0

    @property
    def names(self) -> tuple[str, ...]:
        """Provider names in the order they are asked (for the repair_requested event)."""
        return tuple(provider.name for provider, _ in self._providers)

    async def ask(
        self, request: RepairRequest, *, skip: Collection[str] = ()
    ) -> tuple[str, str] | None:
        """``(provider name, reply)`` from the first provider that answers; None if none did.

        ``skip`` names providers not to ask (say, those whose reply was already unusable for
        this failure); they are passed over silently.
        """
        for provider, role in self._providers:
            if provider.name in skip:
                continue
            refusal = self._refusal(provider.name, role)
            if refusal:
                self._failed(provider.name, refusal)
                continue
            if role == "fallback":
                self.fallback_used += 1
            reply = await self._try(provider, role, request)
            if reply is not None:
                return provider.name, reply
        return None

    def _refusal(self, name: str, role: str) -> str:
        """Why ``name`` is not asked this time, or '' when it may be."""
        if role == "fallback" and self.fallback_used >= self._fallback_max:
            cap = self._fallback_max
            return f"skipped: fallback cap reached ({cap} per run, PHOENIX_FALLBACK_MAX_PER_RUN)"
        wait = self._breaker.open_for(name) if role != "builtin" else 0.0
        if wait > 0:
            failures = self._breaker.failures(name)
            return f"skipped: failed {failures} times in a row; next try in {wait:.0f}s"
        return ""

    async def _try(self, provider: Provider, role: str, request: RepairRequest) -> str | None:
        """The provider's reply, or None after reporting why it gave none."""
        try:
            reply = await provider.complete(request)
        except ProviderError as exc:
            reason = exc.reason
        except Exception as exc:  # a provider's bug must not end the night's run
            reason = f"internal error: {type(exc).__name__}: {exc}"
        else:
            if isinstance(reply, str) and reply.strip():
                self._breaker.succeeded(provider.name)
                return reply
            reason = "empty reply"
        if role != "builtin":
            self._breaker.failed(provider.name)
        self._failed(provider.name, reason)
        return None

    def _failed(self, name: str, reason: str) -> None:
        shown = self._redact(reason) or "failed"
        self._emit(ProviderFailed(ts=self._wall_clock(), provider=name, reason=shown))


def build_chain(
    settings: Settings,
    *,
    env: Mapping[str, str],
    emit: Callable[[Event], None],
    transport: httpx.AsyncBaseTransport | None = None,
    free_vram_bytes: Callable[[], int | None] = lambda: None,
    builtin: Callable[[], Provider] = load_builtin,
    clock: Callable[[], float] = time.monotonic,
) -> ProviderChain:
    """The chain the settings ask for (see ``_factory`` for the plan); empty for ``none``."""
    entries: list[tuple[Provider, str]] = []
    for kind, role in planned(settings):
        if kind == "builtin":
            entries.append((builtin(), role))
        else:
            entries.append((make_provider(kind, settings, env, transport, free_vram_bytes), role))
    return ProviderChain(
        entries,
        fallback_max_per_run=settings.fallback_max_per_run,
        emit=emit,
        clock=clock,
        redact=Redactor.from_env(env, settings.secrets()).redact,
    )
