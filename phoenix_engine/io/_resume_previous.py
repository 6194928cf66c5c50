"""The ``resume_previous`` action: quarantine the checkpoint that failed to load.

Which one: the checkpoint the error names (it, or a file inside it), else the one the failed
command resumed from (Phoenix's resume arguments or the user's own), else the newest match of
PHOENIX_CHECKPOINT_GLOB. It is moved out of the glob's reach, never deleted; the run resumes
from the newest complete checkpoint left, and stops when none is left.
"""

from __future__ import annotations

__all__ = ["named", "resume_previous"]

import re
import time
from collections.abc import Callable
from pathlib import Path

from phoenix_engine import events as ev
from phoenix_engine.core.classify import Classified
from phoenix_engine.core.settings import Settings
from phoenix_engine.io._waits import checkpoint_candidates
from phoenix_engine.io.atomic import shown_path
from phoenix_engine.io.checkpoints import newest_complete, quarantine
from phoenix_engine.io.serving import in_service


class Stop(str):
    """A reason to stop instead of restarting."""

    __slots__ = ()


async def resume_previous(
    s: Settings, failure: Classified, command_ran: str, emit: Callable[[ev.Event], None]
) -> str:
    """The ``restarting`` reason, or a :class:`Stop` with the reason to give up."""
    if not s.checkpoint_glob:
        return Stop("a checkpoint failed to load and PHOENIX_CHECKPOINT_GLOB is not set")
    found = checkpoint_candidates(s.project_dir, s.checkpoint_glob)
    target = named(found, f"{failure.message} {failure.summary}", s.project_dir)
    target = target or named(found, command_ran, s.project_dir)
    target = target or (found[0] if found else None)
    if target is None:
        return Stop(f"a checkpoint failed to load and none matches {s.checkpoint_glob}")
    if in_service(target, s):  # the model in service is never moved, whatever failed to load
        return Stop(f"{target.name} failed to load but is the model in service: not moved")
    try:
        moved = quarantine(target, s.state_dir, stamp=time.strftime("%Y%m%d-%H%M%S"))
    except OSError as exc:
        return Stop(f"could not quarantine {target}: {exc.strerror or exc}")
    shown = [shown_path(p, s.project_dir) for p in (target, moved)]
    emit(ev.Notice(message=f"quarantined {shown[0]} as {shown[1]} (kept, not deleted)"))
    try:
        left = await newest_complete(s.project_dir, s.checkpoint_glob, recheck_s=0)
    except OSError:
        left = None
    if left is None:
        return Stop(f"{target.name} failed to load and no complete checkpoint is left ({shown[1]})")
    return f"{target.name} quarantined: resuming from the checkpoint before it"


def named(found: list[Path], text: str, project_dir: Path) -> Path | None:
    """The checkpoint ``text`` names (it, or a file inside it), as a path or relative to it."""
    for path in found:
        rel = shown_path(path, project_dir) if path.is_relative_to(project_dir) else ""
        names = "|".join(re.escape(n) for n in (str(path), rel) if n)
        if re.search(rf"(?<![\w.-])(?:{names})(?![\w.-])", text):  # not step_2 in step_20
            return path
    return None
