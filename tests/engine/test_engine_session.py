"""The one factory of a supervised run: what headless and the console share, what differs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from engine_support import Recorder

from phoenix_engine import events as ev
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.gpu import SimulatedGpu
from phoenix_engine.session import build_session

Make = Callable[..., Settings]


@pytest.mark.parametrize(
    ("console", "discord", "approval", "holds", "lines"),
    [
        (False, {}, "auto", False, False),
        (False, {"discord_bot_token": "t", "discord_channel_id": "1"}, "auto", True, False),
        (True, {}, "manual", True, True),
        (True, {"approval": "auto"}, "auto", True, True),
    ],
)
def test_a_session_differs_by_front_end_only(
    make_settings: Make,
    console: bool,
    discord: dict[str, str],
    approval: str,
    holds: bool,
    lines: bool,
) -> None:
    s = make_settings("print('x')\n", **discord)
    gpu = SimulatedGpu()
    session = build_session(s, {}, console=console, gpu_sampler=gpu)
    assert session.desk.mode.kind == approval
    assert session.engine.approver is session.desk
    assert session.engine._control.hold_after_end is holds  # Discord's !resume, console's u
    assert session.engine.output.want_lines is lines
    assert gpu.pids == session.engine.training_pids  # the demo's card idles between runs


def test_services_are_announced_to_the_sinks_given(make_settings: Make, recorder: Recorder) -> None:
    s = make_settings("print('x')\n", discord_webhook_url="http://127.0.0.1:9/hook")
    session = build_session(s, {}, console=False, sinks=[recorder], gpu_sampler=SimulatedGpu())
    assert session.add_services(attach=False) == ["Discord notifications"]
    assert [n.message for n in recorder.of(ev.Notice)] == ["Discord notifications"]
