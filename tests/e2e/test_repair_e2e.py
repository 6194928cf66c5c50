"""The installed ``phoenix --unattended`` repairing small broken projects.

The model is a local command (PHOENIX_PRIMARY=cmd) that prints a scripted reply, so every
path runs for real: prompt, provider, parsing, policy, shadow copy, test command, backup,
atomic write, restart. Refused patches must leave every project file byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest
from cli_support import phoenix, user_env

PY = sys.executable

TRAIN = """\
import json
from pathlib import Path

BATCH = 8
lr = -0.1


def main():
    if lr <= 0:
        raise ValueError("learning rate must be positive")
    print(f"step 1 loss 0.5 lr {lr}")


if __name__ == "__main__":
    main()
"""

CHECK = """\
import train
assert train.BATCH == 8, "the batch size is part of the experiment"
print("check ok")
"""


def replace_range(path: str, line: int, old: str, new: str) -> dict[str, object]:
    return {
        "type": "replace_range",
        "path": path,
        "start_line": line,
        "end_line": line,
        "original": old + "\n",
        "replacement": new + "\n",
    }


GOOD = replace_range("train.py", 5, "lr = -0.1", "lr = 0.1")
OFFSET_DIFF = {
    "type": "unified_diff",
    "path": "train.py",
    "diff": (  # the hunk says line 40; the code is at line 4
        "--- a/train.py\n+++ b/train.py\n@@ -40,3 +40,3 @@\n BATCH = 8\n-lr = -0.1\n+lr = 0.1\n \n"
    ),
}


def make_project(tmp_path: Path, reply: object, test_cmd: str = "") -> tuple[Path, dict[str, str]]:
    project = tmp_path / "proj"
    (project / "tests").mkdir(parents=True)
    (project / "train.py").write_text(TRAIN)
    (project / "check.py").write_text(CHECK)
    (project / "tests" / "test_train.py").write_text("def test_lr():\n    assert True\n")
    (tmp_path / "outside.py").write_text("x = 1\n")
    reply_file = tmp_path / "reply.json"
    reply_file.write_text(json.dumps(reply))
    script = tmp_path / "model.py"
    script.write_text(f"import sys\nsys.stdin.read()\nprint(open({str(reply_file)!r}).read())\n")
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{PY} train.py",
        PHOENIX_PRIMARY="cmd",
        PHOENIX_FALLBACK_LLM_CMD=f"{PY} {script}",
        PHOENIX_MAX_RETRIES="1",
        PHOENIX_TEST_CMD=test_cmd,
    )
    return project, env


def tree(project: Path) -> dict[str, str]:
    return {
        str(p.relative_to(project)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(project.rglob("*"))
        if p.is_file() and ".phoenix_cli" not in p.parts and "__pycache__" not in p.parts
    }


def journal(project: Path) -> list[dict[str, object]]:
    lines = (project / ".phoenix_cli" / "run.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def events(project: Path) -> list[str]:
    return [str(row["event"]) for row in journal(project)]


@pytest.mark.parametrize("patch", [GOOD, OFFSET_DIFF], ids=["replace_range", "offset_hunk"])
def test_fix_is_applied_and_training_completes(tmp_path: Path, patch: dict[str, object]) -> None:
    project, env = make_project(tmp_path, {"diagnosis": "lr is negative", "patches": [patch]})
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 0, out.stderr
    assert "lr = 0.1\n" in (project / "train.py").read_text()
    names = events(project)
    expected = ["failure", "repair_requested", "diagnosis", "patch_proposed", "shadow_passed"]
    expected += ["approval_requested", "patch_applied", "restarting", "process_started"]
    start = names.index("failure")
    assert names[start : start + len(expected)] == expected
    assert names[-1] == "run_completed"
    applied = next(r for r in journal(project) if r["event"] == "patch_applied")
    backup = project / ".phoenix_cli" / "backups" / str(applied["backup_id"])
    manifest = json.loads((backup / "manifest.json").read_text())
    assert [f["path"] for f in manifest["files"]] == ["train.py"]
    assert (backup / "files" / "train.py").read_text() == TRAIN
    history = phoenix("history", cwd=project, env=env)
    assert applied["backup_id"] in history.stdout and "train.py" in history.stdout
    rolled = phoenix("rollback", cwd=project, env=env)
    assert rolled.returncode == 0, rolled.stderr
    assert (project / "train.py").read_text() == TRAIN
    assert events(project)[-1] == "rolled_back"


OVERSIZE = {
    "type": "replace_range",
    "path": "train.py",
    "start_line": 5,
    "end_line": 5,
    "replacement": "lr = 0.1\n" + "".join(f"x{i} = {i}\n" for i in range(60)),
}


@pytest.mark.parametrize(
    ("reply", "test_cmd", "event", "why"),
    [
        (
            replace_range("tests/test_train.py", 2, "    assert True", "    pass"),
            "",
            "patch_rejected",
            "may never touch",
        ),
        (
            replace_range("../outside.py", 1, "x = 1", "x = 2"),
            "",
            "patch_rejected",
            "climbs out",
        ),
        (OVERSIZE, "", "patch_rejected", "50"),
        (
            replace_range("train.py", 5, "lr = -0.1", "lr = (0.1"),
            "",
            "shadow_failed",
            "SyntaxError",
        ),
        (
            {
                "patches": [
                    replace_range("train.py", 4, "BATCH = 8", "BATCH = 9"),
                    replace_range("train.py", 5, "lr = -0.1", "lr = 0.1"),
                ]
            },
            f"{PY} check.py",
            "shadow_failed",
            "exit",
        ),
    ],
    ids=["tests_dir", "outside", "oversize", "syntax", "test_command_fails"],
)
def test_unsafe_or_failing_patches_change_nothing(
    tmp_path: Path, reply: object, test_cmd: str, event: str, why: str
) -> None:
    if isinstance(reply, dict) and "patches" not in reply:
        reply = {"diagnosis": "scripted", "patches": [reply]}
    project, env = make_project(tmp_path, reply, test_cmd)
    before = tree(project)
    outside = (tmp_path / "outside.py").read_bytes()
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 1, out.stderr  # gave up: the failure stays
    assert tree(project) == before
    assert (tmp_path / "outside.py").read_bytes() == outside
    rows = [r for r in journal(project) if r["event"] == event]
    assert rows, events(project)
    assert why.lower() in str(rows[0]["reason"]).lower()
    assert "patch_applied" not in events(project)
    assert not list((project / ".phoenix_cli").glob("backups/*/manifest.json"))


def test_out_of_memory_gets_exactly_one_repair(tmp_path: Path) -> None:
    project, env = make_project(
        tmp_path,
        {
            "diagnosis": "try a smaller model",
            "patches": [replace_range("train.py", 4, "BATCH = 8", "BATCH = 4")],
        },
    )
    (project / "train.py").write_text(
        TRAIN.replace(
            'raise ValueError("learning rate must be positive")',
            'raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")',
        )
    )
    env["PHOENIX_MAX_RETRIES"] = "3"
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 1
    names = events(project)
    assert names.count("repair_requested") == 1 and names.count("patch_applied") == 1
    assert names.count("restarting") == 1 and names[-1] == "gave_up"
    assert "out-of-memory failures get one attempt" in str(journal(project)[-1]["reason"])


def test_analyze_only_and_dry_run_change_nothing(tmp_path: Path) -> None:
    for mode_env in ({"PHOENIX_PATCH_MODE": "analyze-only"}, {"PHOENIX_DRY_RUN": "1"}):
        project, env = make_project(tmp_path / next(iter(mode_env)), {"patches": [GOOD]})
        before = tree(project)
        out = phoenix("--unattended", cwd=project, env={**env, **mode_env})
        assert out.returncode == 1, out.stderr
        assert tree(project) == before
        names = events(project)
        assert "patch_proposed" in names
        if "PHOENIX_DRY_RUN" in mode_env:
            applied = [r for r in journal(project) if r["event"] == "patch_applied"]
            assert applied and applied[0]["dry_run"] is True
        else:
            assert "shadow_passed" not in names and "patch_applied" not in names


def test_unusable_reply_fails_over_to_the_builtin_doctor(tmp_path: Path) -> None:
    project, env = make_project(tmp_path, "<html>502 Bad Gateway</html>")
    (project / "train.py").write_text(TRAIN.replace("if lr <= 0:", "if lerning_rate <= 0:"))
    (project / "train.py").write_text(
        (project / "train.py").read_text().replace("lr = -0.1", "learning_rate = lr = 0.1")
    )
    out = phoenix("--unattended", cwd=project, env=env)
    assert out.returncode == 0, out.stderr
    failed = [r for r in journal(project) if r["event"] == "provider_failed"]
    assert (
        failed and failed[0]["provider"] == "cmd" and "unusable reply" in str(failed[0]["reason"])
    )
    applied = [r for r in journal(project) if r["event"] == "patch_proposed"]
    assert applied[0]["provider"] == "builtin"
