"""Retry budgets: per signature, one for out-of-memory, a total cap, none for launch errors."""

from __future__ import annotations

import pytest

from phoenix_engine.core.budget import may_attempt
from phoenix_engine.core.classify import Classified, FailureKind


def failure(kind: FailureKind, repairable: bool = True) -> Classified:
    return Classified(kind=kind, signature="sig", summary=f"{kind} happened", repairable=repairable)


@pytest.mark.parametrize(
    ("kind", "attempts", "restarts", "ok", "why"),
    [
        (FailureKind.EXCEPTION, 0, 0, True, ""),
        (FailureKind.EXCEPTION, 2, 5, True, ""),
        (FailureKind.EXCEPTION, 3, 5, False, "PHOENIX_MAX_RETRIES=3"),
        (FailureKind.HANG, 3, 0, False, "3 attempt(s)"),
        (FailureKind.OOM, 0, 0, True, ""),
        (FailureKind.OOM, 1, 0, False, "out-of-memory failures get one attempt"),
        (FailureKind.HOST_OOM, 1, 0, False, "out-of-memory"),
        (FailureKind.EXCEPTION, 0, 20, False, "PHOENIX_MAX_RESTARTS=20"),
        (FailureKind.SIGNAL, 1, 19, True, ""),
    ],
)
def test_budget_table(kind: FailureKind, attempts: int, restarts: int, ok: bool, why: str) -> None:
    verdict = may_attempt(
        failure(kind), attempts=attempts, restarts=restarts, max_retries=3, max_restarts=20
    )
    assert verdict.ok is ok
    assert why in verdict.reason
    if ok:
        assert verdict.attempt == attempts + 1
        assert verdict.max_attempts == (1 if kind in ("oom", "host_oom") else 3)


def test_launch_failures_are_never_retried() -> None:
    verdict = may_attempt(
        failure(FailureKind.LAUNCH, repairable=False),
        attempts=0,
        restarts=0,
        max_retries=3,
        max_restarts=20,
    )
    assert not verdict.ok
    assert "no restart or code change can fix this" in verdict.reason


def test_zero_retries_means_no_attempt() -> None:
    verdict = may_attempt(
        failure(FailureKind.OOM), attempts=0, restarts=0, max_retries=0, max_restarts=20
    )
    assert not verdict.ok
