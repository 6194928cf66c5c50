"""Which model is in service: the PHOENIX_PROMOTE_PATH link and the record that put it there.

The link decides; ``.phoenix_cli/promotions.json`` only says where a target came from and its
score. :func:`in_service` is the guard for anything that moves or deletes checkpoints
(quarantine, rotation, clean-up); :func:`describe_in_service` is the line ``phoenix status``
prints; :func:`doctor_lines` checks the evaluation and promotion settings before a night.
"""

from __future__ import annotations

__all__ = ["current", "describe_in_service", "doctor_lines", "in_service", "link"]

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from phoenix_engine.core.settings import Settings
from phoenix_engine.io import _promote_store as store
from phoenix_engine.io.atomic import shown_path

DoctorLine = tuple[str, bool, str, bool]  # name, ok, detail, warning only


def link(s: Settings) -> Path | None:
    return Path(s.project_dir, s.promote_path) if s.promote_path else None


def current(s: Settings) -> tuple[Path | None, store.Record | None]:
    """What is in service (the link's target) and the history record that put it there."""
    records, _ = store.load_history(s.state_dir)
    path = link(s)
    if path is None:  # evaluation only: the last model that passed is the reference
        return None, next((r for r in reversed(records) if r.get("target") is None), None)
    target = store.link_target(path)
    return target, store.record_for(records, target)


def in_service(path: Path, settings: Settings) -> bool:
    """True when ``path`` is the model in service, inside it or holds it: never move or
    delete such a path (quarantine, rotation, clean-up)."""
    target, _ = current(settings)
    if target is None:
        return False
    p, t = os.path.realpath(path), str(target)
    return p == t or p.startswith(t + os.sep) or t.startswith(p.rstrip(os.sep) + os.sep)


def describe_in_service(settings: Settings) -> str:
    """One line: which model is in service, and why ('' when promotion is not set up)."""
    s = settings
    target, record = current(s)
    if s.promote_path and target is None:
        return f"in service: nothing ({s.promote_path} is not a link to a model)"
    if target is None and record is None:
        return "in service: no model has passed its evaluation yet" if s.eval_cmd else ""
    where = f"{s.promote_path} -> {shown_path(target, s.project_dir)}" if target else ""
    if record is None:
        return f"in service: {where} (not promoted by phoenix)"
    score = f"score {record['score']:.6g}, " if isinstance(record.get("score"), float) else ""
    if target is None:  # evaluation only: the last model that passed is the reference
        return f"in service: no link; the reference is {record.get('candidate')} ({score}passed)"
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(record.get("ts", 0))))
    return f"in service: {where} (from {record.get('candidate')}, {score}{record.get('by')} {when})"


def doctor_lines(settings: Settings, command_problem: Callable[[str], str]) -> list[DoctorLine]:
    """The evaluation command resolves, the link can be swapped where it is, the regex."""
    s = settings
    lines: list[DoctorLine] = []
    if s.eval_cmd:
        problem = command_problem(s.eval_cmd)
        lines.append(("evaluation", not problem, problem or f"`{s.eval_cmd}` found", False))
        if s.eval_metric_regex:
            detail = f"{s.eval_metric_regex} compiles; goal {s.eval_goal}"
            lines.append(("evaluation metric", True, detail, False))
        else:
            detail = "no PHOENIX_EVAL_METRIC_REGEX: a model passes on exit code 0 alone"
            lines.append(("evaluation metric", True, detail, False))
    elif s.eval_metric_regex:
        detail = "PHOENIX_EVAL_METRIC_REGEX has no effect without PHOENIX_EVAL_CMD"
        lines.append(("evaluation metric", False, detail, True))
    if s.promote_path:
        lines.append(_link_check(s))
        if not s.eval_cmd:
            detail = "no PHOENIX_EVAL_CMD: every completed run's model is promoted untested"
            lines.append(("evaluation", False, detail, True))
    if s.promote_cmd:
        problem = command_problem(s.promote_cmd)
        lines.append(("promote command", not problem, problem or "found", False))
    return lines


def _link_check(s: Settings) -> DoctorLine:
    path = Path(s.project_dir, s.promote_path)
    parent = path.parent
    if not parent.is_dir():
        return ("promote path", False, f"the folder {parent} does not exist", False)
    if os.path.lexists(path) and not path.is_symlink():
        return ("promote path", False, f"{path} exists and is not a link: move it away", False)
    versions = store.store_dir(path)
    if versions.is_dir() and os.stat(versions).st_dev != os.stat(parent).st_dev:
        detail = f"{versions} is on another filesystem than {parent}"
        return ("promote path", False, detail, False)
    problem = _swap_probe(parent)
    if problem:
        return ("promote path", False, f"cannot swap a link in {parent}: {problem}", False)
    free = shutil.disk_usage(parent).free / 1e9
    detail = f"{s.promote_path} can be swapped atomically; {free:.1f} GB free for copies"
    return ("promote path", True, detail, False)


def _swap_probe(parent: Path) -> str:
    """Make a temporary link in ``parent`` and rename it over another, as a promotion does."""
    token = secrets.token_hex(4)
    first, second = parent / f".phoenix-probe-{token}", parent / f".phoenix-probe-{token}.2"
    try:
        os.symlink(".", first)
        os.symlink(".", second)
        os.replace(first, second)
    except OSError as exc:
        return exc.strerror or str(exc)
    finally:
        for probe in (first, second):
            with contextlib.suppress(OSError):
                probe.unlink()
    return ""
