"""Adopting the night's model: find it, evaluate it, put it in service, or keep yesterday's.

:func:`adopt` is the engine's one call after a clean completion; :func:`promote_by_hand` and
:func:`rollback` serve ``phoenix promote``. Whatever happens, the model in service is what the
PHOENIX_PROMOTE_PATH link says, and :func:`in_service` tells anything that moves or deletes
checkpoints to leave it alone. Without a promote path an evaluation still runs and a model
that passes becomes the reference for the next one (recorded in the history, no link).
"""

from __future__ import annotations

__all__ = [
    "PromotionError",
    "adopt",
    "describe_in_service",
    "in_service",
    "promote_by_hand",
    "rollback",
]

import asyncio
import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode, PhoenixError
from phoenix_engine.io import _promote_store as store
from phoenix_engine.io.atomic import shown_path
from phoenix_engine.io.checkpoints import newest_complete
from phoenix_engine.io.serving import current as _current
from phoenix_engine.io.serving import describe_in_service, in_service
from phoenix_engine.io.serving import link as _link
from phoenix_engine.io.usercmd import OutputRelay, Tracker, evaluate, run_command

Emit = Callable[[ev.Event], None]
_ROLLBACK_DEPTH = 2  # previous models whose copies are kept for `phoenix promote --rollback`


class PromotionError(PhoenixError):
    """The model could not be put in service (or back); the message says why."""

    exit_code = ExitCode.GAVE_UP


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    settings: Settings
    env: Mapping[str, str]
    emit: Emit
    output: OutputRelay
    stop: asyncio.Event
    track: Tracker | None = None


async def adopt(
    settings: Settings,
    *,
    env: Mapping[str, str],
    emit: Emit,
    output: OutputRelay,
    stop: asyncio.Event,
    track: Tracker | None = None,
) -> bool | None:
    """After a clean completion: True promoted (or passed), False kept the model in service,
    None when neither PHOENIX_EVAL_CMD nor PHOENIX_PROMOTE_PATH is set."""
    s = settings
    if not (s.eval_cmd or s.promote_path):
        return None
    ctx = _Context(settings=s, env=env, emit=emit, output=output, stop=stop, track=track)
    _, note = store.load_history(s.state_dir)
    if note:
        emit(ev.Notice(message=note))
    pattern = s.candidate_glob or s.checkpoint_glob
    try:  # the training has exited and its tree was swept: nothing writes any more
        candidate = await newest_complete(s.project_dir, pattern, recheck_s=0.0)
    except OSError as exc:
        return _skip(ctx, f"could not look for the trained model ({pattern}): {exc}")
    if candidate is None:
        return _skip(ctx, f"no complete model matches {pattern}")
    return await _evaluate_and_promote(ctx, candidate, by="phoenix", force=False)


async def promote_by_hand(
    settings: Settings,
    candidate: Path,
    *,
    force: bool,
    env: Mapping[str, str],
    emit: Emit,
    output: OutputRelay,
) -> bool:
    """``phoenix promote CANDIDATE [--force]``: evaluated first unless forced."""
    if not settings.promote_path:
        raise PromotionError("PHOENIX_PROMOTE_PATH is not set: there is no link to point")
    if not candidate.exists():
        raise PromotionError(f"{candidate} does not exist")
    ctx = _Context(settings=settings, env=env, emit=emit, output=output, stop=asyncio.Event())
    return await _evaluate_and_promote(ctx, candidate, by="operator", force=force)


