"""May Phoenix try again? Pure decisions over the ledger's counts.

An attempt is a restart after a failure (with or without a repair). Each failure signature
gets ``PHOENIX_MAX_RETRIES`` attempts, an out-of-memory failure exactly one (retrying the
same allocation only heats the GPU), and all causes together at most ``PHOENIX_MAX_RESTARTS``,
so that alternating failures cannot loop forever.
"""

from __future__ import annotations

__all__ = ["Verdict", "may_attempt"]

from dataclasses import dataclass

from phoenix_engine.signature import Classified, FailureKind

_ONE_SHOT = (FailureKind.OOM, FailureKind.HOST_OOM)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    ok: bool
    reason: str
    attempt: int = 0  # the attempt this would be, 1-based
    max_attempts: int = 0


def may_attempt(
    failure: Classified,
    *,
    attempts: int,
    restarts: int,
    max_retries: int,
    max_restarts: int,
) -> Verdict:
    """Whether one more attempt at ``failure`` is allowed, and why not."""
    limit = min(1, max_retries) if failure.kind in _ONE_SHOT else max_retries
    if not failure.repairable:
        return Verdict(
            ok=False,
            reason=f"{failure.summary}: no restart or code change can fix this",
            max_attempts=limit,
        )
    if restarts >= max_restarts:
        return Verdict(
            ok=False,
            reason=f"restart cap reached ({restarts} of PHOENIX_MAX_RESTARTS={max_restarts})",
            max_attempts=limit,
        )
    if attempts >= limit:
        what = "out-of-memory failures get one attempt" if failure.kind in _ONE_SHOT else ""
        budget = what or f"PHOENIX_MAX_RETRIES={max_retries}"
        return Verdict(
            ok=False,
            reason=f"the same failure came back after {attempts} attempt(s) ({budget}): "
            f"{failure.summary}",
            max_attempts=limit,
        )
    return Verdict(ok=True, reason="", attempt=attempts + 1, max_attempts=limit)
