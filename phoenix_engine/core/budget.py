"""May Phoenix try again? Pure decisions over the ledger's counts and the run's progress.

An attempt is a restart after a failure (with or without a repair). Each failure signature
gets ``PHOENIX_MAX_RETRIES`` attempts (a repair counts per signature; a restart, wait, rerun or
resume per signature and action), an out-of-memory repair exactly one (retrying the same
allocation only heats the GPU), and all causes together at most ``PHOENIX_MAX_RESTARTS``.

Issue 12, budgets that fit a night (:func:`plan`): progress (a higher step, or a newer complete
checkpoint, than when the same failure last happened) starts its count again; once steps or
checkpoints can be seen, ``PHOENIX_MAX_NO_PROGRESS_RESTARTS`` restarts in a row without progress
give up; the same transient failure backs off (the cooldown doubles, up to five minutes).
:func:`escalate` turns a recurring failure without progress into the next action (a host OOM
into a repair, a kernel launch failure into a stop, a device assert after its rerun into a
repair). Every verdict names its rule and numbers.
"""

from __future__ import annotations

__all__ = ["History", "Limits", "Mark", "Plan", "Verdict", "escalate", "may_attempt", "plan"]

from dataclasses import dataclass, replace

from phoenix_engine.core.classify import Action, Classified, FailureKind

_ONE_SHOT = (FailureKind.OOM, FailureKind.HOST_OOM)
_MAX_BACKOFF_S = 300.0  # doubling cooldowns stop at five minutes


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
    """Whether one more repair of ``failure`` is allowed, and why not: :func:`plan` for the
    ``repair`` action without progress information."""
    h = History(
        attempts=attempts,
        restarts=restarts,
        no_progress=0,
        seen_at=None,
        best=None,
        observable=False,
        debug_ran=False,
    )
    limits = Limits(
        max_retries=max_retries, max_restarts=max_restarts, max_no_progress=1, cooldown_s=0
    )
    p = plan(failure, Action.REPAIR, h, Mark(), limits)
    return Verdict(ok=p.ok, reason=p.reason, attempt=p.attempt, max_attempts=p.max_attempts)


@dataclass(frozen=True, slots=True, kw_only=True)
class Mark:
    """How far the run had got: its best step and its newest complete checkpoint's mtime."""

    step: int | None = None
    checkpoint: float = 0.0

    def beyond(self, other: Mark | None) -> bool:
        """A higher step, or a newer complete checkpoint, than ``other``."""
        if other is None:
            return self.step is not None or self.checkpoint > 0
        higher = self.step is not None and (other.step is None or self.step > other.step)
        return higher or self.checkpoint > other.checkpoint

    def shown(self) -> str:
        return f"step {self.step}" if self.step is not None else "a newer checkpoint"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    max_retries: int
    max_restarts: int
    max_no_progress: int
    cooldown_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class History:
    """What the ledger remembers that a decision reads (all counts before this failure)."""

    attempts: int  # for this signature and action
    restarts: int
    no_progress: int  # restarts in a row that made no progress
    seen_at: Mark | None  # the run's mark when this signature last failed (None: first time)
    best: Mark | None  # the run's best mark before this attempt
    observable: bool  # steps or checkpoints can be seen at all
    debug_ran: bool  # the attempt that failed ran with CUDA_LAUNCH_BLOCKING=1


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    ok: bool
    action: Action
    reason: str  # why not, or why the action changed ('' when as the table says)
    rule: str  # the budget rule that decided (a setting's name or the class table)
    attempt: int = 0
    max_attempts: int = 0
    reset: bool = False  # progress since this failure was last seen: its count starts again
    no_progress: int = 0  # the new count of restarts without progress
    cooldown_s: float = 0.0
    budget: str = ""  # every rule with its numbers, for the restarting event


