"""Reading replies in both forms and applying patches to text: exact, offset, fuzzy, refused."""

from __future__ import annotations

import difflib
import json
import random
from pathlib import Path

import pytest

from phoenix_engine.core._patch_udiff import MAX_HUNK_LINES, MAX_HUNKS
from phoenix_engine.core.patches import (
    MAX_REPLY_CHARS,
    Applied,
    ParseFailure,
    Refused,
    ReplaceRangePatch,
    Reply,
    UnifiedDiffPatch,
    apply_patch,
    changed_lines,
    parse_reply,
)

SRC = (
    "import os\n"
    "\n"
    "def main():\n"
    "    lr = 0.1\n"
    "    steps = 10\n"
    "    print(lr)\n"
    "    return steps\n"
    "\n"
    "main()\n"
)
FIXED = SRC.replace("lr = 0.1", "lr = 0.01")
DIFF = (
    "--- a/train.py\n+++ b/train.py\n@@ -3,3 +3,3 @@\n"
    " def main():\n-    lr = 0.1\n+    lr = 0.01\n     steps = 10\n"
)


def _reply(patches: list[dict[str, object]], diagnosis: str = "lr too high") -> str:
    return json.dumps({"diagnosis": diagnosis, "patches": patches})


def _rr(path: str = "x.py", **fields: object) -> str:
    """A JSON reply with one replace_range patch (fields may be wrong on purpose)."""
    item = {"type": "replace_range", "path": path} | fields
    return json.dumps({"patches": [item]})


def _ud(path: str, diff: str) -> str:
    return _reply([{"type": "unified_diff", "path": path, "diff": diff}])


def _diff(hunk_header: str, *body: str, path: str = "train.py") -> str:
    return f"--- a/{path}\n+++ b/{path}\n{hunk_header}\n" + "\n".join(body) + "\n"


# --- parse_reply: accepted forms ------------------------------------------------------------

FENCED_JSON = "Sure! Here is the fix:\n\n```json\n" + _ud("train.py", DIFF) + "\n```\nGood luck."
DIFF_FENCES = (
    "The learning rate diverges.\n\n```diff\n" + DIFF + "```\n\nAnd a helper:\n\n```diff\n"
    "--- /dev/null\n+++ b/util.py\n@@ -0,0 +1,1 @@\n+X = 1\n```\n"
)
MULTI_FILE_FENCE = (
    "Two files.\n```diff\ndiff --git a/a.py b/a.py\nindex 1..2 100644\n--- a/a.py\n+++ b/a.py\n"
    "@@ -1 +1 @@\n-a\n+b\ndiff --git a/b.py b/b.py\n--- a/b.py\n+++ b/b.py\n"
    "@@ -1 +1 @@\n-c\n+d\n```"
)


P = pytest.param
BARE_ARRAY = json.dumps(
    [{"type": "replace_range", "path": "t.py", "start_line": 1, "end_line": 1, "replacement": ""}]
)
IN_PROSE = "prose " + _reply([{"path": "t.py", "diff": DIFF.replace("train", "t")}]) + " more"
JSON_AND_FENCE = '```json\n{"diagnosis": "d", "patches": []}\n```\n```diff\n' + DIFF + "```"


@pytest.mark.parametrize(
    ("text", "diagnosis", "paths"),
    [
        P(_ud("train.py", DIFF), "lr too high", ["train.py"], id="json"),
        P(FENCED_JSON, "lr too high", ["train.py"], id="fenced-json-with-prose"),
        P(BARE_ARRAY, "", ["t.py"], id="bare-array"),
        P(_reply([]), "lr too high", [], id="diagnosis-only"),
        P('{"diagnosis": "only words"}', "only words", [], id="no-patches-key"),
        P('{"diagnosis": "x", "patches": null}', "x", [], id="null-patches"),
        P(DIFF_FENCES, "The learning rate diverges.\n\nAnd a helper:", ["train.py", "util.py"]),
        P(MULTI_FILE_FENCE, "Two files.", ["a.py", "b.py"], id="multi-file-fence"),
        P(IN_PROSE, "lr too high", ["t.py"], id="json-inside-prose"),
        P("```\n" + _reply([]) + "\n```", "lr too high", [], id="unlabelled-fence"),
        P(JSON_AND_FENCE, "d", ["train.py"], id="json-diagnosis-plus-diff-fence"),
        P("Fix:\n```diff\n" + DIFF.replace("\n", "\r\n") + "```\n", "Fix:", ["train.py"]),
        P("~~~diff\n" + DIFF + "~~~\n", "", ["train.py"], id="tilde-fence"),
        P("```python\nx = 1\n```\n" + _reply([]), "lr too high", [], id="python-fence-ignored"),
    ],
)
def test_parse_accepts(text: str, diagnosis: str, paths: list[str]) -> None:
    reply = parse_reply(text)
    assert isinstance(reply, Reply), reply
    assert reply.diagnosis == diagnosis
    assert [p.path for p in reply.patches] == paths


