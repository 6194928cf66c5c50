"""How long a silence may last before it is a hang: start-up allowance, heartbeat, learned limit.

Pure (times are passed in). Per training process:

- Until the training itself speaks, the start-up allowance (``PHOENIX_HEARTBEAT_STARTUP_MIN``)
  holds. A launcher's banner or warning is not the training speaking: torchrun's ``*****``
  block and its ``OMP_NUM_THREADS`` note (glog-style ``W1202 08:54:37.843 ... run.py:874]``
  lines), accelerate's dump of the defaults it used, Python warnings and blank lines.
- Then ``PHOENIX_HEARTBEAT_MIN`` holds, or with ``PHOENIX_HEARTBEAT_LEARN=1`` a limit learned
  from the run's rhythm once it has shown one (``_LEARN_AFTER`` gaps): 10 times the longest
  gap seen so far, at least 2 minutes, at most the heartbeat. Each new limit is announced with
  the gap it was learned from (a silent evaluation phase longer than that would be taken for a
  hang, so the journal must say where the limit came from).
- Anything that shows life resets the silence: output, and (the engine polls) checkpoint files
  that grew (see :func:`phoenix_engine.io.checkpoints.activity`).
"""

from __future__ import annotations

__all__ = ["Heartbeat", "is_launcher_noise"]

import re

from phoenix_engine.core.lines import LineSplitter
from phoenix_engine.events import Notice

_LEARN_FACTOR = 10.0
_LEARN_FLOOR_S = 120.0
_LEARN_AFTER = 20  # gaps seen before the rhythm counts
_ANNOUNCE_GROWTH = 1.25  # a learned limit is announced again only when it grew this much
_NOISE = re.compile(
    r"^\s*$"
    r"|^\[?[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]"  # glog: torchrun, c10d
    r"|^\*{5,}\s*$"
    r"|OMP_NUM_THREADS"
    r"|^\S+:\d+: \w*Warning: "  # Python warnings, then the source line they quote
    r"|^\s+warnings\.warn\("
    r"|^(?:WARNING|Warning)\b"
    r"|^The following values were not passed to `accelerate launch`"
    r"|^\s+`--[\w-]+` was set to a value of"
    r"|^To avoid this warning pass in values for each of the problematic parameters",
)


def is_launcher_noise(line: str) -> bool:
    """Whether ``line`` is a launcher's banner or a warning rather than the training speaking."""
    return _NOISE.search(line) is not None


class Heartbeat:
    """The silence limit in force for the current training process (seconds; inf: none)."""

    def __init__(self, *, heartbeat_min: float, startup_min: float, learn: bool) -> None:
        self._beat = heartbeat_min * 60.0 if heartbeat_min > 0 else float("inf")
        self._startup = startup_min * 60.0 if startup_min > 0 else float("inf")
        self.learn = learn
        self.start(0.0)

    def start(self, now: float) -> None:
        """A new training process: the start-up allowance holds again; rhythm forgotten."""
        self.last = self._started = now
        self.spoke = False
        self._splitters: dict[str, LineSplitter] = {}
        self._gaps = 0
        self._longest = 0.0
        self._longest_before = ""  # what came after the longest gap
        self._learned: float | None = None
        self._skipped = 0  # launcher lines before the training's first words

    @property
    def limit(self) -> float:
        if not self.spoke:
            return self._startup
        return self._learned if self._learned is not None else self._beat

    def silent(self, now: float) -> float:
        return now - self.last

    def left(self, now: float) -> float:
        return self.limit - self.silent(now)

    def alive(self, now: float) -> None:
        """Life without output (a checkpoint being written)."""
        self.last = now

    def output(self, stream: str, data: bytes, now: float) -> Notice | None:
        """Output arrived; a notice when the limit in force changes."""
        gap, self.last = now - self.last, now
        if not self.spoke:
            return self._first_words(stream, data, now)
        if not self.learn:
            return None
        self._gaps += 1
        if gap > self._longest:
            self._longest = gap
            self._longest_before = _first_line(data)
        if self._gaps < _LEARN_AFTER:
            return None
        return self._relearn(now)

    def _first_words(self, stream: str, data: bytes, now: float) -> Notice | None:
        splitter = self._splitters.setdefault(stream, LineSplitter(max_line_chars=400))
        lines = splitter.feed(data)
        if b"\r" in data and splitter.partial.strip():  # a progress bar redrawn in place
            lines.append(splitter.partial)
        for line in lines:
            if is_launcher_noise(line):
                self._skipped += bool(line.strip())
                continue
            self.spoke = True
            self._splitters.clear()
            if not (self._skipped or self.learn):  # nothing changed that is worth a word
                return None
            after = now - self._started
            what = f"the training spoke after {after:.0f} s ({line.strip()[:80]!r}): "
            if self._beat == float("inf"):
                return Notice(message=what + "no hang limit (PHOENIX_HEARTBEAT_MIN=0)")
            source = "PHOENIX_HEARTBEAT_MIN" + (", learning" if self.learn else "")
            return Notice(
                message=what + f"a silence of {_minutes(self._beat)} is a hang ({source})",
                heartbeat_s=self._beat,
                heartbeat_from=source,
            )
        return None

    def _relearn(self, now: float) -> Notice | None:
        limit = min(max(_LEARN_FACTOR * self._longest, _LEARN_FLOOR_S), self._beat)
        if self._learned is not None and limit < self._learned * _ANNOUNCE_GROWTH:
            self._learned = max(self._learned, limit)
            return None
        self._learned = limit
        source = (
            f"learned: 10x the longest gap so far, {self._longest:.1f} s, "
            f"before {self._longest_before!r} ({self._gaps} gaps in {now - self._started:.0f} s)"
        )
        if limit >= self._beat:
            source += f"; capped by PHOENIX_HEARTBEAT_MIN={self._beat / 60:g}"
        elif limit <= _LEARN_FLOOR_S:
            source += "; at least 2 min"
        return Notice(
            message=f"hang limit now {_minutes(limit)} ({source})",
            heartbeat_s=limit,
            heartbeat_from=source,
        )


def _first_line(data: bytes) -> str:
    text = data[:200].decode("utf-8", "replace")
    for part in text.replace("\r", "\n").split("\n"):
        if part.strip():
            return part.strip()[:60]
    return ""


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
