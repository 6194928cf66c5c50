"""Events as Discord embeds, within Discord's limits: pure, no I/O.

:func:`embed_for` says which events are milestones worth a message (run started, crash or
hang, patch proposed/applied/refused, containment breach, guards, NaN or spike, progress, gave
up, completed, model promoted or kept) and renders each from the event and the run's
:class:`~phoenix_engine.core.run_state.RunView` (for what the event alone does not carry, such as
the final loss). :func:`fit` cuts an embed to Discord's per-field limits and :func:`take`
picks how many queued embeds fit one message.
"""

from __future__ import annotations

__all__ = ["MAX_CONTENT", "MAX_EMBEDS", "MAX_TOTAL", "Embed", "embed_for", "fit", "size", "take"]

import datetime as _dt
from collections.abc import Callable, Sequence
from typing import Any

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import RunView, duration

Embed = dict[str, Any]

MAX_CONTENT = 2000  # characters of a message's content
MAX_EMBEDS = 10  # embeds per message
MAX_TOTAL = 6000  # characters of all embeds of one message together
_TITLE, _DESCRIPTION, _FIELD_NAME, _FIELD_VALUE, _FIELDS = 256, 4096, 256, 1024, 25
_OURS_DESCRIPTION = 1500  # our own cap: a message is read on a phone
_DIFF = 900

_RED, _ORANGE, _YELLOW, _GREEN, _BLUE, _GREY = (
    0xE74C3C,
    0xE67E22,
    0xF1C40F,
    0x2ECC71,
    0x3498DB,
    0x95A5A6,
)

_WHAT_TO_DO = (
    "Read `.phoenix_cli/run.log` and the diagnoses above, fix the cause, then send `!resume` "
    "here or run `phoenix` again. `phoenix history` lists patches; `phoenix rollback ID` "
    "undoes one."
)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_code(text: str) -> str:
    """A field value cut to its limit; a code block cut open is closed again."""
    out = _cut(text, _FIELD_VALUE)
    if out != text and out.count("```") % 2:
        out = _cut(text, _FIELD_VALUE - 4) + "\n```"
    return out


def _field(name: str, value: object, inline: bool = True) -> dict[str, Any]:
    return {"name": name, "value": str(value) or "-", "inline": inline}


def _embed(title: str, color: int, description: str = "", *fields: dict[str, Any]) -> Embed:
    out: Embed = {"title": title, "color": color}
    if description:
        out["description"] = _cut(description, _OURS_DESCRIPTION)
    if fields:
        out["fields"] = list(fields)
    return out


def _code(text: str, lang: str = "", limit: int = _DIFF) -> str:
    """A code block that cannot be closed early by the text inside it."""
    body = text.replace("```", "`\u200b``")
    if len(body) > limit:
        body = body[:limit].rsplit("\n", 1)[0] + "\n…"
    return f"```{lang}\n{body}\n```"


def _failure(e: ev.Failure, v: RunView) -> Embed:
    what = "hung" if e.kind == "hang" else "crashed"
    fields = [_field("signature", f"`{e.signature[:16]}`"), _field("kind", e.kind)]
    fields.append(_field("action", e.action))
    if e.advice:
        fields.append(_field("what Phoenix does", e.advice, False))
    if e.location:
        fields.append(_field("where", e.location))
    if not e.repairable:
        fields.append(_field("repair", "not repairable: Phoenix will not patch this", False))
    return _embed(f"Training {what}", _RED, e.summary, *fields)


def _proposed(e: ev.PatchProposed, v: RunView) -> Embed:
    files = _field("files", ", ".join(e.paths) or "-", False)
    diff = _field("diff (excerpt)", _code(e.diff, "diff"), False)
    return _embed(f"Patch {e.id} proposed by {e.provider}", _ORANGE, e.diagnosis, files, diff)


def _applied(e: ev.PatchApplied, v: RunView) -> Embed:
    title = f"Patch {e.id} " + ("backed up, not written (dry run)" if e.dry_run else "applied")
    files = _field("files", ", ".join(e.paths) or "-", False)
    who = _field("approved by", e.approved_by or "-")
    return _embed(title, _GREEN, "", files, _field("backup", f"`{e.backup_id}`"), who)


def _restarting(e: ev.Restarting, v: RunView) -> Embed:
    title = f"Restarting: attempt {e.attempt}/{e.max_attempts}"
    budget = _field("restarts", f"{e.restarts_used}/{e.max_restarts}")
    fields = [budget, _field("cooldown", f"{e.cooldown_s:g}s")]
    if e.budget:
        fields.append(_field("budgets", e.budget, False))
    return _embed(title, _BLUE, e.reason, *fields)


def _progress(e: ev.Progress, v: RunView) -> Embed:
    step = f"{e.step}/{v.total}" if v.total else str(e.step)
    fields = [_field("loss", e.loss)]
    if e.rate is not None:
        fields.append(_field("rate", f"{e.rate:.3g}/s"))
    fields.append(_field("ETA", duration(e.eta_s) if e.eta_s is not None else "unknown"))
    return _embed(f"Step {step}", _GREY, "", *fields)


def _anomaly(e: ev.Anomaly, v: RunView) -> Embed:
    at = f" at step {e.step}" if e.step is not None else ""
    title = {"nan": "Loss is NaN", "spike": "Loss spike", "stall": "Training stalled"}
    return _embed(title.get(e.kind, f"Anomaly: {e.kind}") + at, _YELLOW, e.detail)