def test_parse_replace_range_fields() -> None:
    text = _rr("t.py", start_line=4, end_line=5, replacement="a\n", original="b\n")
    reply = parse_reply(text)
    assert isinstance(reply, Reply)
    assert reply.patches == (
        ReplaceRangePatch(path="t.py", start_line=4, end_line=5, replacement="a\n", original="b\n"),
    )


def test_multi_file_fence_is_split_per_file() -> None:
    reply = parse_reply(MULTI_FILE_FENCE)
    assert isinstance(reply, Reply)
    first, second = reply.patches
    assert isinstance(first, UnifiedDiffPatch) and isinstance(second, UnifiedDiffPatch)
    assert apply_patch("a\n", first) == Applied(text="b\n")
    assert apply_patch("c\n", second) == Applied(text="d\n")


# --- parse_reply: refusals ------------------------------------------------------------------


TO_TESTS = DIFF.replace("b/train", "b/tests/test_x")
MANY = json.dumps({"patches": [{"path": "a", "diff": "@@\n-a\n+b"}] * 51})
ORPHAN = "```diff\n@@ -1 +1 @@\n-a\n+b\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n```"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty"),
        ("   \n\t", "empty"),
        ("I could not find the bug.", "neither"),
        ('{"diagnosis": "x", "patches": [', "invalid"),
        ("x" * (MAX_REPLY_CHARS + 1), "1 MB"),
        ("{\x00}", "NUL"),
        ("[" * 100_000, "nested too deeply"),
        ('{"diagnosis": 3}', "'diagnosis' must be a string"),
        ('{"patches": "all of them"}', "'patches' must be a list"),
        ('{"patches": [["train.py"]]}', "patch 1: must be an object"),
        ('{"patches": [{"type": "shell", "path": "x", "cmd": "rm -rf /"}]}', "not allowed"),
        ('{"patches": [{"type": "unified_diff", "path": 7, "diff": "x"}]}', "'path' must be"),
        ('{"patches": [{"type": "unified_diff", "path": "x.py"}]}', "'diff' must be"),
        (_rr(start_line="1", end_line=1, replacement=""), "whole numbers"),
        (_rr(start_line=True, end_line=1, replacement=""), "whole numbers"),
        (_rr(start_line=1.0, end_line=1, replacement=""), "whole numbers"),
        (_rr(start_line=1, replacement=""), "whole numbers"),
        (_rr(start_line=1, end_line=1), "'replacement'"),
        (_rr(start_line=1, end_line=1, replacement="", original=5), "'original'"),
        (_ud("train.py", TO_TESTS), "renames"),
        (_ud("train.py", DIFF.replace("train", "other")), "names 'other.py'"),
        (_ud("t.py", DIFF + DIFF), "more than one file"),
        (MANY, "at most 50"),
        ("```diff\n" + DIFF, "not closed"),
        ("```diff\n@@ -1 +1 @@\n-a\n+b\n```", "---/+++ headers"),
        ("```diff\n--- a/x.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n```", "deleting"),
        ("```diff\n--- a/x.py\n+++ b/y.py\n@@ -1 +1 @@\n-a\n+b\n```", "renames"),
        (ORPHAN, "before the ---/+++"),
    ],
    ids=lambda v: v[:30] if isinstance(v, str) else None,
)
def test_parse_refuses(text: str, needle: str) -> None:
    failure = parse_reply(text)
    assert isinstance(failure, ParseFailure)
    assert needle in failure.reason


def test_parse_never_raises_on_mutations() -> None:
    """Cut and corrupt valid replies at many points: always a Reply or a ParseFailure."""
    seeds = [FENCED_JSON, DIFF_FENCES, MULTI_FILE_FENCE, _reply([{"path": "t.py", "diff": DIFF}])]
    for seed in seeds:
        for i in range(0, len(seed), 3):
            for text in (seed[:i], seed[:i] + "\ufffd" + seed[i + 1 :], seed[i:]):
                assert isinstance(parse_reply(text), Reply | ParseFailure)


