"""The morning after, with the installed ``phoenix``: how the night ended (``status``, ``runs``,
the summary at the end, the line before the next run), its picture (``report``), and the
picture on Discord's last message."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cli_support import phoenix, user_env
from fakes.discord_server import DiscordApp, DiscordServer

from phoenix_engine.io.lock import ProjectLock

PY = sys.executable
# Crashes once (a typo the built-in doctor fixes), then trains and completes.
TRAIN = (
    "import json\n"
    "learning_rate = 0.1\n"
    "for step in range(1, 6):\n"
    "    print(json.dumps({'step': step, 'loss': learning_rate / step, 'grad_norm': 1.5}))\n"
    "print('lr', lerning_rate)\n"
)


@dataclass(frozen=True)
class Night:
    project: Path
    discord: DiscordApp
    stderr: str


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> Night:
    project = tmp_path_factory.mktemp("night")
    (project / "train.py").write_text(TRAIN)
    app = DiscordApp()
    with DiscordServer(app) as server:
        env = user_env(PHOENIX_PRIMARY="builtin", PHOENIX_DISCORD_WEBHOOK_URL=server.webhook_url)
        out = phoenix("--unattended", "--", PY, "train.py", cwd=project, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return Night(project=project, discord=app, stderr=out.stderr)


def test_headless_ends_with_a_summary(night: Night) -> None:
    tail = night.stderr[night.stderr.index("phoenix: last run") :]
    assert ": completed" in tail.splitlines()[0]
    assert "restarts: 1, repairs: 1" in tail
    assert "NameError" in tail  # the repair's one-line summary
    assert "loss 0.02" in tail and ".phoenix_cli/ (run.log, train.log, metrics.jsonl)" in tail


def test_status_without_an_engine_says_how_the_last_run_ended(night: Night) -> None:
    project = night.project
    out = phoenix("status", cwd=project)
    assert out.returncode == 1 and "no engine runs" in out.stderr  # as documented
    assert out.stdout.startswith("last run ") and ": completed" in out.stdout
    assert "step 5, loss 0.02" in out.stdout
    as_json = phoenix("status", "--json", cwd=project)
    assert as_json.returncode == 1
    row = json.loads(as_json.stdout)  # one object
    assert row["running"] is False and row["last_run"]["outcome"] == "completed"
    assert row["last_run"]["restarts"] == 1 and len(row["last_run"]["repairs"]) == 1


def test_runs_lists_the_night_and_the_next_run_is_told_about_it(
    night: Night, tmp_path: Path
) -> None:
    project = tmp_path / "copy"  # the other tests read the night as it was
    shutil.copytree(night.project, project)
    listed = phoenix("runs", cwd=project)
    assert listed.returncode == 0
    header, row = listed.stdout.splitlines()
    assert header.split()[:4] == ["run", "started", "ended", "outcome"]
    assert "completed" in row
    again = phoenix("--unattended", "--", PY, "-c", "print('step 1 loss 0.1')", cwd=project)
    first = again.stderr.splitlines()[0]
    assert first.startswith("phoenix: last run ") and " completed (" in first
    assert len(phoenix("runs", "--json", cwd=project).stdout.splitlines()) == 2


def test_report_draws_the_night_as_png_and_svg(night: Night) -> None:
    project = night.project
    first_run = json.loads(phoenix("runs", "--json", cwd=project).stdout.splitlines()[0])
    out = phoenix("report", first_run["run_id"], "-o", "night.png", cwd=project)
    assert out.returncode == 0, out.stderr
    assert (project / "night.png").read_bytes().startswith(b"\x89PNG")
    svg = phoenix("report", "--svg", cwd=project)
    assert svg.returncode == 0 and ".svg" in svg.stdout
    assert phoenix("report", "nosuchrun", cwd=project).returncode == 2


def test_discord_last_message_carries_the_picture(night: Night) -> None:
    app = night.discord
    titles = [e.get("title", "") for post in app.webhook_posts for e in post["embeds"]]
    assert titles[-1] == "Training completed"
    last = app.webhook_files[-1]["files[0]"]
    assert last.filename == "night.png" and last.data.startswith(b"\x89PNG")
    assert all(not files for files in app.webhook_files[:-1])


def test_a_run_that_never_ended_is_a_crash_unless_a_phoenix_holds_the_project(
    tmp_path: Path,
) -> None:
    state = tmp_path / ".phoenix_cli"
    state.mkdir()
    started = {"ts": "2026-12-01T22:00:00.000Z", "event": "run_started", "command": "c"}
    started |= {"project": str(tmp_path), "mode": "auto", "phoenix_pid": 1, "run_id": "x1"}
    (state / "run.log").write_text(json.dumps(started) + "\n")
    out = phoenix("status", cwd=tmp_path)
    assert out.returncode == 1 and out.stdout.startswith("last run x1: crashed")
    assert "Phoenix itself ended" in out.stdout and "last heard of: " in out.stdout
    lock = ProjectLock(state)
    lock.acquire()  # a Phoenix starting up: locked, not answering yet
    try:
        assert "last run x1: running" in phoenix("status", cwd=tmp_path).stdout
    finally:
        lock.release()


def test_review_refuses_while_an_engine_holds_the_project(night: Night, tmp_path: Path) -> None:
    empty = phoenix("review", cwd=tmp_path)
    assert empty.returncode == 2 and "none is yet" in empty.stderr
    lock = ProjectLock(night.project / ".phoenix_cli")
    lock.acquire()
    try:
        held = phoenix("review", cwd=night.project)
    finally:
        lock.release()
    assert held.returncode == 3 and "phoenix" in held.stderr  # the lock names its holder
