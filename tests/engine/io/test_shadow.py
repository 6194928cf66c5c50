"""Shadow validation on real files and real child processes."""

from __future__ import annotations

import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from fakes.processes import alive
from waiting import until

from phoenix_engine.io.shadow import ShadowResult, copy_project, validate


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    path: str
    before: bytes | None
    after: bytes
    mode: int | None = None


PY = shlex.quote(sys.executable)
GB = 1024**3


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "train.py").write_text("LR = 0.1\n")
    (root / "tests" / "test_train.py").write_text(
        "import train\n\ndef test_lr():\n    assert train.LR == 0.01\n"
    )
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".phoenix_cli").mkdir()
    (root / ".phoenix_cli" / "run.log").write_text("log\n")
    return root


FIX = Change(path="train.py", before=b"LR = 0.1\n", after=b"LR = 0.01\n")


async def _validate(project: Path, changes: list[Change], cmd: str, **kw: object) -> ShadowResult:
    tmp_root = project.parent / "shadows"
    tmp_root.mkdir(exist_ok=True)
    options: dict[str, object] = dict(timeout_s=30.0, allowlist=["*.py"], data_dir="data")
    options.update(kw)
    result = await validate(project, changes, test_cmd=cmd, tmp_root=tmp_root, **options)  # type: ignore[arg-type]
    assert list(tmp_root.iterdir()) == []  # the copy is always removed
    assert not Path(result.shadow_dir).exists()
    return result


async def test_passing_tests_see_the_patch_not_the_real_code(project: Path) -> None:
    result = await _validate(project, [FIX], f"{PY} -m pytest -q -p no:cacheprovider")
    assert result.ok, result.output_tail
    assert result.reason == "test command passed"
    assert "1 passed" in result.output_tail
    assert (project / "train.py").read_text() == "LR = 0.1\n"
    assert not list(project.rglob("__pycache__"))


async def test_failing_tests_fail_with_output_tail(project: Path) -> None:
    result = await _validate(project, [], f"{PY} -m pytest -q -p no:cacheprovider")
    assert not result.ok
    assert result.reason == "test command failed with exit code 1"
    assert "1 failed" in result.output_tail


async def test_syntax_error_names_file_and_line(project: Path) -> None:
    broken = Change(path="train.py", before=b"LR = 0.1\n", after=b"LR = 0.01\ndef f(:\n")
    result = await _validate(project, [broken], "")
    assert not result.ok
    assert result.reason.startswith("train.py:2: SyntaxError:")


async def test_empty_command_only_compiles(project: Path) -> None:
    result = await _validate(project, [FIX], "  ")
    assert result.ok and "no test command" in result.reason


async def test_exit_5_is_no_tests_collected(project: Path) -> None:
    (project / "tests" / "test_train.py").unlink()
    result = await _validate(project, [FIX], f"{PY} -m pytest -q -p no:cacheprovider")
    assert not result.ok and result.reason == "pytest collected no tests (exit code 5)"


async def test_all_skipped_is_a_failure(project: Path) -> None:
    (project / "tests" / "test_train.py").write_text(
        "import pytest\n\n@pytest.mark.skip(reason='gpu')\ndef test_a():\n    pass\n"
    )
    result = await _validate(project, [FIX], f"{PY} -m pytest -p no:cacheprovider --color=yes")
    assert not result.ok and result.reason == "all tests were skipped"


async def test_shell_command_and_exclusions(project: Path) -> None:
    script = "test ! -e .git && test ! -e .phoenix_cli && echo shadow=$PHOENIX_SHADOW. && exit 4"
    result = await _validate(project, [FIX], script, env={**os.environ, "PHOENIX_SHADOW": "1"})
    assert result.reason == "test command failed with exit code 4"
    assert "shadow=." in result.output_tail  # finding 5: the code cannot tell it is judged


async def test_timeout_kills_the_whole_tree(project: Path, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    grandchild = (
        "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        f"open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); time.sleep(60)"
    )
    child = (
        "import subprocess, sys, os, time;"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}]);"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}], start_new_session=True);"
        "time.sleep(60)"
    )
    started = time.monotonic()
    result = await _validate(project, [FIX], f"{PY} -c {shlex.quote(child)}", timeout_s=1.5)
    assert time.monotonic() - started < 10
    assert result.reason == "test command timed out after 1.5 s"
    found = [int(p) for p in pids.read_text().split()]
    assert len(found) == 2
    await until(lambda: not any(alive(pid) for pid in found), 5, what=f"{found} to end")
    for pid in found:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