def test_parse_is_fast_on_hostile_prose() -> None:
    text = '{"diagnosis" ' * 70_000  # many candidate openings, none valid
    assert isinstance(parse_reply(text[:MAX_REPLY_CHARS]), ParseFailure)


# --- apply_patch: unified diffs -------------------------------------------------------------


def _apply(text: str | None, diff: str, path: str = "train.py") -> Applied | Refused:
    return apply_patch(text, UnifiedDiffPatch(path=path, diff=diff))


HUNK = (" def main():", "-    lr = 0.1", "+    lr = 0.01", "     steps = 10")


@pytest.mark.parametrize(
    ("header", "body"),
    [
        P("@@ -3,3 +3,3 @@", HUNK, id="exact"),
        P("@@ -9,3 +9,3 @@", HUNK, id="offset"),
        P("@@ -1,99 +1,2 @@", HUNK, id="miscounted"),
        P("@@ ... @@", HUNK, id="no-numbers"),
        P("@@", HUNK, id="bare-at"),
        P("@@ -3 +3 @@ def main():", HUNK, id="section-heading"),
        P("@@ -3,3 +3,3 @@", (" def main():  ", *HUNK[1:3], "      steps  =  10"), id="spaces"),
        P("@@ -4,3 +4,3 @@", ("-lr = 0.1", "+lr = 0.01", " steps = 10", " print(lr)"), id="indent"),
        P("@@ -3,3 +3,3 @@", HUNK[1:3], id="no-context"),
        P("@@ -3,4 +3,4 @@", (*HUNK, "", ""), id="trailing-blank-lines"),
    ],
)
def test_apply_finds_the_hunk(header: str, body: tuple[str, ...]) -> None:
    assert _apply(SRC, _diff(header, *body)) == Applied(text=FIXED)


TWICE = "a\nx\nb\n" + "pad\n" * 40 + "a\nx\nb\n"
AXB = (" a", "-x", "+y", " b")
BAD_SECOND = "@@ -7,2 +7,2 @@\n-    return nothing\n+    return 0\n"
CREATE = _diff("@@ -1,0 +1,1 @@", "+x = 1").replace("a/train.py", "/dev/null")


@pytest.mark.parametrize(
    ("text", "diff", "needle"),
    [
        P(SRC, _diff("@@ -3 +3 @@", " def other():", *HUNK[1:3]), "does not match", id="nowhere"),
        P(FIXED, _diff("@@ -3,3 +3,3 @@", *HUNK), "applied already", id="already-applied"),
        P("a\nx\nb\na\nx\nb\n", _diff("@@ ... @@", *AXB), "equally well", id="ambiguous"),
        P(TWICE, _diff("@@ -20,3 +20,3 @@", *AXB), "equally well", id="ambiguous-far"),
        P(SRC, _diff("@@ -3 +3 @@", *HUNK[:1], "     lr = 0.1"), "changes nothing", id="context"),
        P(SRC, _diff("@@ -3 +3 @@", *HUNK[:2], "+    lr = 0.1"), "changes nothing", id="same"),
        P(SRC, _diff("@@ -3,0 +4,1 @@", "+    import sys"), "no context", id="unanchored"),
        P(SRC, _diff("@@ -3,3 +3,3 @@", *HUNK) + BAD_SECOND, "hunk 2", id="second-hunk-fails"),
        P(SRC, "--- a/train.py\n+++ b/train.py\n", "no hunks", id="no-hunks"),
        P(SRC, _diff("@@ -3 +3 @@", " def main():", "lr = 0.1"), "not starting", id="unprefixed"),
        P(SRC, CREATE, "already exists", id="create-existing"),
        P(None, _diff("@@ -3,3 +3,3 @@", *HUNK), "does not exist", id="missing-file"),
        P(SRC, _diff("@@ -3,3 +3,3 @@"), "empty", id="empty-hunk"),
    ],
)
def test_apply_refuses(text: str | None, diff: str, needle: str) -> None:
    result = _apply(text, diff)
    assert isinstance(result, Refused)
    assert needle in result.reason


