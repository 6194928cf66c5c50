"""The unfinished line of the training's output, for a live progress bar in the log pane.

The engine emits whole lines only, so a tqdm bar that rewrites itself with ``\\r`` for an
hour would stay invisible until its final newline. :class:`ProgressTap` wraps the engine's
spawner (a constructor seam) and remembers, per stream, the bytes after the last newline: an
``rfind`` per chunk. The console decodes it at most once per frame and shows the segment
after the last ``\\r`` as a live line, replaced in place until the real line arrives.
"""

from __future__ import annotations

__all__ = ["ProgressTap", "clean_partial"]

import codecs
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from phoenix_engine.supervisor import Child, spawn

_KEEP = 4096  # bytes of an unfinished line kept; a bar is far shorter
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")

Spawner = Callable[..., Awaitable[Child]]


def clean_partial(data: bytes) -> str:
    """What a terminal shows of an unfinished line: the last non-empty ``\\r`` segment."""
    text = codecs.decode(data, "utf-8", "replace")
    shown = [seg for seg in text.split("\r") if seg.strip()]
    return _CONTROL.sub("", shown[-1]).rstrip() if shown else ""


class ProgressTap:
    """Wraps a spawner so the console can see each stream's unfinished line."""

    def __init__(self, inner: Spawner = spawn) -> None:
        self._inner = inner
        self._pending: dict[str, bytes] = {}
        self._latest = ""  # the stream written to last
        self.version = 0  # bumped on every change, so a frame decodes only when needed

    async def spawn(
        self,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: Mapping[str, str],
        on_output: Callable[[str, bytes], None],
        **kwargs: Any,
    ) -> Child:
        self._pending.clear()
        self.version += 1

        def tapped(stream: str, data: bytes) -> None:
            on_output(stream, data)
            self.feed(stream, data)

        return await self._inner(argv, cwd=cwd, env=env, on_output=tapped, **kwargs)

    def feed(self, stream: str, data: bytes) -> None:
        cut = data.rfind(b"\n")
        before = self._pending.get(stream, b"")
        if cut >= 0:
            tail = data[cut + 1 :]
        else:
            tail = before + data
            if len(tail) > _KEEP:
                tail = tail[-_KEEP:]
        if tail or before:
            self._pending[stream] = tail
            self._latest = stream
            self.version += 1

    def partial(self) -> bytes:
        """The unfinished bytes of the stream written to last (may be empty)."""
        return self._pending.get(self._latest, b"")
