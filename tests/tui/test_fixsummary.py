"""What a patch row says a fix does, from the diff alone."""

from __future__ import annotations

import pytest

from phoenix_tui.console._fixsummary import summarize_diff


def udiff(body: str, path: str = "train.py", start: int = 26) -> str:
    lines = body.splitlines()
    old = sum(1 for line in lines if not line.startswith("+"))
    new = sum(1 for line in lines if not line.startswith("-"))
    return f"--- a/{path}\n+++ b/{path}\n@@ -{start},{old} +{start},{new} @@\n{body}"


CASES = [
    (
        "rename",
        udiff(
            " def lr_at(step):\n-    return 0.5 * lerning_rate\n+    return 0.5 * learning_rate\n"
        ),
        "train.py:27",
        "lerning_rate → learning_rate",
    ),
    (
        "value",
        udiff("-BATCH = 1\n-batch_size = 16\n+BATCH = 1\n+batch_size = 8\n", "cfg.py", 3),
        "cfg.py:3",
        "rewrites 2 lines as 2",
    ),
    (
        "setting",
        udiff("-batch_size = 16\n+batch_size = 8\n", "cfg.py", 3),
        "cfg.py:3",
        "batch_size 16 → 8",
    ),
    (
        "keyword argument",
        udiff(
            "-    loader = DataLoader(ds, batch_size=16, shuffle=True)\n"
            "+    loader = DataLoader(ds, batch_size=8, shuffle=True)\n",
            start=40,
        ),
        "train.py:40",
        "batch_size 16 → 8",
    ),
    (
        "added import",
        udiff(" import os\n+import math\n", start=1),
        "train.py:2",
        "adds import math",
    ),
    (
        "removed lines",
        udiff(" x = 1\n-print(x)\n-print(x)\n", start=10),
        "train.py:11",
        "removes print(x) (+1 lines)",
    ),
    (
        "two hunks",
        udiff("-a = lerning_rate\n+a = learning_rate\n x\n-b = 1\n+b = 2\n", start=5),
        "train.py:5",
        "lerning_rate → learning_rate (+1 more)",
    ),
    (
        "long line",
        udiff("-    print('" + "x" * 80 + "')\n+    log('" + "y" * 80 + "')\n"),
        "train.py:26",
        None,
    ),
    (
        "new file",
        "--- /dev/null\n+++ b/new.py\n@@ -0,0 +1,2 @@\n+a = 1\n+b = 2\n",
        "new.py:1",
        "adds a = 1 (+1 lines)",
    ),
    (
        "two files",
        udiff("-batch_size = 16\n+batch_size = 8\n", "cfg.py", 3)
        + udiff(" x\n-print(x)\n", "train.py", 9),
        "cfg.py:3",
        "batch_size 16 → 8 (+1 more)",
    ),
    ("hunk only", "@@ -4,1 +4,1 @@\n-lr = 1\n+lr = 2\n", "", "lr 1 → 2"),
    ("empty", "", "", ""),
]


@pytest.mark.parametrize(
    ("diff", "where", "text"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_summary(diff: str, where: str, text: str | None) -> None:
    summary = summarize_diff(diff)
    assert summary.where == where
    if text is None:  # only bounded: a row must fit
        assert summary.text and len(summary.text) <= 60
    else:
        assert summary.text == text