def test_multi_hunk_applies_whole_with_drift() -> None:
    text = "".join(f"line {i}\n" for i in range(1, 41))
    # Both headers are 5 lines off: the second hunk is looked for where the first one's drift says.
    diff = _diff("@@ -8,3 +8,3 @@", " line 3", "-line 4", "+LINE 4", " line 5")
    diff += "@@ -35,3 +35,3 @@\n line 29\n-line 30\n+LINE 30\n line 31\n"
    after = text.replace("line 4\n", "LINE 4\n").replace("line 30", "LINE 30")
    assert _apply(text, diff) == Applied(text=after)


def test_nearest_of_repeated_context_is_used_when_unique_nearby() -> None:
    text = "a\nx\nb\n" + "pad\n" * 40 + "a\nx\nb\n"
    result = _apply(text, _diff("@@ -45,3 +45,3 @@", " a", "-x", "+y", " b"))
    assert result == Applied(text="a\nx\nb\n" + "pad\n" * 40 + "a\ny\nb\n")


NO_EOL = "\\ No newline at end of file"
NEW_FILE = _diff("@@ -0,0 +1,2 @@", "+a", "+b").replace("a/train.py", "/dev/null")


@pytest.mark.parametrize(
    ("before", "diff", "after"),
    [
        P(SRC.replace("\n", "\r\n"), _diff("@@ -3 +3 @@", *HUNK), FIXED.replace("\n", "\r\n")),
        P(SRC[:-1], _diff("@@ -3 +3 @@", *HUNK), FIXED[:-1], id="final-newline-stays-missing"),
        P("a\nb", _diff("@@ -1 +1 @@", " a", "-b", "+c"), "a\nc\n", id="changed-last-line"),
        P("a\nb", _diff("@@ -1 +1 @@", " a", "-b", "+c", NO_EOL), "a\nc", id="marker"),
        P("a\nb", _diff("@@ -1,2 +1,3 @@", " a", " b", "+c"), "a\nb\nc\n", id="append"),
        P("a\nb\n", _diff("@@ -1,2 +1,1 @@", " a", "-b"), "a\n", id="delete"),
        P("a\r\nb\n", _diff("@@ -1 +1 @@", "-a", "+A", " b"), "A\nb\n", id="mixed-tie-lf"),
        P("x = '\f'\ny\n", _diff("@@ -1 +1 @@", " x = '\f'", "-y", "+z"), "x = '\f'\nz\n"),
        P(None, NEW_FILE, "a\nb\n", id="new-file"),
        P("", _diff("@@ -0,0 +1 @@", "+a"), "a\n", id="empty-file"),
    ],
)
def test_apply_keeps_line_endings(before: str | None, diff: str, after: str) -> None:
    assert _apply(before, diff) == Applied(text=after)


# --- apply_patch: line ranges ---------------------------------------------------------------


def _range(start: int, end: int, new: str, original: str | None = None) -> ReplaceRangePatch:
    return ReplaceRangePatch(
        path="t.py", start_line=start, end_line=end, replacement=new, original=original
    )


@pytest.mark.parametrize(
    ("before", "patch", "after"),
    [
        ("a\nb\nc\n", _range(2, 2, "B\n"), "a\nB\nc\n"),
        ("a\nb\nc\n", _range(2, 2, "B"), "a\nB\nc\n"),  # missing newline is not glued to "c"
        ("a\nb\nc\n", _range(2, 3, ""), "a\n"),
        ("a\nb\nc\n", _range(2, 1, "x\n"), "a\nx\nb\nc\n"),  # insertion before line 2
        ("a\nb\nc\n", _range(4, 3, "d\n"), "a\nb\nc\nd\n"),  # insertion at the end
        ("a\nb\nc\n", _range(2, 2, "B\n", original="b  \n"), "a\nB\nc\n"),  # trailing spaces
        ("a\r\nb\r\n", _range(1, 1, "A\n", original="a\n"), "A\r\nb\r\n"),
        ("a\nb", _range(1, 1, "A\n"), "A\nb"),
        ("a\nb", _range(2, 2, "B"), "a\nB\n"),
        (None, _range(1, 0, "new\n"), "new\n"),
    ],
    ids=[
        "replace",
        "no-newline",
        "delete",
        "insert",
        "append",
        "original-ws",
        "crlf",
        "keep-missing-eol",
        "last-line",
        "create",
    ],
)
def test_replace_range(before: str | None, patch: ReplaceRangePatch, after: str) -> None:
    assert apply_patch(before, patch) == Applied(text=after)


