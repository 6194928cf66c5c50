"""Table-driven tests of LineSplitter: terminators, "\\r" rewrites, UTF-8, caps."""

from __future__ import annotations

import time

import pytest

from phoenix_engine.core.lines import LineSplitter, strip_control

# (name, chunks, lines from feed, partial before flush, lines from flush)
CASES: list[tuple[str, list[bytes], list[str], str, list[str]]] = [
    ("empty", [], [], "", []),
    ("one line", [b"hello\n"], ["hello"], "", []),
    ("two lines one chunk", [b"a\nb\n"], ["a", "b"], "", []),
    ("unfinished", [b"a\nb"], ["a"], "b", ["b"]),
    ("empty lines kept", [b"\n\nx\n"], ["", "", "x"], "", []),
    ("line across chunks", [b"hel", b"lo\nwor", b"ld\n"], ["hello", "world"], "", []),
    ("crlf", [b"a\r\nb\r\n"], ["a", "b"], "", []),
    ("crlf split across chunks", [b"a\r", b"\nb\n"], ["a", "b"], "", []),
    ("tqdm rewrite", [b"10%\r20%\r30%\n"], ["30%"], "", []),
    ("tqdm across chunks", [b"10%\r2", b"0%\r", b"30%\r", b"\n"], ["30%"], "", []),
    ("cr then text rewrites", [b"abc\r", b"de\n"], ["de"], "", []),
    ("trailing cr keeps shown line", [b"50%\r"], [], "50%", ["50%"]),
    ("cr cr", [b"abc\r\rxy\n"], ["xy"], "", []),
    ("leading cr", [b"\rabc\n"], ["abc"], "", []),
    ("cr only line", [b"\r\n"], [""], "", []),
    ("cr mixed with newlines", [b"a\rb\nc\rd\re"], ["b"], "e", ["e"]),
    ("bar then log line", [b"1/3\r2/3\r3/3\r\nepoch done\n"], ["3/3", "epoch done"], "", []),
    ("utf8 whole", ["héllo ✓\n".encode()], ["héllo ✓"], "", []),
    ("utf8 split", ["é✓".encode()[:1], "é✓".encode()[1:3], "é✓\n".encode()[3:]], ["é✓"], "", []),
    ("invalid utf8", [b"a\xffb\n"], ["a\ufffdb"], "", []),
    ("truncated utf8 at end", [b"ok\xe2\x9c"], [], "ok", ["ok\ufffd"]),
    ("ansi kept", [b"\x1b[31mred\x1b[0m\n"], ["\x1b[31mred\x1b[0m"], "", []),
    ("nul kept", [b"a\x00b\n"], ["a\x00b"], "", []),
]


