"""Discord for one engine: the webhook notifier, the run view, the remote control.

Built from the settings when they ask for it: a webhook URL turns on notifications, a bot
token plus a channel ID turn on remote control (then whoever builds the engine passes
``hold_after_end``: Phoenix waits after a remote ``!stop`` or a give-up, so ``!resume`` has
something to resume; see :func:`remote_control`).
"""

from __future__ import annotations

__all__ = ["add_discord", "remote_control"]

import asyncio
import contextlib
from typing import TYPE_CHECKING

from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.run_state import RunView
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine

if TYPE_CHECKING:
    import httpx

    from phoenix_engine.remote.discord_poll import RemoteControl


class _RemoteService:
    """RemoteControl as an engine service (it has no flush: closing cancels the poller)."""

    def __init__(self, remote: RemoteControl) -> None:
        self._remote = remote
        self._task: asyncio.Task[object] | None = None

    async def run(self) -> None:
        self._task = asyncio.current_task()
        await self._remote.run()

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


def _picture(engine: Engine) -> bytes:
    """The night's picture for the last message (imported late: most runs never need it)."""
    from phoenix_engine.io.report import render_last

    s = engine.settings
    return render_last(s.state_dir, title=s.project_dir.name)


def remote_control(settings: Settings) -> bool:
    """Whether the settings turn on Discord remote control (a bot token and a channel)."""
    return bool(settings.discord_bot_token and settings.discord_channel_id)


def add_discord(
    engine: Engine,
    desk: ApprovalDesk | None,
    view: RunView,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """Attach what the settings enable; return what was enabled, for the front end to say."""
    s = engine.settings
    enabled: list[str] = []
    if s.discord_webhook_url:  # imported here: most nights have no Discord
        from phoenix_engine.remote.discord_notify import DiscordNotifier

        notifier = DiscordNotifier(
            s.discord_webhook_url,
            redactor=engine.redactor,
            emit=engine.emit,
            transport=transport,
            picture=lambda: _picture(engine),
        )
        engine.add_sink(notifier)
        engine.add_service(notifier)
        enabled.append("notifications")
    if remote_control(s):
        from phoenix_engine.remote.controller import EngineController
        from phoenix_engine.remote.discord_poll import RemoteControl

        controller = EngineController(
            engine=engine,
            view=view,
            desk=desk,
            stop=lambda reason: engine.request_stop(reason, leave=False),
            resume=engine.resume,
        )
        remote = RemoteControl(
            api_base=s.discord_api_base,
            token=s.discord_bot_token,
            channel_id=s.discord_channel_id,
            allowed_users=s.discord_allowed_users,
            controller=controller,
            emit=engine.emit,
            redactor=engine.redactor,
            transport=transport,
            poll_s=s.discord_poll_sec,
        )
        engine.add_service(_RemoteService(remote))
        enabled.append("remote control")
    return enabled
