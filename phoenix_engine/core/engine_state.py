"""The engine's states, the transitions between them, and how one run of the child ends.

Pure: the engine (``engine.py``) owns the current state and moves it only through
:func:`transition`, which refuses a move the table below does not list (a
:class:`~phoenix_engine.errors.ContractError`: a bug in Phoenix, never an operator's doing).
The states follow Supervisor's process states, widened by what Phoenix does between runs:
repair, wait for a guard, promote a model, hold for a resume.
"""

from __future__ import annotations

__all__ = [
    "STOP_REQUESTED",
    "TRANSITIONS",
    "ChildEnd",
    "ChildOutcome",
    "EngineState",
    "after_child",
    "transition",
]

import enum
from collections.abc import Mapping

from phoenix_engine.errors import ContractError


class EngineState(enum.StrEnum):
    IDLE = "idle"  # built; run() not called yet
    PREPARING = "preparing"  # lock, orphan reaped, interrupted applies, data verified
    STARTING = "starting"  # the training command is being spawned
    RUNNING = "running"  # the training runs and is watched
    REPAIRING = "repairing"  # it failed: triage decides and acts (repair, wait, cool down)
    GUARDED = "guarded"  # a guard stopped it: waiting for the guard to clear
    PROMOTING = "promoting"  # it completed: evaluate and promote its model
    PAUSING = "pausing"  # a stop that may stay (a remote !stop with hold_after_end)
    STOPPING = "stopping"  # a stop that leaves: wind down, then exit
    HOLDING = "holding"  # stopped or gave up: waiting for a resume (hold_after_end)
    RESUMING = "resuming"  # resumed: budgets cleared, the training restarts
    EXITED = "exited"  # run() returned (or raised)


class ChildEnd(enum.StrEnum):
    """Why watching one training process ended."""

    EXITED = "exited"  # it exited by itself
    STOPPED = "stopped"  # a stop was requested
    GUARD = "guard"  # a guard tripped
    DIVERGED = "diverged"  # a NaN/inf loss with PHOENIX_NAN_ACTION=repair
    HANG = "hang"  # silent past the heartbeat


class ChildOutcome(enum.StrEnum):
    """What one run of the training means to the sequencer."""

    COMPLETED = "completed"  # exit code 0
    FAILED = "failed"  # a failure to classify and triage (a hang and a divergence too)
    REFUSED_RESUME = "refused_resume"  # the script refused PHOENIX_RESUME_ARGS
    GUARDED = "guarded"  # stopped by a guard
    STOPPED = "stopped"  # stopped on request


STOP_REQUESTED = frozenset({EngineState.PAUSING, EngineState.STOPPING})

_S = EngineState
_STOPS = frozenset({_S.PAUSING, _S.STOPPING})
TRANSITIONS: Mapping[EngineState, frozenset[EngineState]] = {
    _S.IDLE: frozenset({_S.PREPARING}) | _STOPS,
    _S.PREPARING: frozenset({_S.STARTING, _S.GUARDED}) | _STOPS,
    _S.STARTING: frozenset({_S.RUNNING, _S.REPAIRING}) | _STOPS,  # a launch failure repairs
    _S.RUNNING: frozenset({_S.REPAIRING, _S.GUARDED, _S.PROMOTING}) | _STOPS,
    _S.REPAIRING: frozenset({_S.STARTING, _S.GUARDED, _S.HOLDING}) | _STOPS,
    # tripped again before the restart: still waiting for it to clear
    _S.GUARDED: frozenset({_S.STARTING, _S.GUARDED, _S.HOLDING}) | _STOPS,
    _S.PROMOTING: _STOPS,
    _S.PAUSING: frozenset({_S.STOPPING, _S.HOLDING}),
    _S.STOPPING: frozenset(),
    _S.HOLDING: frozenset({_S.RESUMING, _S.STOPPING}),
    _S.RESUMING: frozenset({_S.STARTING, _S.GUARDED}) | _STOPS,
    _S.EXITED: frozenset(),
}
# Whatever the state, run() ends in EXITED: returned, or raised (an error, a cancelled task).
_ALWAYS_TO = frozenset({_S.EXITED})

_AFTER_CHILD: Mapping[ChildOutcome, EngineState] = {
    ChildOutcome.COMPLETED: _S.PROMOTING,
    ChildOutcome.FAILED: _S.REPAIRING,
    ChildOutcome.REFUSED_RESUME: _S.REPAIRING,  # the repair: drop the resume arguments
    ChildOutcome.GUARDED: _S.GUARDED,
}


def transition(current: EngineState, target: EngineState) -> EngineState:
    """``target`` if the table allows the move from ``current``; else a ContractError."""
    if current is not _S.EXITED and target in _ALWAYS_TO:
        return target
    if target not in TRANSITIONS[current]:
        raise ContractError(f"illegal engine state transition: {current} -> {target}")
    return target


def after_child(outcome: ChildOutcome) -> EngineState:
    """The state a run of the child leads to (a stop was already entered when requested)."""
    state = _AFTER_CHILD.get(outcome)
    if state is None:
        raise ContractError(f"no state follows the child outcome {outcome} by itself")
    return state
