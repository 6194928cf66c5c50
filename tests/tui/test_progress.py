"""The unfinished line (a progress bar) seen through the spawner seam."""

from __future__ import annotations

import pytest

from phoenix_engine import events as ev
from phoenix_tui.console._progress import ProgressTap, clean_partial


@pytest.mark.parametrize(
    ("data", "shown"),
    [
        (b"", ""),
        (b"loading", "loading"),
        (b" 10%|#  |\r 20%|##  |\r", " 20%|##  |"),
        (b"\x1b[32m 50%\x1b[0m|####|\r", " 50%|####|"),
        (b"\xe2\x96\x88\xe2\x96", "█\ufffd"),
    ],
)
def test_clean_partial_shows_the_last_rewrite(data: bytes, shown: str) -> None:
    assert clean_partial(data) == shown


def test_feed_keeps_what_follows_the_last_newline() -> None:
    tap = ProgressTap()
    tap.feed("stderr", b"epoch 1\n 10%|#")
    assert tap.partial() == b" 10%|#"
    version = tap.version
    tap.feed("stderr", b"\r 20%|##")
    assert tap.partial() == b" 10%|#\r 20%|##" and tap.version > version
    tap.feed("stderr", b"\r100%|###|\n")
    assert tap.partial() == b""
    tap.feed("stderr", b"x" * 10_000)
    assert len(tap.partial()) == 4096  # bounded


def test_the_end_of_a_process_forgets_its_unfinished_line() -> None:
    tap = ProgressTap()
    tap.feed("stdout", b"half")
    version = tap.version
    tap.emit(ev.OutputLines(stream="stdout", lines=("x",)))
    assert tap.partial() == b"half" and tap.version == version
    tap.emit(ev.ProcessExited(pid=1, returncode=0, signal=None, duration_s=1))
    assert tap.partial() == b"" and tap.version > version
    tap.feed("stdout", b"new")  # the next child may write before its process_started
    tap.emit(ev.ProcessStarted(pid=2, command="c", attempt=2))
    assert tap.partial() == b"new"