def escalate(failure: Classified, action: Action, h: History) -> tuple[Action, str]:
    """The table's action adjusted by history: recurring without progress asks for more."""
    again = h.seen_at is not None and not (h.best or Mark()).beyond(h.seen_at)
    if failure.kind is FailureKind.DEVICE_ASSERT and (h.debug_ran or h.attempts > 0):
        return Action.REPAIR, (
            "the CUDA kernel assertion again, now with CUDA_LAUNCH_BLOCKING=1: asking for a fix "
            "from this traceback"
        )
    if failure.kind is FailureKind.HOST_OOM and action is Action.RESTART and again:
        return Action.REPAIR, "the machine ran out of RAM again without progress: asking for a fix"
    if failure.cause == "launch_failure" and again:
        return Action.STOP, (
            "the CUDA kernel failure came back without progress: it needs a person "
            "(nvidia-smi, a GPU reset or a reboot)"
        )
    return action, ""


def plan(failure: Classified, action: Action, h: History, mark: Mark, lim: Limits) -> Plan:
    """May Phoenix act on ``failure`` (already escalated to ``action``), and how."""
    reset = h.seen_at is not None and mark.beyond(h.seen_at)
    attempts = 0 if reset else h.attempts
    counting = h.observable and h.restarts > 0
    no_progress = 0 if mark.beyond(h.best) or not counting else h.no_progress + 1
    one_shot = failure.kind in _ONE_SHOT and action is Action.REPAIR
    limit = min(1, lim.max_retries) if one_shot else lim.max_retries
    per_failure = "one OOM repair" if one_shot else "PHOENIX_MAX_RETRIES"
    no = Plan(
        ok=False,
        action=action,
        reason="",
        rule="",
        max_attempts=limit,
        reset=reset,
        no_progress=no_progress,
    )
    if action is Action.STOP or (action is Action.REPAIR and not failure.repairable):
        why = failure.advice or f"{failure.summary}: no restart or code change can fix this"
        return replace(no, reason=why, rule=f"class {failure.kind}: stop")
    if h.restarts >= lim.max_restarts:
        why = f"restart cap reached ({h.restarts} of PHOENIX_MAX_RESTARTS={lim.max_restarts})"
        return replace(no, reason=why, rule="PHOENIX_MAX_RESTARTS")
    if counting and no_progress >= lim.max_no_progress:
        why = (
            f"{no_progress} restarts in a row made no progress (no step past "
            f"{(h.best or mark).shown()}, no new checkpoint; "
            f"PHOENIX_MAX_NO_PROGRESS_RESTARTS={lim.max_no_progress}): {failure.summary}"
        )
        return replace(no, reason=why, rule="PHOENIX_MAX_NO_PROGRESS_RESTARTS")
    if attempts >= limit:
        what = "out-of-memory failures get one attempt" if one_shot else ""
        budget = what or f"PHOENIX_MAX_RETRIES={lim.max_retries}"
        why = f"the same failure came back after {attempts} attempt(s) ({budget}): "
        return replace(no, reason=why + failure.summary, rule=per_failure)
    attempt = attempts + 1
    cooldown = lim.cooldown_s
    if action is not Action.REPAIR:  # the same transient failure again: back off
        cooldown = min(_MAX_BACKOFF_S, lim.cooldown_s * 2 ** (attempt - 1))
    parts = [
        f"attempt {attempt} of {limit} for this failure ({per_failure})",
        f"restart {h.restarts + 1} of {lim.max_restarts} (PHOENIX_MAX_RESTARTS)",
    ]
    if counting:
        parts.append(
            f"{no_progress} of {lim.max_no_progress} restarts without progress "
            "(PHOENIX_MAX_NO_PROGRESS_RESTARTS)"
        )
    if reset:
        parts.append(f"count reset: the run got to {mark.shown()} since this failure")
    if cooldown != lim.cooldown_s:
        parts.append(f"cooldown doubled to {cooldown:g}s (the same failure again)")
    return replace(
        no, ok=True, rule=per_failure, attempt=attempt, cooldown_s=cooldown, budget="; ".join(parts)
    )