async def _evaluate_and_promote(ctx: _Context, candidate: Path, *, by: str, force: bool) -> bool:
    s = ctx.settings
    _, record = _current(s)
    previous = record.get("score") if record else None
    score = None
    if s.eval_cmd and not force:
        verdict = await evaluate(
            s,
            candidate,
            previous=previous if isinstance(previous, float) else None,
            env=ctx.env,
            emit=ctx.emit,
            output=ctx.output,
            stop=ctx.stop,
            track=ctx.track,
        )
        if not verdict.passed:
            return _skip(ctx, verdict.reason, candidate)
        score = verdict.score
    shown = shown_path(candidate, s.project_dir)
    if not s.promote_path:
        try:
            _append(s, {"candidate": shown, "target": None, "score": score, "by": by})
        except OSError as exc:
            note = f"could not record the score in promotions.json: {exc.strerror or exc}"
            ctx.emit(ev.Notice(message=note))
        return True
    try:
        event = await asyncio.to_thread(_promote_now, s, candidate, score, by)
    except (PromotionError, OSError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return _skip(ctx, f"could not put {shown} in service: {why}", candidate)
    ctx.emit(event)
    await _after_swap(ctx, Path(s.project_dir, event.target))
    return True


def _promote_now(s: Settings, candidate: Path, score: float | None, by: str) -> ev.ModelPromoted:
    link = _link(s)
    assert link is not None
    if not link.parent.is_dir():
        raise PromotionError(f"the folder of PHOENIX_PROMOTE_PATH ({link.parent}) does not exist")
    if os.path.lexists(link) and not link.is_symlink():
        raise PromotionError(f"{s.promote_path} exists and is not a link: move it away")
    before = store.link_target(link)
    copy = store.copy_into_store(candidate, store.store_dir(link), time.time())
    record = {"candidate": shown_path(candidate, s.project_dir), "target": str(copy)}
    previous = str(before) if before is not None else None
    _append(s, record | {"score": score, "previous": previous, "by": by})
    store.swap_link(link, copy)
    store.prune_kept(link, s.state_dir, _ROLLBACK_DEPTH)
    return ev.ModelPromoted(
        path=s.promote_path,
        candidate=record["candidate"],
        previous=shown_path(before, s.project_dir) if before else "",
        target=shown_path(copy, s.project_dir),
        score=score,
        by=by,
    )


async def rollback(
    settings: Settings, *, env: Mapping[str, str], emit: Emit, output: OutputRelay
) -> ev.ModelPromoted:
    """``phoenix promote --rollback``: the link back at the model in service before."""
    s = settings
    link = _link(s)
    if link is None:
        raise PromotionError("PHOENIX_PROMOTE_PATH is not set: there is no link to roll back")
    records, _ = store.load_history(s.state_dir)
    current = store.link_target(link)
    record = store.record_for(records, current)
    previous = record.get("previous") if record else None
    if current is None:
        raise PromotionError(f"{s.promote_path} is not a link to a model: nothing to roll back")
    if not previous:
        raise PromotionError(f"no earlier model is recorded for {s.promote_path}")
    if not os.path.exists(previous):
        raise PromotionError(f"the earlier model {previous} no longer exists")
    earlier = store.record_for(records, previous) or {}
    record = {
        "candidate": earlier.get("candidate", previous),
        "target": previous,
        "score": earlier.get("score"),
        "previous": earlier.get("previous"),  # a second rollback goes further back
        "replaced": str(current),
        "by": "rollback",
    }
    try:
        _append(s, record)
        await asyncio.to_thread(store.swap_link, link, Path(previous))
    except OSError as exc:
        raise PromotionError(f"could not roll back: {exc.strerror or exc}") from exc
    event = ev.ModelPromoted(
        path=s.promote_path,
        candidate=str(earlier.get("candidate", previous)),
        previous=shown_path(current, s.project_dir),
        target=shown_path(Path(previous), s.project_dir),
        score=earlier.get("score"),
        by="rollback",
    )
    emit(event)
    ctx = _Context(settings=s, env=env, emit=emit, output=output, stop=asyncio.Event())
    await _after_swap(ctx, Path(previous))
    return event


async def _after_swap(ctx: _Context, target: Path) -> None:
    """PHOENIX_PROMOTE_CMD (reload a server, copy elsewhere); its failure is told, the link
    stays where it is."""
    s = ctx.settings
    if not s.promote_cmd:
        return
    shown = shown_path(target, s.project_dir)
    run = await run_command(
        s.promote_cmd.replace("{checkpoint}", shlex.quote(shown)),
        cwd=s.project_dir,
        env={**ctx.env, "PHOENIX_CANDIDATE": str(target)},
        timeout_s=s.eval_timeout_sec,
        grace_s=s.kill_grace_sec,
        output=ctx.output,
        stop=ctx.stop,
        track=ctx.track,
    )
    ctx.output.flush()
    if run.returncode != 0:
        why = run.error or ("timed out" if run.timed_out else f"ended with {run.returncode}")
        message = f"PHOENIX_PROMOTE_CMD {why}; {s.promote_path} points at {shown} all the same"
        ctx.emit(ev.Notice(message=message))


def _skip(ctx: _Context, reason: str, candidate: Path | None = None) -> bool:
    s = ctx.settings
    shown = shown_path(candidate, s.project_dir) if candidate else ""
    line = describe_in_service(s).removeprefix("in service: ")
    ctx.emit(ev.PromotionSkipped(reason=reason, candidate=shown, in_service=line))
    return False


def _append(s: Settings, record: dict[str, Any]) -> None:
    store.append_record(s.state_dir, record, time.time())
