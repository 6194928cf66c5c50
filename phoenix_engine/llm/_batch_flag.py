"""The OOM fix for a batch size passed on the command line: halve it there.

A flag on the command line (``--batch_size 8``, ``--per_device_train_batch_size 8``,
``--batch-size=8``) overrides the argparse default in the code, so halving the default changes
nothing: the restart command itself must change. Pure: text in, text out.
"""

from __future__ import annotations

__all__ = ["CommandFix", "halve_batch_flag"]

import re
from dataclasses import dataclass

_FLAG = re.compile(
    r"(?<![\w-])(?P<flag>--?[\w-]*batch[_-]?size[\w-]*)(?P<sep>=|\s+)(?P<n>\d+)(?![\w.])", re.I
)
_NOT_TRAINING = re.compile(r"eval|val|test|infer|predict", re.I)


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandFix:
    command: str  # the new training command
    flag: str
    old: int
    new: int

    @property
    def shown(self) -> str:
        return f"{self.flag} {self.old} -> {self.new}"


def halve_batch_flag(command: str) -> CommandFix | None:
    """``command`` with its training batch-size flag halved; None when it has none (or 1)."""
    found = [m for m in _FLAG.finditer(command) if not _NOT_TRAINING.search(m["flag"])]
    if not found:
        return None
    m = found[0]
    old = int(m["n"])
    if old <= 1:
        return None
    new = old // 2
    changed = command[: m.start("n")] + str(new) + command[m.end("n") :]
    return CommandFix(command=changed, flag=m["flag"], old=old, new=new)
