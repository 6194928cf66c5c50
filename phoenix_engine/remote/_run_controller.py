"""What any remote sender may ask of the run, whichever door it came through.

:class:`RunController` answers Discord's ``!status``, ``!stop``, ``!resume``, ``!accept`` and
``!reject`` and an attached console's ``status``, ``stop``, ``accept`` and ``reject`` alike,
from a :class:`~phoenix_engine.core.run_state.RunView`, an :class:`ApprovalDesk` and the stop
and resume it is handed. Each is built for one :class:`Origin`, which says how the approvals
and stops it causes name their sender (``discord:<user id>``, ``attach:<uid>``). What needs
the engine's files (patches, rollback, tail, config) is
:class:`~phoenix_engine.remote.controller.EngineController`'s; here it is refused.
"""

from __future__ import annotations

__all__ = ["ATTACH", "DISCORD", "Origin", "RunController"]

import time
from collections.abc import Callable
from dataclasses import dataclass

from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.run_state import Phase, RunView
from phoenix_engine.remote.commands import Reply, refused


@dataclass(frozen=True, slots=True, kw_only=True)
class Origin:
    """Where a controller's commands come from; each text formats ``{by}``, the sender."""

    approver: str  # a patch's approved_by, as the README documents it
    stop_reason: str  # the stop's reason when the sender gave none
    reject_reason: str  # a rejected patch's reason when the sender gave none


DISCORD = Origin(
    approver="discord:{by}",  # by: the Discord user ID
    stop_reason="!stop from Discord user {by}",
    reject_reason="rejected from Discord by {by}",
)
ATTACH = Origin(
    approver="{by}",  # by: attach:<uid>, what SO_PEERCRED said (never what the console says)
    stop_reason="stopped from an attached console ({by})",
    reject_reason="rejected from an attached console ({by})",
)


class RunController:
    """The commands any remote sender may give the run; each returns the reply.

    ``stop`` and ``resume`` are injected so a front end that keeps Phoenix waiting after a
    remote stop passes ``lambda r: engine.request_stop(r, leave=False)`` and
    ``engine.resume``; without ``resume`` there is none.
    """

    def __init__(
        self,
        *,
        view: RunView,
        stop: Callable[[str], None],
        desk: ApprovalDesk | None = None,
        resume: Callable[[str], bool] | None = None,
        origin: Origin = DISCORD,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._view, self._desk, self._stop, self._resume = view, desk, stop, resume
        self._origin, self._clock = origin, clock
        self._resumed_in: int | None = None  # view.runs when a resume was granted

    def status(self) -> Reply:
        return Reply(text=self._view.summary(now=self._clock()))

    def stop(self, by: str, reason: str = "") -> Reply:
        if self._view.final:
            return refused(f"nothing to stop: the run is {self._view.phase}")
        self._stop(reason or self._origin.stop_reason.format(by=by))
        grace = self._grace_s()
        text = "stopping the training"
        if grace is not None:
            text = f"stopping: the training gets SIGINT and {grace:g}s to checkpoint"
        return Reply(text=text + ("; !resume restarts" if self._resume is not None else ""))

    def _grace_s(self) -> float | None:
        """How long a stopped training has to checkpoint, where this controller knows."""
        return None

    def resume(self, by: str) -> Reply:
        if self._resume is None:
            return refused("!resume is not available in this front end")
        if self._view.phase not in (Phase.STOPPED, Phase.GAVE_UP):
            return refused(f"nothing to resume: the run is {self._view.phase}")
        if self._resumed_in == self._view.runs:
            return refused("already resuming: the training is about to start")
        if not self._resume(by):
            return refused(
                "could not resume: this Phoenix is not waiting for a resume (it is leaving)"
            )
        self._resumed_in = self._view.runs
        return Reply(text=f"resuming at the request of {by}: the training starts again")

    def accept(self, patch_id: str, by: str) -> Reply:
        approver = self._origin.approver.format(by=by)
        if self._desk is None or not self._desk.accept(patch_id, by=approver):
            return self._not_waiting(patch_id)
        return Reply(text=f"accepted patch {patch_id}: Phoenix backs up, applies it and restarts")

    def reject(self, patch_id: str, by: str, reason: str = "") -> Reply:
        approver = self._origin.approver.format(by=by)
        why = reason or self._origin.reject_reason.format(by=by)
        if self._desk is None or not self._desk.reject(patch_id, by=approver, reason=why):
            return self._not_waiting(patch_id)
        return Reply(text=f"rejected patch {patch_id}")

    def _not_waiting(self, patch_id: str) -> Reply:
        waiting = [p.id for p in self._desk.pending] if self._desk is not None else []
        return refused(
            f"no patch {patch_id!r} waits for approval"
            + (f" (waiting: {', '.join(waiting)})" if waiting else "")
        )

    def patches(self) -> Reply:
        return refused("!patches is not available in this front end")

    def rollback(self, backup_id: str, by: str) -> Reply:
        return refused("!rollback is not available in this front end")

    def tail(self, n: int) -> Reply:
        return refused("!tail is not available in this front end")

    def config(self) -> Reply:
        return refused("!config is not available in this front end")
