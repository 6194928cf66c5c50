"""One reader for event records: the wire and the journal rebuild and refuse the same way."""

from __future__ import annotations

import json
from typing import Any

import pytest

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.io.journal import event_record
from phoenix_engine.io.recorded import event_from_record
from phoenix_engine.remote.wire import WireError, decode_event, encode_event

GPU = ev.GpuStatus(
    ts=1_790_000_000.0,
    source="nvml",
    gpus=(ev.GpuReading(index=0, name="H100", util_pct=50.0, mem_used_mb=1, mem_total_mb=2),),
)
APPLIED = ev.PatchApplied(
    ts=1_790_000_000.0, id="p", backup_id="b", paths=("a.py",), approved_by="console"
)


@pytest.mark.parametrize("event", [APPLIED, ev.Notice(ts=1_790_000_000.0, message="hi")])
def test_both_readers_rebuild_what_was_written(event: ev.Event) -> None:
    assert decode_event(json.loads(json.dumps(encode_event(event)))) == event
    assert event_from_record(json.loads(json.dumps(event_record(event, Redactor([]))))) == event


def test_nested_readings_are_rebuilt_and_checked() -> None:
    assert decode_event(json.loads(json.dumps(encode_event(GPU)))) == GPU
    with pytest.raises(WireError, match=r"gpu\.gpus\.index must be int"):
        decode_event({**encode_event(GPU), "gpus": [{"index": "0", "name": "H100"}]})


@pytest.mark.parametrize(
    "change",
    [
        {"message": 7},
        {"message": None},
        {"message": ["a"]},
        {"event": "no_such_event"},
        {"paths": "a.py"},
        {"backup_id": True},
    ],
)
def test_both_readers_refuse_the_same_records(change: dict[str, Any]) -> None:
    kind = ev.Notice if "message" in change else ev.PatchApplied
    event = APPLIED if kind is ev.PatchApplied else ev.Notice(ts=APPLIED.ts, message="m")
    if "event" in change:
        event = APPLIED
    with pytest.raises(WireError):
        decode_event({**encode_event(event), **change})
    assert event_from_record({**event_record(event, Redactor([])), **change}) is None