@pytest.mark.parametrize(
    ("chunks", "lines", "partial", "flushed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_splitting(chunks: list[bytes], lines: list[str], partial: str, flushed: list[str]) -> None:
    splitter = LineSplitter()
    got = [line for chunk in chunks for line in splitter.feed(chunk)]
    assert got == lines
    assert splitter.partial == partial
    assert splitter.flush() == flushed
    assert splitter.partial == ""
    assert splitter.flush() == []


@pytest.mark.parametrize(
    ("chunks", "expected"),
    [
        ([b"abcdefghij\n"], ["abcde … [5 chars cut]"]),
        ([b"abcde\n"], ["abcde"]),
        ([b"abc", b"defg", b"hij\n"], ["abcde … [5 chars cut]"]),
        ([b"x\nabcdefghij\ny\n" * 2], ["x", "abcde … [5 chars cut]", "y"] * 2),
        ([b"abcdefghij\rxy\n"], ["xy"]),
        ([b"abcdefgh", b"\rxy\n"], ["xy"]),
        (["ééééééé\n".encode()], ["ééééé … [2 chars cut]"]),
    ],
)
def test_long_lines_are_capped(chunks: list[bytes], expected: list[str]) -> None:
    splitter = LineSplitter(max_line_chars=5)
    got = [line for chunk in chunks for line in splitter.feed(chunk)]
    assert got + splitter.flush() == expected


def test_partial_shows_cut_marker() -> None:
    splitter = LineSplitter(max_line_chars=3)
    splitter.feed(b"abcdef")
    assert splitter.partial == "abc … [3 chars cut]"


def test_huge_line_without_newline_stays_bounded() -> None:
    splitter = LineSplitter(max_line_chars=100)
    chunk = b"x" * 262144
    for _ in range(400):  # 100 MiB, never a newline
        assert splitter.feed(chunk) == []
    assert len(splitter.partial) < 200
    (line,) = splitter.feed(b"\n")
    assert line == "x" * 100 + f" … [{400 * 262144 - 100} chars cut]"


def test_every_split_point_gives_the_same_lines() -> None:
    data = "a\r\nbé\r10%\r20%\nc\x1b[0m✓\r\n\rd\n".encode()
    whole = LineSplitter().feed(data)
    for cut in range(len(data) + 1):
        splitter = LineSplitter()
        got = splitter.feed(data[:cut]) + splitter.feed(data[cut:])
        assert got == whole, cut


def test_byte_at_a_time() -> None:
    data = "ab\r\ncd\rxé\n".encode()
    splitter = LineSplitter()
    got = [line for i in range(len(data)) for line in splitter.feed(data[i : i + 1])]
    assert got == ["ab", "xé"]


def test_rejects_nonpositive_cap() -> None:
    with pytest.raises(ValueError, match="max_line_chars"):
        LineSplitter(max_line_chars=0)


# (name, text, without escapes and controls, without escapes only: keep_controls=True)
STRIP: list[tuple[str, str, str, str]] = [
    ("plain", "loss 0.5", "loss 0.5", "loss 0.5"),
    ("colour", "\x1b[31mred\x1b[0m ok", "red ok", "red ok"),
    ("bold colour, colon params", "\x1b[1;38:5:208mo\x1b[m", "o", "o"),
    ("cursor up, erase line", "\x1b[A\x1b[2Kbar", "bar", "bar"),
    ("private mode", "\x1b[?25lhidden\x1b[?25h", "hidden", "hidden"),
    ("window title, BEL", "\x1b]0;title\x07x", "x", "x"),
    ("link, ST", "\x1b]8;;http://a\x1b\\link\x1b]8;;\x1b\\", "link", "link"),
    ("charset", "\x1b(Bx", "x", "x"),
    ("save and restore cursor", "\x1b7a\x1b8b", "ab", "ab"),
    ("index, reset", "\x1bDa\x1bcb", "ab", "ab"),
    ("bell and backspace", "ok\x07\x08!", "ok!", "ok\x07\x08!"),
    ("carriage return", "10%\r20%", "10%20%", "10%\r20%"),
    ("tab and newline kept", "a\tb\n", "a\tb\n", "a\tb\n"),
    ("lone escape", "a\x1b", "a", "a\x1b"),
    ("nul, DEL", "a\x00b\x7f", "ab", "a\x00b\x7f"),
]


@pytest.mark.parametrize(
    ("text", "stripped", "escapes_only"), [c[1:] for c in STRIP], ids=[c[0] for c in STRIP]
)
def test_strip_control(text: str, stripped: str, escapes_only: str) -> None:
    assert strip_control(text) == stripped
    assert strip_control(text, keep_controls=True) == escapes_only


def _throughput() -> None:
    """By hand: ``PYTHONPATH=. python tests/engine/core/test_lines.py`` (not in the suite)."""
    line = b"step 12345 | loss 0.1234 | lr 3.0e-04 | grad_norm 1.2345 | tok/s 123456.7 | ok\n"
    data = line * (100_000_000 // len(line))
    for name, blob in (("lf", data), ("crlf", data.replace(b"\n", b"\r\n"))):
        chunks = [blob[i : i + 65536] for i in range(0, len(blob), 65536)]
        splitter = LineSplitter()
        start = time.perf_counter()
        count = sum(len(splitter.feed(chunk)) for chunk in chunks)
        elapsed = time.perf_counter() - start
        mb = len(blob) / 1e6
        print(f"{name}: {count} lines, {mb:.0f} MB in {elapsed:.3f} s = {mb / elapsed:.0f} MB/s")


if __name__ == "__main__":
    _throughput()