def _completed(e: ev.RunCompleted, v: RunView) -> Embed:
    fields = (_field("duration", duration(e.duration_s)), _field("final loss", v.loss_text()))
    return _embed("Training completed", _GREEN, "", *fields, _field("restarts", e.restarts))


def _promoted(e: ev.ModelPromoted, v: RunView) -> Embed:
    title = f"Rolled back to {e.candidate}" if e.by == "rollback" else f"Promoted {e.candidate}"
    fields = [_field("in service", f"`{e.path}` -> `{e.target}`", False)]
    if e.score is not None:
        fields.append(_field("score", f"{e.score:.6g}"))
    if v.evaluation is not None and v.evaluation.candidate == e.candidate:
        fields.append(_field("evaluation", v.evaluation.reason, False))
    fields.append(_field("replaced", e.previous or "nothing"))
    return _embed(title, _GREEN, "", *fields)


def _not_promoted(e: ev.PromotionSkipped, v: RunView) -> Embed:
    title = f"Not promoted: {e.candidate}" if e.candidate else "Not promoted"
    stays = _field("still in service", e.in_service or "nothing", False)
    return _embed(title, _ORANGE, e.reason, stays)


def _data(e: ev.DataChanged, v: RunView) -> Embed:
    parts = [("missing", e.missing), ("changed", e.changed), ("truncated", e.truncated)]
    lines = [f"{k}: {', '.join(names)}" for k, names in (*parts, ("added", e.added)) if names]
    return _embed("Data directory changed", _YELLOW, "\n".join(lines))


_RENDER: dict[type[ev.Event], Callable[[Any, RunView], Embed]] = {
    ev.RunStarted: lambda e, v: _embed(
        "Phoenix started",
        _BLUE,
        f"`{e.command}`",
        _field("mode", e.mode),
        _field("project", e.project),
    ),
    ev.Failure: _failure,
    ev.PatchProposed: _proposed,
    ev.ApprovalRequested: lambda e, v: _embed(
        f"Patch {e.id} waits for approval", _YELLOW, f"Reply `!accept {e.id}` or `!reject {e.id}`."
    ),
    ev.PatchApplied: _applied,
    ev.PatchRejected: lambda e, v: _embed(f"Patch {e.id} refused", _ORANGE, e.reason),
    ev.ShadowFailed: lambda e, v: _embed(f"Patch {e.id} failed its shadow run", _ORANGE, e.reason),
    ev.ContainmentBreach: lambda e, v: _embed(
        f"Containment breach: patch {e.id} refused",
        _RED,
        e.reason,
        _field("changed", ", ".join(e.paths[:20]) or "-", False),
        _field("sandbox", "yes" if e.sandboxed else "no (bubblewrap missing or off)"),
        _field("what to do", "Check these files now: the test run of a patch changed them.", False),
    ),
    ev.RolledBack: lambda e, v: _embed(f"Rolled back {e.backup_id}", _BLUE, ", ".join(e.paths)),
    ev.Restarting: _restarting,
    ev.GuardTripped: lambda e, v: _embed(
        f"Guard tripped: {e.guard}",
        _RED,
        f"{e.reading:g} is past the limit {e.limit:g}. {e.detail}",
    ),
    ev.GuardCleared: lambda e, v: _embed(
        f"Guard cleared: {e.guard}", _GREEN, f"{e.reading:g} is back under {e.limit:g}."
    ),
    ev.Anomaly: _anomaly,
    ev.Progress: _progress,
    ev.DataChanged: _data,
    ev.GaveUp: lambda e, v: _embed(
        "Phoenix gave up",
        _RED,
        e.reason,
        *([_field("rule", e.rule)] if e.rule else []),
        _field("what to do", _WHAT_TO_DO, False),
    ),
    ev.RunCompleted: _completed,
    ev.Stopped: lambda e, v: _embed("Phoenix stopped", _GREY, e.reason),
    ev.ModelPromoted: _promoted,
    ev.PromotionSkipped: _not_promoted,
}


def embed_for(event: ev.Event, view: RunView) -> Embed | None:
    """The embed for a milestone event (``view`` already holds it); None for other events."""
    render = _RENDER.get(type(event))
    if render is None:
        return None
    out = render(event, view)
    if event.ts:
        out["timestamp"] = _dt.datetime.fromtimestamp(event.ts, _dt.UTC).isoformat()
    return out


def fit(embed: Embed) -> Embed:
    """``embed`` cut to Discord's limits for each part (call it after redacting)."""
    out = dict(embed)
    out["title"] = _cut(str(out.get("title", "")), _TITLE)
    if "description" in out:
        out["description"] = _cut(str(out["description"]), _DESCRIPTION)
    fields = out.get("fields", [])[:_FIELDS]
    out["fields"] = [
        dict(f, name=_cut(str(f["name"]), _FIELD_NAME), value=_cut_code(str(f["value"])))
        for f in fields
    ]
    if not out["fields"]:
        del out["fields"]
    return out


def size(embed: Embed) -> int:
    """Characters Discord counts towards the 6,000 of a message."""
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    return n + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))


def take(sizes: Sequence[int]) -> int:
    """How many of the queued embeds (their sizes, in order) fit one message; at least one."""
    total = 0
    for n, s in enumerate(sizes[:MAX_EMBEDS]):
        total += s
        if total > MAX_TOTAL:
            return max(n, 1)
    return min(len(sizes), MAX_EMBEDS)
