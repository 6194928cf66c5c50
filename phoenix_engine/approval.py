"""The approval desk: the one place a vetted patch waits for a yes or a no.

Every front end resolves the same pending approvals: the console's ``a``/``r`` keys, a
Discord ``!accept ID``, an attached console. ``PHOENIX_APPROVAL`` picks the policy: ``auto``
approves at once (headless default), ``manual`` waits for an answer (console default), and
``timeout:SECONDS`` approves after that long if nobody answered.

Each answer says who gave it (``Decision.by``, recorded as ``approved_by`` of the
``patch_applied`` event): ``auto``, ``timeout``, ``console`` (keys in the console that runs the
engine), ``attach:<uid>`` (an attached console, the uid from the socket's peer credentials) or
``discord:<user id>``. Only those front ends hold a desk; nothing else can answer.
"""

from __future__ import annotations

__all__ = ["ApprovalDesk", "parse_mode"]

import asyncio
from dataclasses import dataclass

from phoenix_engine.events import Decision, PatchProposed


@dataclass(frozen=True, slots=True, kw_only=True)
class _Mode:
    kind: str  # "auto", "manual" or "timeout"
    seconds: float = 0.0


def parse_mode(setting: str, *, default: str) -> _Mode:
    """``PHOENIX_APPROVAL`` (already validated by config) with the front end's default."""
    text = setting or default
    if text.startswith("timeout:"):
        return _Mode(kind="timeout", seconds=float(text.split(":", 1)[1]))
    return _Mode(kind=text)


class ApprovalDesk:
    """Implements the engine's Approver; answers come from any front end by patch id."""

    def __init__(self, setting: str = "", *, default: str = "auto") -> None:
        self.mode = parse_mode(setting, default=default)
        self._waiting: dict[str, tuple[PatchProposed, asyncio.Future[Decision]]] = {}

    @property
    def pending(self) -> list[PatchProposed]:
        return [proposal for proposal, _ in self._waiting.values()]

    async def approve(self, proposal: PatchProposed) -> Decision:
        if self.mode.kind == "auto":
            return Decision(approved=True, reason="PHOENIX_APPROVAL=auto", by="auto")
        future: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._waiting[proposal.id] = (proposal, future)
        try:
            if self.mode.kind == "timeout":
                try:
                    return await asyncio.wait_for(asyncio.shield(future), self.mode.seconds)
                except TimeoutError:
                    why = f"nobody answered within {self.mode.seconds:g} s (PHOENIX_APPROVAL)"
                    return Decision(approved=True, reason=why, by="timeout")
            return await future
        finally:
            self._waiting.pop(proposal.id, None)

    def accept(self, patch_id: str, *, by: str = "operator") -> bool:
        """Approve a waiting patch; False when no patch with that id (or prefix) waits."""
        return self._answer(patch_id, Decision(approved=True, reason="accepted", by=by))

    def reject(self, patch_id: str, *, by: str = "operator", reason: str = "rejected") -> bool:
        return self._answer(patch_id, Decision(approved=False, reason=reason, by=by))

    def cancel_pending(self, reason: str) -> None:
        """On stop: nothing may be applied by an answer that comes after."""
        for patch_id in list(self._waiting):
            self._answer(patch_id, Decision(approved=False, reason=reason, by="phoenix"))

    def _answer(self, patch_id: str, decision: Decision) -> bool:
        matches = [k for k in self._waiting if k == patch_id] or [
            k for k in self._waiting if patch_id and k.startswith(patch_id)
        ]
        if len(matches) != 1:
            return False
        _, future = self._waiting[matches[0]]
        if future.done():
            return False
        future.set_result(decision)
        return True
