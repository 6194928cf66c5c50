"""The journal: JSON lines with ISO UTC times, redacted, rotated, never raising."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from phoenix_engine import events as ev
from phoenix_engine.core.redact import Redactor
from phoenix_engine.io.journal import JournalSink, RotatingFile, iso_utc


def read_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_iso_utc() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_790_000_000.25) == "2026-09-21T14:13:20.250Z"


def test_events_become_json_lines_with_ts_event_and_fields(tmp_path: Path) -> None:
    sink = JournalSink(tmp_path / "run.log", redactor=Redactor(), max_bytes=0)
    sink.emit(ev.Failure(ts=1.5, kind="exception", signature="ab12", summary="NameError: x"))
    applied = ev.PatchApplied(
        ts=2.0, id="p1", backup_id="b1", paths=("a.py", "b.py"), approved_by="discord:42"
    )
    sink.emit(applied)
    sink.emit(ev.OutputLines(ts=3.0, stream="stdout", lines=("not journaled",)))
    sink.close()
    rows = read_lines(tmp_path / "run.log")
    assert rows == [
        {
            "ts": "1970-01-01T00:00:01.500Z",
            "event": "failure",
            "kind": "exception",
            "signature": "ab12",
            "summary": "NameError: x",
            "exc_type": "",
            "location": "",
            "repairable": True,
            "action": "repair",  # issue 12: what Phoenix does, and why
            "advice": "",
        },
        {
            "ts": "1970-01-01T00:00:02.000Z",
            "event": "patch_applied",
            "id": "p1",
            "backup_id": "b1",
            "paths": ["a.py", "b.py"],
            "dry_run": False,
            "approved_by": "discord:42",
        },
    ]


def test_secrets_never_reach_the_journal(tmp_path: Path) -> None:
    redactor = Redactor.from_env({"GEMINI_API_KEY": "key-value-123456"})
    sink = JournalSink(tmp_path / "run.log", redactor=redactor, max_bytes=0)
    sink.emit(ev.ProviderFailed(ts=1, provider="gemini_api", reason="bad key key-value-123456"))
    sink.emit(ev.Notice(ts=1, message="token hf_abcdefghijklmnopqrstuvwxyz0123"))
    sink.close()
    text = (tmp_path / "run.log").read_text()
    assert "key-value-123456" not in text
    assert "hf_abcdefghij" not in text
    assert text.count("[REDACTED]") == 2


def test_journal_rotates_by_size(tmp_path: Path) -> None:
    sink = JournalSink(tmp_path / "run.log", redactor=Redactor(), max_bytes=600)
    for i in range(30):
        sink.emit(ev.Notice(ts=i, message=f"message number {i}"))
    sink.close()
    assert (tmp_path / "run.log.1").exists()
    assert (tmp_path / "run.log").stat().st_size <= 600
    last = read_lines(tmp_path / "run.log")[-1]
    assert last["message"] == "message number 29"


def test_rotating_file_keeps_n_generations(tmp_path: Path) -> None:
    f = RotatingFile(tmp_path / "train.log", max_bytes=100, keep=3)
    for i in range(10):
        f.write(f"{i:02d}".encode() * 30 + b"\n")  # 61 bytes: every write after the first rotates
    f.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["train.log", "train.log.1", "train.log.2", "train.log.3"]
    assert (tmp_path / "train.log").read_bytes().startswith(b"09")
    assert (tmp_path / "train.log.3").read_bytes().startswith(b"06")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_full_disk_is_reported_once_and_never_raises() -> None:
    reasons: list[str] = []
    sink = JournalSink(Path("/dev/full"), redactor=Redactor(), max_bytes=0, on_error=reasons.append)
    for i in range(5):
        sink.emit(ev.Notice(ts=i, message="x"))
    assert len(reasons) == 1
    assert "No space left" in reasons[0]


def test_unopenable_journal_is_reported(tmp_path: Path) -> None:
    reasons: list[str] = []
    sink = JournalSink(
        tmp_path / "missing-dir" / "run.log",
        redactor=Redactor(),
        max_bytes=0,
        on_error=reasons.append,
    )
    sink.emit(ev.Notice(ts=1, message="x"))
    assert reasons and "cannot open the journal" in reasons[0]


def test_url_userinfo_and_bare_webhook_tokens_never_reach_the_journal(tmp_path: Path) -> None:
    token = "Xy7" + "aB3_-cD9eF" * 6 + "Zq1w2"
    sink = JournalSink(tmp_path / "run.log", redactor=Redactor(), max_bytes=0)
    sink.emit(ev.Notice(ts=1.0, message=f"fallback https://bob:pw12345@llm.example/v1 {token}"))
    sink.close()
    text = (tmp_path / "run.log").read_text()
    assert "pw12345" not in text and token not in text
    assert "https://[REDACTED]@llm.example/v1 [REDACTED]" in text
