"""Process checks for tests that kill process trees."""

from __future__ import annotations

__all__ = ["alive"]

import psutil


def alive(pid: int) -> bool:
    """Running, not a zombie (an orphan's zombie may wait a while for a reaper)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
