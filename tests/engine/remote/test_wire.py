"""The wire: events round-trip, and a malformed one is a WireError before it reaches a sink."""

from __future__ import annotations

import math
from typing import Any

import pytest

from phoenix_engine import events as ev
from phoenix_engine.remote.wire import WireError, check_command, decode_event, encode_event


def test_events_round_trip_with_nested_values_and_non_finite_metrics() -> None:
    gpu = ev.GpuStatus(
        ts=5.0,
        source="nvml",
        gpus=(ev.GpuReading(index=0, name="H100", util_pct=50.0, mem_used_mb=1, mem_total_mb=2),),
    )
    assert decode_event(encode_event(gpu)) == gpu
    sample = ev.MetricSample(ts=6.0, step=3, loss=math.inf)
    assert decode_event(encode_event(sample)) == sample  # divergence travels as it is
    applied = ev.PatchApplied(id="p", backup_id="b", paths=("a.py",), approved_by="console")
    assert decode_event(encode_event(applied)) == applied


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"event": "notice", "message": "x", "ts": "yesterday"}, "notice.ts must be float"),
        ({"event": "notice", "message": "x", "ts": 1e400}, "is not a time"),
        ({"event": "notice", "message": "x", "ts": -1}, "is not a time"),
        ({"event": "notice", "message": "x", "ts": True}, "notice.ts must be float"),
        ({"event": "notice", "message": 7}, "notice.message must be str"),
        ({"event": "notice", "message": ["a"]}, "notice.message must be str"),
        ({"event": "notice"}, "bad notice event"),
        ({"event": "rolled_back", "backup_id": "b", "paths": "a.py"}, "must be a list"),
        ({"event": "rolled_back", "backup_id": "b", "paths": [1]}, "rolled_back.paths must be"),
        ({"event": "rolled_back", "backup_id": {}, "paths": []}, "backup_id must be str"),
        ({"event": "gpu", "source": "nvml", "gpus": [3]}, "must be an object"),
        ({"event": "no_such_event"}, "unknown event"),
    ],
)
def test_malformed_events_are_refused_with_the_field_named(data: dict[str, Any], why: str) -> None:
    with pytest.raises(WireError, match=why):
        decode_event(data)


@pytest.mark.parametrize(
    ("message", "why"),
    [
        ({"type": "event"}, "unexpected message type 'event'"),
        ({"type": "command", "command": "format_disk"}, "unknown command 'format_disk'"),
        ({"type": "command", "command": ["stop"]}, "unknown command"),
        ({"type": "command", "command": "accept"}, "accept needs a patch_id"),
        ({"type": "command", "command": "accept", "patch_id": 7}, "'patch_id' must be str"),
        ({"type": "command", "command": "stop", "reason": {"a": 1}}, "'reason' must be str"),
        ({"type": "command", "command": "status", "id": [1]}, "'id' must be int or str"),
        ({"type": "command", "command": "record", "event": "notice"}, "'event' must be dict"),
        ({"type": "command", "command": "record"}, "record needs an 'event' object"),
    ],
)
def test_malformed_commands_are_refused(message: dict[str, Any], why: str) -> None:
    with pytest.raises(WireError, match=why):
        check_command(message)


def test_well_formed_commands_pass_as_they_are() -> None:
    for message in (
        {"type": "command", "id": 1, "command": "status", "who": "123"},
        {"type": "command", "id": 2, "command": "reject", "patch_id": "ab12", "reason": "no"},
        {"type": "command", "command": "record", "event": {"event": "notice", "message": "x"}},
    ):
        assert check_command(message) is message


def test_the_socket_commands_are_the_remote_command_set_plus_record() -> None:
    from phoenix_engine.remote import commands, wire

    assert set(wire.COMMANDS) - {"record"} <= set(commands.COMMANDS)
