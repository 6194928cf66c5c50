"""The repairer an engine gets by default: the LLM repair loop, made at its first repair.

A night without a code failure never imports the providers, httpx, the prompt or the shadow
run (they were most of Phoenix's start-up time); the sandbox is still probed at the start
when a repair would use it.
"""

from __future__ import annotations

__all__ = ["default_repairer"]

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from phoenix_engine import events as ev
from phoenix_engine._restarts import Repairer
from phoenix_engine.core.classify import Classified
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.state_store import Ledger

if TYPE_CHECKING:
    import httpx

    from phoenix_engine.io.sandbox import Chooser


def default_repairer(
    settings: Settings,
    *,
    approver: ev.Approver,
    env: Mapping[str, str],
    child_env: Mapping[str, str],
    transport: httpx.AsyncBaseTransport | None,
    emit: Callable[[ev.Event], None],
    redactor: Redactor,
) -> Repairer:
    """The LLM repair loop over the configured providers, built at its first repair."""

    def build(chooser: Chooser) -> Repairer:
        from phoenix_engine.llm.chain import build_chain
        from phoenix_engine.repair import RepairLoop

        chain = build_chain(settings, env=env, emit=emit, transport=transport)
        return RepairLoop(
            settings,
            chain=chain,
            approver=approver,
            emit=emit,
            redactor=redactor,
            env=child_env,
            sandbox_chooser=chooser,
        )

    def chooser() -> Chooser:
        from phoenix_engine.io.sandbox import Chooser

        return Chooser(settings.sandbox, child_env, emit)

    probe = bool(settings.test_cmd.strip()) and settings.patch_mode == "auto"
    return _OnFirstRepair(build, chooser, probe_at_start=probe)


class _OnFirstRepair:
    """A repairer made when it is first needed: the providers, httpx, the prompt and the
    shadow run are imported by the first repair, never by a night that needs none (they were
    most of Phoenix's start-up time). Building it reads no file and raises no settings error:
    ``resolve`` checked every setting before the engine was made. The sandbox is still probed
    at the start when a repair would use it, so a sandbox that cannot run is said at once."""

    def __init__(
        self,
        build: Callable[[Chooser], Repairer],
        chooser: Callable[[], Chooser],
        *,
        probe_at_start: bool,
    ) -> None:
        self._build, self._new_chooser, self._probe = build, chooser, probe_at_start
        self._chooser: Chooser | None = None
        self._made: Repairer | None = None

    def _the_chooser(self) -> Chooser:
        if self._chooser is None:
            self._chooser = self._new_chooser()
        return self._chooser

    async def prepare(self) -> None:
        """At the run's start: the sandbox probe (once per run), when a repair would use it."""
        if self._probe:
            await self._the_chooser().choose()

    async def repair(
        self, failure: Classified, tail: Sequence[str], ledger: Ledger, *, extra: str = ""
    ) -> str:
        if self._made is None:
            self._made = self._build(self._the_chooser())
        return await self._made.repair(failure, tail, ledger, extra=extra)
