"""The approval desk: auto, manual answers by id or prefix, timeout, reject on stop."""

from __future__ import annotations

import asyncio

from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.events import PatchProposed


def proposal(pid: str = "abc123def456") -> PatchProposed:
    return PatchProposed(id=pid, provider="builtin", signature="s", paths=("a.py",), diff="")


async def test_auto_approves_at_once() -> None:
    decision = await ApprovalDesk("auto").approve(proposal())
    assert decision.approved and decision.by == "auto"


async def test_manual_waits_for_an_answer_by_id_prefix() -> None:
    desk = ApprovalDesk("", default="manual")
    task = asyncio.create_task(desk.approve(proposal()))
    await asyncio.sleep(0)
    assert [p.id for p in desk.pending] == ["abc123def456"]
    assert not desk.accept("zzz")
    assert desk.accept("abc1", by="discord:42")
    decision = await task
    assert decision.approved and decision.by == "discord:42"
    assert desk.pending == []


async def test_reject_and_cancel_pending() -> None:
    desk = ApprovalDesk("manual")
    first = asyncio.create_task(desk.approve(proposal("111")))
    second = asyncio.create_task(desk.approve(proposal("222")))
    await asyncio.sleep(0)
    assert desk.reject("111", reason="looks wrong")
    assert (await first).reason == "looks wrong"
    desk.cancel_pending("phoenix is stopping")
    decision = await second
    assert not decision.approved and decision.reason == "phoenix is stopping"


async def test_timeout_approves_when_nobody_answers() -> None:
    desk = ApprovalDesk("timeout:0.05")
    decision = await desk.approve(proposal())
    assert decision.approved and decision.by == "timeout" and "0.05" in decision.reason


async def test_an_answer_before_the_timeout_wins() -> None:
    desk = ApprovalDesk("timeout:5")
    task = asyncio.create_task(desk.approve(proposal()))
    await asyncio.sleep(0)
    assert desk.reject("abc", reason="no")
    decision = await task
    assert not decision.approved and decision.by == "operator"
