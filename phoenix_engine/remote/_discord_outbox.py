"""The Discord notifier's outbox: the bounded queue of rendered messages waiting to be sent.

Discord being down must cost a bounded amount of memory, and what is dropped must be what
matters least: a full outbox drops its oldest progress message first, and only when there is
none, its oldest message. The drops are counted so that the notifier can say, once, how many
were lost. A message being sent is out of the outbox, so a full one never drops it.
"""

from __future__ import annotations

__all__ = ["Item", "Outbox"]

from collections import deque
from dataclasses import dataclass

from phoenix_engine.remote.embeds import Embed


@dataclass(frozen=True, slots=True, kw_only=True)
class Item:
    embed: Embed
    progress: bool
    final: bool = False  # the run ended: this message carries the picture of the night


class Outbox:
    """At most ``limit`` messages, oldest first."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 1)
        self._items: deque[Item] = deque()
        self.dropped = 0  # messages dropped because the outbox was full
        self._reported = 0

    def __len__(self) -> int:
        return len(self._items)

    def push(self, item: Item) -> None:
        if len(self._items) >= self.limit:
            victim = next((i for i in self._items if i.progress), self._items[0])
            self._items.remove(victim)
            self.dropped += 1
        self._items.append(item)

    def head(self, n: int) -> list[Item]:
        """The first ``n`` messages, left in the outbox."""
        return list(self._items)[:n]

    def take(self, n: int) -> list[Item]:
        """The first ``n`` messages, out of the outbox (they are being sent)."""
        return [self._items.popleft() for _ in range(min(n, len(self._items)))]

    def clear(self) -> int:
        """Empty it; how many messages it held."""
        held = len(self._items)
        self._items.clear()
        return held

    def new_drops(self) -> int:
        """Messages dropped since the last call."""
        new, self._reported = self.dropped - self._reported, self.dropped
        return new