@pytest.mark.parametrize(
    ("before", "patch", "needle"),
    [
        ("a\nb\n", _range(0, 1, "x\n"), "not a range"),
        ("a\nb\n", _range(2, 3, "x\n"), "not a range"),
        ("a\nb\n", _range(3, 1, "x\n"), "not a range"),
        ("a\nb\n", _range(-1, -1, "x\n"), "not a range"),
        (None, _range(1, 1, "x\n"), "not a range"),
        ("a\nb\n", _range(1, 1, "x\n", original="z\n"), "'original' does not match"),
        ("a\nb\n", _range(1, 1, "x\n", original="    a\n"), "'original' does not match"),
        ("a\nb\n", _range(1, 1, "a\n"), "changes nothing"),
        ("a\nb\n", _range(2, 1, ""), "changes nothing"),
    ],
)
def test_replace_range_refuses(before: str | None, patch: ReplaceRangePatch, needle: str) -> None:
    result = apply_patch(before, patch)
    assert isinstance(result, Refused)
    assert needle in result.reason


# --- changed_lines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("a\nb\n", "a\nb\n", 0),
        ("a\nb\n", "a\nc\n", 1),
        ("a\nb\n", "a\nb\nc\nd\n", 2),
        ("a\nb\nc\n", "a\n", 2),
        ("a\nb\nc\n", "x\ny\n", 3),  # 3 removed, 2 added: the larger counts
        ("a\nb\nc\nd\ne\n", "A\nb\nc\nd\nE\n", 2),  # two separate blocks
        ("a\r\nb\r\n", "a\nb\n", 0),  # line endings alone are not changed lines
        ("", "x\n" * 60, 60),
    ],
)
def test_changed_lines(before: str, after: str, expected: int) -> None:
    assert changed_lines(before, after) == expected


def test_context_line_with_backticks_does_not_close_the_fence() -> None:
    diff = "--- a/doc.py\n+++ b/doc.py\n@@ -1,4 +1,4 @@\n-x = 1\n+x = 2\n ```\n-y = 1\n+y = 2\n"
    reply = parse_reply("Two edits.\n```diff\n" + diff + "```\n")
    assert isinstance(reply, Reply)
    (patch,) = reply.patches
    assert apply_patch("x = 1\n```\ny = 1\n", patch) == Applied(text="x = 2\n```\ny = 2\n")


@pytest.mark.parametrize(
    ("diff", "needle"),
    [
        ("@@ -1 +1 @@\n-a\n+b\n" * (MAX_HUNKS + 1), f"at most {MAX_HUNKS}"),
        ("@@ -1 +1 @@\n" + " a\n" * MAX_HUNK_LINES + "+b\n", f"at most {MAX_HUNK_LINES}"),
    ],
    ids=["hunks", "hunk-lines"],
)
def test_oversized_diffs_are_refused_before_searching(diff: str, needle: str) -> None:
    result = _apply("a\n" * 50_000, diff)
    assert isinstance(result, Refused)
    assert needle in result.reason


def test_worst_case_search_stays_bounded() -> None:
    """Many near-identical lines and many long hunks: refused, in well under the test timeout."""
    text = ("x\n" * 999 + "y\n") * 50
    diff = "@@ @@\n" + " x\n" * 999 + "-z\n"
    result = _apply(text, "--- a/t.py\n+++ b/t.py\n" + diff * MAX_HUNKS)
    assert isinstance(result, Refused)
    assert "hunk 1 does not match" in result.reason


def _keep_ends(text: str) -> list[str]:
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def _exact_diff(before: str, after: str) -> str:
    out = difflib.unified_diff(_keep_ends(before), _keep_ends(after), "a/t.py", "b/t.py")
    return "".join(x if x.endswith("\n") else x + "\n\\ No newline at end of file\n" for x in out)


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_round_trip_of_exact_diffs(ending: str) -> None:
    """Whatever difflib writes, applying it gives the new text back, byte for byte."""
    rng = random.Random(3)
    words = ["a", "b", "c", "", "x = 1", "    y", "\tz"]
    for _ in range(400):
        old = [rng.choice(words) for _ in range(rng.randint(0, 25))]
        new = list(old)
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(new))
            if rng.random() < 0.4:
                new.insert(at, rng.choice([*words, "NEW"]))
            elif at < len(new) and rng.random() < 0.5:
                new[at] = f"CHANGED {rng.randint(0, 9)}"
            elif at < len(new):
                del new[at]
        before = ending.join(old) + (ending if old and rng.random() < 0.8 else "")
        after = ending.join(new) + (ending if new and rng.random() < 0.8 else "")
        if ending not in before:
            continue  # no line ending to keep: new lines get "\n"
        if before != after:
            patch = UnifiedDiffPatch(path="t.py", diff=_exact_diff(before, after))
            assert apply_patch(before, patch) == Applied(text=after), (before, after)


