"""The unfinished line (a progress bar) seen through the spawner seam."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from phoenix_engine.supervisor import Child
from phoenix_tui._progress import ProgressTap, clean_partial


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


async def test_the_tap_passes_every_chunk_on_and_watches_it(tmp_path: Path) -> None:
    seen: list[tuple[str, bytes]] = []
    tap = ProgressTap()
    code = "import sys; sys.stdout.write('done\\nhalf'); sys.stdout.flush()"
    child: Child = await tap.spawn(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        on_output=lambda stream, data: seen.append((stream, data)),
    )
    await child.wait()
    assert b"".join(d for s, d in seen if s == "stdout") == b"done\nhalf"
    assert tap.partial() == b"half"
