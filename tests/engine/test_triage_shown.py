"""Where triage shows: Discord embeds, ``phoenix status`` (RunView), ``phoenix doctor``."""

from __future__ import annotations

from collections.abc import Callable

from phoenix_engine import events as ev
from phoenix_engine.core.run_state import RunView
from phoenix_engine.core.settings import Settings
from phoenix_engine.doctor import run_checks
from phoenix_engine.io.state_store import Ledger, StateStore
from phoenix_engine.remote.embeds import embed_for

Make = Callable[..., Settings]

DISK = ev.Failure(
    kind="disk_full",
    signature="0123456789abcdef",
    summary="OSError: [Errno 28] No space left on device",
    action="wait",
    advice="disk full on /data (0.2 GB free): waiting for space",
)


def test_the_failure_embed_shows_kind_action_and_advice() -> None:
    view = RunView()
    view.apply(DISK)
    embed = embed_for(DISK, view)
    assert embed is not None
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["kind"] == "disk_full" and fields["action"] == "wait"
    assert fields["what Phoenix does"] == DISK.advice


def test_restarting_and_gave_up_embeds_name_their_rules() -> None:
    view = RunView()
    restart = ev.Restarting(
        attempt=1,
        max_attempts=3,
        restarts_used=4,
        max_restarts=20,
        cooldown_s=10,
        reason="restart without changes",
        action="restart",
        budget="attempt 1 of 3 for this failure (PHOENIX_MAX_RETRIES); restart 4 of 20",
    )
    embed = embed_for(restart, view)
    assert embed is not None
    assert any(f["value"] == restart.budget for f in embed["fields"])
    gave_up = ev.GaveUp(reason="3 restarts in a row made no progress", rule="X_RULE")
    embed = embed_for(gave_up, view)
    assert embed is not None
    assert any(f["name"] == "rule" and f["value"] == "X_RULE" for f in embed["fields"])


def test_status_shows_the_action_and_advice() -> None:
    view = RunView()
    view.apply(DISK)
    text = view.summary()
    assert "last failure: disk_full:" in text
    assert "action: wait: disk full on /data (0.2 GB free): waiting for space" in text


def test_doctor_lists_every_class_with_its_action(make_settings: Make) -> None:
    s = make_settings("print('hi')\n")
    rows = {c.name: c for c in run_checks(s, {"PATH": "/usr/bin:/bin"})}
    assert "stop" in rows["class gpu_fault"].detail and "restart" in rows["class gpu_fault"].detail
    assert "debug_rerun" in rows["class device_assert"].detail
    assert "quarantine" in rows["class corrupt_checkpoint"].detail
    assert "training command changed" not in rows


def test_doctor_shows_a_command_phoenix_changed(make_settings: Make) -> None:
    s = make_settings("print('hi')\n")
    s.state_dir.mkdir()
    changed = s.train_cmd + " --batch_size 4"
    why = "out of memory: batch size halved on the command line (--batch_size 8 -> 4)"
    fix = {"original": s.train_cmd, "command": changed, "why": why}
    StateStore(s.state_dir).save(Ledger(command=fix))
    rows = {c.name: c for c in run_checks(s, {"PATH": "/usr/bin:/bin"})}
    row = rows["training command changed"]
    assert row.warning and changed in row.detail and "--batch_size 8 -> 4" in row.detail