async def test_big_files_outside_the_sandbox_are_copied_within_a_budget(project: Path) -> None:
    """Finding 1/2 without bwrap: no writable link to a real file, ever. What fits the budget
    is copied (reflinked where possible); the rest is left out, and the verdict says so."""
    (project / "checkpoints").mkdir()
    (project / "data").mkdir()
    (project / "data" / "shard0.bin").write_bytes(b"rows")
    (project / "checkpoints" / "last.pt").write_bytes(b"w" * 5000)
    with (project / "checkpoints" / "huge.pt").open("wb") as fh:
        fh.truncate(5 * GB)  # sparse: costs no disk, but a copy would write 5 GB
    (project / "big_allowed.py").write_text("X = 1\n" * 100)
    check = (
        "import os;"
        "assert not os.path.islink('checkpoints/last.pt');"
        "assert not os.path.exists('checkpoints/huge.pt');"
        "assert not os.path.islink('data');"
        "assert open('data/shard0.bin').read() == 'rows';"
        "open('data/shard0.bin', 'w').write('x');"
        "open('checkpoints/last.pt', 'wb').write(b'20 bytes of nothing.');"
        "import train; assert train.__file__.startswith(os.getcwd()), train.__file__;"
        "assert not os.path.exists('__pycache__')"
    )
    result = await _validate(
        project, [FIX], f"{PY} -c {shlex.quote(check)}", big_file_bytes=64, budget_bytes=10_000
    )
    assert result.ok, result.output_tail
    assert "checkpoints/huge.pt" in result.note and "left out" in result.note
    assert (project / "checkpoints" / "last.pt").read_bytes() == b"w" * 5000
    assert (project / "data" / "shard0.bin").read_bytes() == b"rows"
    assert (project / "checkpoints" / "huge.pt").stat().st_blocks == 0  # still sparse
    assert not list(project.rglob("__pycache__"))


async def test_change_under_the_data_dir_never_reaches_the_real_one(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / "x.py").write_text("a = 1\n")
    change = Change(path="data/x.py", before=b"a = 1\n", after=b"a = 2\n")
    await _validate(project, [change], "")
    assert (project / "data" / "x.py").read_text() == "a = 1\n"


async def test_missing_command_is_a_failure_not_an_exception(project: Path) -> None:
    result = await _validate(project, [FIX], "/nonexistent/phoenix-test-cmd")
    assert not result.ok and result.reason.startswith("could not start the test command")


def test_copy_project_relinks_inner_symlinks_and_keeps_modes(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "a.yaml").write_text("batch_size: 4\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o755)
    os.symlink(src / "conf" / "a.yaml", src / "config.yaml")  # absolute, inside the project
    os.symlink("/etc/hostname", src / "outside")
    (src / "__pycache__").mkdir()
    stats = copy_project(src, dst, allowlist=["*.py"], data_dir="data", big_file_bytes=1 << 20)
    assert os.readlink(dst / "config.yaml") == "conf/a.yaml"
    assert os.readlink(dst / "outside") == "/etc/hostname"
    assert os.access(dst / "run.sh", os.X_OK)
    assert not (dst / "__pycache__").exists()
    assert (stats.copied, stats.linked, stats.skipped) == (2, 0, 1)


async def test_background_grandchild_does_not_hold_the_verdict(project: Path) -> None:
    child = "import subprocess; subprocess.Popen(['sleep', '60']); print('done')"
    started = time.monotonic()
    result = await _validate(project, [FIX], f"{PY} -c {shlex.quote(child)}", timeout_s=20)
    assert result.ok and result.output_tail == "done"
    assert time.monotonic() - started < 5  # not the 20 s timeout


async def test_pytest_exit_0_without_a_summary_fails_the_gate(project: Path) -> None:
    """Finding 5: a pytest.py in the project shadows pytest (``python -m`` puts the working
    directory first); exiting 0 without a summary no longer counts as a pass."""
    (project / "pytest.py").write_text("import sys\nsys.exit(0)\n")
    result = await _validate(project, [FIX], f"{PY} -m pytest -q")
    assert not result.ok
    assert result.reason.startswith("pytest printed no summary line")


async def test_pytest_quiet_quiet_is_no_evidence(project: Path) -> None:
    result = await _validate(project, [FIX], f"{PY} -m pytest -qq -p no:cacheprovider")
    assert not result.ok and "no summary line" in result.reason


async def test_non_pytest_command_is_judged_by_its_exit_code(project: Path) -> None:
    result = await _validate(project, [FIX], f"{PY} -c 'import train; assert train.LR == 0.01'")
    assert result.ok, result.reason


async def test_test_environment_has_no_phoenix_settings_or_secrets(project: Path) -> None:
    env = {**os.environ, "PHOENIX_SHADOW": "1", "PHOENIX_X": "1", "MY_API_KEY": "k" * 20}
    code = "import os; print(sorted(k for k in os.environ if 'PHOENIX' in k or 'KEY' in k))"
    result = await _validate(project, [FIX], f"{PY} -c {shlex.quote(code)}", env=env)
    assert result.ok and result.output_tail == "['PHOENIX_TREE_ID']", result.output_tail