def test_changed_lines_is_fast_on_long_repetitive_files() -> None:
    # A single edit in 6,000 identical lines: counted as one line, without quadratic search.
    before = "x = 1\n" * 6000
    after = before.replace("x = 1\n", "x = 2\n", 1)
    assert changed_lines(before, after) == 1
    assert changed_lines(before, before + "y = 3\n") == 1


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ("x = 1\n", "x = 1\r" + "y = 2\r" * 200, 200),  # a lone \r ends a Python line
        ("x = 1\n", "x = 2\u2028y = 3\n", 2),  # so does every str.splitlines boundary
        ("a\rb\r", "a\nb\n", 0),  # line endings alone are not changes
        ("a\r\nb\r\nc\r\n", "a\rB\rc\r", 1),
    ],
)
def test_changed_lines_counts_python_lines(before: str, after: str, expected: int) -> None:
    assert changed_lines(before, after) == expected


def test_lone_cr_statements_do_not_pass_a_one_line_limit(tmp_path: Path) -> None:
    from phoenix_engine.core.policy import Limits
    from phoenix_engine.core.proposal import Refusal, build_proposal
    from phoenix_engine.io.project_files import ProjectResolver

    (tmp_path / "train.py").write_text("x = 1\n")
    body = "".join(f"s{i} = {i}\r" for i in range(200))
    patch = ReplaceRangePatch(path="train.py", start_line=1, end_line=1, replacement=body)
    limits = Limits(allowlist=("*.py",), max_patch_lines=1)
    built = build_proposal(
        ProjectResolver(tmp_path),
        Reply(diagnosis="", patches=(patch,)),
        limits,
        provider="p",
        signature="s",
    )
    assert isinstance(built, Refusal) and "at most 1" in built.reason


def _lcs(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        prev = 0
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], prev + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def test_changed_lines_follows_a_shortest_edit_script() -> None:
    """Random edits on repetitive text: the script behind the count is a shortest one, and
    the count lies between half the edits and all of them."""
    from phoenix_engine.core._changed_lines import _ops, _search

    rng = random.Random(5)
    for _ in range(300):
        a = [rng.choice("xxxyz") for _ in range(rng.randint(0, 30))]
        b = list(a)
        for _ in range(rng.randint(0, 6)):
            at = rng.randint(0, len(b))
            if rng.random() < 0.5:
                b.insert(at, rng.choice("xyw"))
            elif b and at < len(b):
                del b[at]
        distance = len(a) + len(b) - 2 * _lcs(a, b)
        count = changed_lines("".join(s + "\n" for s in a), "".join(s + "\n" for s in b))
        assert (distance + 1) // 2 <= count <= distance, (a, b)
        if a and b:
            trace = _search(a, b, len(a) + len(b))
            assert trace is not None
            ops = _ops(trace, a, b)
            assert ops.count("+") + ops.count("-") == distance
            kept = [x for x, op in zip(a, ops.replace("+", ""), strict=True) if op == "="]
            assert len(kept) == len(a) - ops.count("-")


def test_changed_lines_on_a_3000_line_repetitive_file() -> None:
    """Finding 8: cubic on repeated lines (215 s). Edits at both ends and in the middle of
    3,000 near-identical lines; counted exactly (timing: bench/changed_lines.py)."""
    lines = ["    x = x + 1\n" if i % 7 else "    y = y * 2\n" for i in range(3000)]
    after = list(lines)
    after[0], after[1498], after[2996] = "    z = 0\n", "    w = 0\n", "    v = 0\n"
    del after[2100]  # every edit replaces or removes a y line among x lines: no ambiguity
    assert changed_lines("".join(lines), "".join(after)) == 4
    after.insert(1000, "    x = x + 1\n")  # a repeated line: where it goes is a matter of taste
    assert 5 <= changed_lines("".join(lines), "".join(after)) <= 9
    big = ["    q = 1\n"] * 400
    assert changed_lines("".join(lines), "".join(big + lines[400:])) == 400
    assert changed_lines("".join(lines), "".join(big + lines[400:]), cap=50) == 51
