"""The remote commands acting on a real engine: Discord's controller.

:class:`EngineController` is the :class:`~phoenix_engine.remote._run_controller.RunController`
(status, stop, resume, accept, reject; shared with the attach socket) plus what needs the
engine itself: its backups (``!patches``, ``!rollback``), its output tail and its settings. It
refuses what would be unsafe from a phone: a rollback while the training runs (stop first), a
resume of a run that is not stopped. :func:`doctor_lines` says what ``phoenix doctor`` should
report about the Discord settings, including how to find a user ID and enable the content
intent.
"""

from __future__ import annotations

__all__ = ["EngineController", "doctor_lines"]

import time
from collections.abc import Callable
from typing import Protocol

from phoenix_engine import events as ev
from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.run_state import RunView
from phoenix_engine.core.settings import SPECS, Settings, shown_value
from phoenix_engine.io.backups import BackupError, list_backups, rollback
from phoenix_engine.io.output import OutputTail
from phoenix_engine.remote._run_controller import RunController
from phoenix_engine.remote.commands import Reply, refused

_REPLY_CHARS = 1900  # Discord's 2,000 less room for a code fence
_KEY_SETTINGS = ("train_cmd", "primary", "patch_mode", "approval", "max_retries", "max_restarts")
_HOW_TO_ID = (
    "commands are refused until PHOENIX_DISCORD_ALLOWED_USERS lists your user ID (Discord: "
    "Settings > Advanced > Developer Mode, then right-click your name > Copy User ID)"
)


class EngineLike(Protocol):
    """What the controller needs of :class:`~phoenix_engine.engine.Engine`."""

    settings: Settings
    redactor: Redactor
    tail: OutputTail

    def emit(self, event: ev.Event) -> None: ...
    def request_stop(self, reason: str, *, force: bool = False) -> None: ...


class EngineController(RunController):
    """Commands from Discord, answered from the engine's state and files."""

    def __init__(
        self,
        *,
        engine: EngineLike,
        view: RunView,
        desk: ApprovalDesk | None = None,
        stop: Callable[[str], None] | None = None,
        resume: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            view=view,
            stop=stop or engine.request_stop,
            desk=desk,
            resume=resume,
            clock=clock,
        )
        self._engine = engine

    def _grace_s(self) -> float | None:
        return self._engine.settings.kill_grace_sec

    def patches(self) -> Reply:
        lines = []
        for p in self._desk.pending if self._desk is not None else []:
            lines.append(f"waiting: {p.id} from {p.provider}: {', '.join(p.paths)}")
        if lines:
            lines.append("answer with !accept ID or !reject ID")
        for r in list_backups(self._engine.settings.state_dir)[:5]:
            lines.append(f"backup {r.id} ({r.state}, {r.kind}): {', '.join(r.paths) or '-'}")
        return Reply(
            text="\n".join(lines) or "no patch waits for approval and there are no backups"
        )

    def rollback(self, backup_id: str, by: str) -> Reply:
        # Until the resumed run announces itself the view still says "stopped": not safe.
        if not self._view.final or self._resumed_in == self._view.runs:
            return refused(
                f"refused: the training is {self._view.phase}; "
                "send !stop, then !rollback ID, then !resume"
            )
        s = self._engine.settings
        try:
            result = rollback(s.state_dir, s.project_dir, backup_id, clock=self._clock)
        except BackupError as exc:
            return refused(f"rollback refused: {exc}")
        self._engine.emit(result.event())
        return Reply(
            text=f"rolled back {result.backup_id} for {by}: restored {', '.join(result.paths)}; "
            f"undo with !rollback {result.safety_backup_id}"
        )

    def tail(self, n: int) -> Reply:
        lines = [self._engine.redactor.redact(line) for line in self._engine.tail.lines(n)]
        kept: list[str] = []
        used = 0
        for line in reversed(lines):
            line = line if len(line) <= 300 else line[:299] + "…"
            if used + len(line) + 1 > _REPLY_CHARS - 10:
                break
            kept.append(line.replace("```", "`\u200b``"))
            used += len(line) + 1
        return Reply(
            text="```\n" + "\n".join(reversed(kept)) + "\n```" if kept else "no output yet"
        )

    def config(self) -> Reply:
        s = self._engine.settings
        lines = [
            f"{spec.env}={shown_value(s, spec.field)}"
            for spec in SPECS
            if spec.field in _KEY_SETTINGS or s.sources.get(spec.field, "default") != "default"
        ]
        text = self._engine.redactor.redact("\n".join(lines))
        return Reply(text=text[:_REPLY_CHARS] + "\n(all settings: phoenix doctor)")


def doctor_lines(settings: Settings) -> list[tuple[str, bool, str]]:
    """(name, ok, detail) rows about Discord for ``phoenix doctor``."""
    s = settings
    webhook = "set: milestones are posted" if s.discord_webhook_url else "not set: no notifications"
    rows = [("discord notifications", True, webhook + " (PHOENIX_DISCORD_WEBHOOK_URL)")]
    token, channel = bool(s.discord_bot_token), bool(s.discord_channel_id)
    if token != channel:
        missing = "PHOENIX_DISCORD_CHANNEL_ID" if token else "PHOENIX_DISCORD_BOT_TOKEN"
        rows.append(("discord remote control", False, f"off: {missing} is not set"))
        return rows
    if not token:
        rows.append(("discord remote control", True, "off (PHOENIX_DISCORD_BOT_TOKEN)"))
        return rows
    every = f"polls channel {s.discord_channel_id} every {s.discord_poll_sec:g}s"
    rows.append(("discord remote control", True, every))
    users = s.discord_allowed_users
    if users:
        rows.append(("discord allowed users", True, f"{len(users)} user(s) may command"))
    else:
        rows.append(("discord allowed users", False, _HOW_TO_ID))
    hint = (
        "if commands go unanswered, enable the Message Content Intent (Discord Developer "
        "Portal > your application > Bot > Privileged Gateway Intents), or mention the bot: "
        "@Phoenix !status"
    )
    rows.append(("discord message content", True, hint))
    return rows
