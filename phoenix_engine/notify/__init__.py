"""Notifications: milestones of the run sent to Discord (a webhook), rendered as embeds.

:class:`~phoenix_engine.notify.discord.DiscordNotifier` is an event sink with a sender task;
:mod:`~phoenix_engine.notify.embeds` renders events purely. Remote control by Discord messages
lives in :mod:`phoenix_engine.remote`.
"""

from __future__ import annotations

__all__ = ["DiscordNotifier", "embed_for"]

from phoenix_engine.notify.discord import DiscordNotifier
from phoenix_engine.notify.embeds import embed_for
