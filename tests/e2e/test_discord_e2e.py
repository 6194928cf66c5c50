"""The installed ``phoenix --unattended`` talking to a loopback Discord: notifications, a
stale command ignored, a stranger refused, and an allowed user's !accept applying a patch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cli_support import PHOENIX, user_env
from fakes.discord_server import (
    BOT_TOKEN,
    CHANNEL_ID,
    WEBHOOK_TOKEN,
    DiscordApp,
    DiscordServer,
)
from waiting import until_sync

OWNER = "123456789012345678"
STRANGER = "999999999999999999"
TRAIN = "learning_rate = 0.1\nprint('step 1 loss', lerning_rate)\n"


def journal(project: Path) -> list[dict[str, object]]:
    path = project / ".phoenix_cli" / "run.log"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def wait_for(project: Path, event: str, proc: subprocess.Popen[str]) -> dict[str, object]:
    found: list[dict[str, object]] = []

    def seen() -> bool:
        found[:] = [row for row in journal(project) if row["event"] == event]
        return bool(found)

    until_sync(seen, 30, what=f"{event} in the journal", give_up=lambda: proc.poll() is not None)
    return found[0]


def test_discord_notifies_and_an_allowed_user_accepts_the_patch(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    app = DiscordApp()
    with DiscordServer(app) as server:
        env = user_env(
            PHOENIX_TRAIN_CMD=f"{sys.executable} train.py",
            PHOENIX_PRIMARY="builtin",
            PHOENIX_APPROVAL="manual",
            PHOENIX_DISCORD_WEBHOOK_URL=server.webhook_url,
            PHOENIX_DISCORD_BOT_TOKEN=BOT_TOKEN,
            PHOENIX_DISCORD_CHANNEL_ID=CHANNEL_ID,
            PHOENIX_DISCORD_API_BASE=server.api_base,
            PHOENIX_DISCORD_ALLOWED_USERS=OWNER,
            PHOENIX_DISCORD_POLL_SEC="1",
        )
        app.post(OWNER, "!stop")  # posted before phoenix started: must be ignored
        proc = subprocess.Popen(
            [PHOENIX, "--unattended", "-C", str(tmp_path)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            proposed = wait_for(tmp_path, "approval_requested", proc)
            app.post(STRANGER, "!stop")
            wait_for(tmp_path, "remote_command", proc)
            app.post(OWNER, f"!accept {proposed['id']}")
            assert proc.wait(timeout=60) == 0
        finally:
            proc.kill()
        bodies = [seen.body for seen in server.seen]
    rows = journal(tmp_path)
    commands = [r for r in rows if r["event"] == "remote_command"]
    assert [(c["user_id"], c["command"], c["allowed"]) for c in commands][:2] == [
        (STRANGER, "!stop", False),
        (OWNER, f"!accept {proposed['id']}", True),
    ]
    assert "stopped" not in [r["event"] for r in rows]
    assert [r["event"] for r in rows][-1] == "run_completed"
    assert "lerning_rate" not in (tmp_path / "train.py").read_text()
    titles = [e.get("title", "") for post in app.webhook_posts for e in post.get("embeds", [])]
    text = " ".join(titles).lower()
    assert "start" in titles[0].lower() and "complete" in titles[-1].lower(), titles
    assert "patch" in text
    for body in bodies:
        assert BOT_TOKEN.encode() not in body and WEBHOOK_TOKEN.encode() not in body
