"""The corpus replayed through the real Engine: a stand-in train.py prints a case's log and ends
the way the real run did (exit 1, SIGKILL, SIGABRT, exit 75); the failure event has the case's
kind and action, and the repair step (a fake provider) is asked only when the action is repair."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from engine_support import Recorder
from failure_corpus import CORPUS, Case

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.errors import ExitCode

Make = Callable[..., Settings]

STAND_IN = """
import os, signal, sys
from pathlib import Path
text = Path(sys.argv[1]).read_text(encoding="utf-8").split("\\n---\\n", 1)[1]
sys.stdout.write(text)
sys.stdout.flush()
how, n = sys.argv[2], int(sys.argv[3])
if how == "signal":
    os.kill(os.getpid(), n)
sys.exit(n)
"""


class FakeRepairer:
    """Stands for the provider chain: records what it is asked, changes nothing."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def repair(self, failure: Any, tail: Sequence[str], ledger: Any, **_: object) -> str:
        self.asked.append(failure.kind)
        return "no usable patch from any provider: restart without changes"


REPLAYED = [c for c in CORPUS if c.replay]


def test_the_replayed_subset_covers_every_action() -> None:
    actions = {c.replay_action or c.action for c in REPLAYED}
    assert actions >= {"repair", "restart", "resume_previous", "debug_rerun", "stop"}


@pytest.mark.parametrize("case", REPLAYED, ids=[c.name for c in REPLAYED])
def test_replayed_failure_is_triaged(make_settings: Make, recorder: Recorder, case: Case) -> None:
    how, _, n = case.end.partition(" ")
    s = make_settings(STAND_IN, patch_mode="auto", max_restarts="1")
    s = _with_command(s, f"{sys.executable} train.py {case.path} {how} {n}")
    fake = FakeRepairer()
    engine = Engine(s, env=os.environ, sinks=[recorder], repairer=fake)
    code = asyncio.run(asyncio.wait_for(engine.run(), 30))
    assert code in (ExitCode.GAVE_UP, ExitCode.COMPLETED)
    first = recorder.of(ev.Failure)[0]
    action = case.replay_action or case.action
    assert (first.kind, first.action) == (case.kind, action), first.summary
    assert first.advice or action == "repair"
    assert fake.asked == ([case.kind] if action == "repair" else [])
    if action == "stop":
        (gave_up,) = recorder.of(ev.GaveUp)
        assert gave_up.rule == f"class {case.kind}: stop"
        assert "restarting" not in recorder.names()


def _with_command(s: Settings, command: str) -> Settings:
    return dataclasses.replace(s, train_cmd=command)
