"""README documents every setting and every journal event, and opens with the two commands."""

from __future__ import annotations

from pathlib import Path

from phoenix_engine.core.settings import SPECS
from phoenix_engine.events import ALL_EVENTS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_opens_with_make_demo_and_make_test() -> None:
    block = README.split("```")[1]
    commands = [line.split("#")[0].strip() for line in block.splitlines()[1:] if line.strip()]
    assert commands == ["make demo", "make test"]


def test_every_setting_is_documented() -> None:
    missing = [spec.env for spec in SPECS if f"`{spec.env}`" not in README]
    assert missing == []


def test_every_journaled_event_is_documented() -> None:
    missing = [e.name for e in ALL_EVENTS if e.journal and f"`{e.name}`" not in README]
    assert missing == []
