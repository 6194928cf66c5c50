"""Which paths a patch may touch, and how big a repair may be: tables of yes and no."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from phoenix_engine.core.policy import (
    Limits,
    Verdict,
    check_path,
    check_size,
    command_files,
)
from phoenix_engine.core.settings import resolve
from phoenix_engine.io.project_files import ProjectResolver

LIMITS = Limits(allowlist=("*.py", "configs/*.yaml"), protected=("secret_*.py", "vendor/"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("x = 1\n")
    (root / "src" / "pkg" / "model.py").write_text("y = 2\n")
    (root / "data").mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.py").write_text("z = 3\n")
    (root / "escape.py").symlink_to(outside / "evil.py")
    (root / "outdir").symlink_to(outside)
    (root / "tests").mkdir()
    (root / "tests" / "test_train.py").write_text("")
    (root / "sneaky.py").symlink_to(root / "tests" / "test_train.py")
    (root / "alias.py").symlink_to("src/pkg/model.py")
    (root / "loop.py").symlink_to("loop.py")
    (root / "dangling.py").symlink_to(outside / "missing.py")
    return root


@pytest.mark.parametrize(
    ("path", "relpath"),
    [
        ("train.py", "train.py"),
        ("./train.py", "train.py"),
        ("src//pkg/./model.py", "src/pkg/model.py"),
        ("src/pkg/new_module.py", "src/pkg/new_module.py"),
        ("configs/lr.yaml", "configs/lr.yaml"),
        ("alias.py", "src/pkg/model.py"),  # a link inside the project: the real file is written
        ("testing.py", "testing.py"),  # only test_*.py / *_test.py are tests
        ("src/my_tests.py", "src/my_tests.py"),
        ("contest.py", "contest.py"),
        ("datasets.py", "datasets.py"),  # not inside data/
    ],
)
def test_allowed(project: Path, path: str, relpath: str) -> None:
    verdict = check_path(ProjectResolver(project), path, LIMITS, exists=True)
    assert verdict == Verdict(ok=True, relpath=relpath)


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("", "empty path"),
        ("   ", "empty path"),
        (".", "project directory itself"),
        ("../outside/evil.py", "'..'"),
        ("src/../../outside/evil.py", "'..'"),
        ("src/pkg/..", "'..'"),
        ("/etc/passwd", "absolute"),
        ("//server/share.py", "absolute"),
        ("~/x.py", "home directory"),
        ("~root/x.py", "home directory"),
        ("C:/x.py", "absolute"),
        ("c:x.py", "absolute"),
        ("src\\pkg\\model.py", "backslashes"),
        ("..\\outside\\evil.py", "backslashes"),
        ("train.py\x00.txt", "control characters"),
        ("train\n.py", "control characters"),
        ("\ud800.py", "not valid UTF-8"),
        ("src/\udc80/x.py", "not valid UTF-8"),
        ("x" * 256 + ".py", "too long"),
        ("a/" * 600 + "x.py", "too long"),
        ("train.py ", "spaces"),
        ("src/", "directory"),
        ("escape.py", "outside the project through a symlink"),
        ("outdir/evil.py", "outside the project through a symlink"),
        ("dangling.py", "outside the project through a symlink"),
        ("loop.py", "symlink loop"),
        ("sneaky.py", "test"),  # a link inside the project leading to a protected file
        ("tests/test_train.py", "inside tests/"),
        ("src/tests/helpers.py", "inside tests/"),
        ("Tests/helpers.py", "inside tests/"),
        ("test_model.py", "test file"),
        ("src/model_test.py", "test file"),
        ("pkg/conftest.py", "protected file (conftest.py)"),
        ("CONFTEST.PY", "protected file"),
        ("pytest.ini", "protected file"),
        ("tox.ini", "protected file"),
        ("setup.cfg", "protected file"),
        ("pyproject.toml", "protected file"),
        ("sitecustomize.py", "protected file"),
        ("lib/usercustomize.py", "protected file"),
        (".phoenix_cli/state.py", "inside .phoenix_cli/"),
        (".git/hooks/pre-commit.py", "inside .git/"),
        ("data/loader.py", "data directory"),
        ("data", "data directory"),
        ("secret_keys.py", "PHOENIX_PROTECTED (secret_*.py)"),
        ("vendor/lib.py", "PHOENIX_PROTECTED"),
        ("README.md", "outside PHOENIX_ALLOWLIST"),
        ("run.sh", "outside PHOENIX_ALLOWLIST"),
        ("configs/deep/lr.yaml", ""),  # fnmatch '*' crosses '/': allowed, see test below
    ],
)
def test_refused(project: Path, path: str, needle: str) -> None:
    verdict = check_path(ProjectResolver(project), path, LIMITS, exists=False)
    if path == "configs/deep/lr.yaml":
        assert verdict.ok  # documented: '*' crosses '/', as in fnmatch
        return
    assert not verdict.ok
    assert needle in verdict.reason
    assert verdict.relpath == ""


@pytest.mark.parametrize(
    ("allowlist", "path", "ok"),
    [
        (("*.py",), "a/b/c.py", True),
        (("src/**/*.py",), "src/x.py", True),
        (("src/**/*.py",), "src/a/b/x.py", True),
        (("src/**/*.py",), "train.py", False),
        (("src/*.py",), "lib/src/x.py", False),
        (("train.py",), "train.py", True),
        (("train.py",), "sub/train.py", True),  # a bare name matches at any depth
        (("model.py", "train.py"), "other.py", False),
        ((), "train.py", False),
        (("*.PY",), "train.py", False),  # the allowlist is case-sensitive
    ],
)
def test_allowlist_globs(tmp_path: Path, allowlist: tuple[str, ...], path: str, ok: bool) -> None:
    verdict = check_path(ProjectResolver(tmp_path), path, Limits(allowlist=allowlist), exists=False)
    assert verdict.ok is ok, verdict.reason


def test_empty_allowlist_says_so(tmp_path: Path) -> None:
    verdict = check_path(ProjectResolver(tmp_path), "train.py", Limits(allowlist=()), exists=True)
    assert "empty: nothing may be patched" in verdict.reason


def test_new_file_reason_says_new(tmp_path: Path) -> None:
    verdict = check_path(ProjectResolver(tmp_path), "run.sh", LIMITS, exists=False)
    assert "a new file is outside PHOENIX_ALLOWLIST" in verdict.reason


@pytest.mark.parametrize("data_dir", ["datasets/raw", "./datasets/raw/", "ABS"])
def test_custom_data_dir(project: Path, data_dir: str) -> None:
    (project / "datasets" / "raw").mkdir(parents=True)
    if data_dir == "ABS":
        data_dir = str(project / "datasets" / "raw")
    limits = Limits(allowlist=("*.py",), data_dir=data_dir)
    assert (
        "data directory"
        in check_path(ProjectResolver(project), "datasets/raw/x.py", limits, exists=False).reason
    )
    assert check_path(ProjectResolver(project), "datasets/other.py", limits, exists=False).ok
    assert check_path(
        ProjectResolver(project), "data/loader.py", limits, exists=False
    ).ok  # not the default now


def test_data_dir_reached_through_a_symlink(project: Path) -> None:
    os.symlink("data", project / "datalink")
    verdict = check_path(ProjectResolver(project), "datalink/x.py", LIMITS, exists=False)
    assert "data directory" in verdict.reason


def test_limits_from_settings(tmp_path: Path) -> None:
    env = {
        "PHOENIX_ALLOWLIST": "src/*.py;train.py",
        "PHOENIX_PROTECTED": "keep.py",
        "PHOENIX_DATA_DIR": "ds",
        "PHOENIX_MAX_PATCH_LINES": "7",
        "PHOENIX_MAX_PATCH_FILES": "2",
    }
    limits = Limits.from_settings(resolve(project_dir=tmp_path, env=env))
    assert limits == Limits(
        allowlist=("src/*.py", "train.py"),
        protected=("keep.py",),
        data_dir="ds",
        max_patch_lines=7,
        max_patch_files=2,
    )


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"a.py": 50}, ""),
        ({"a.py": 20, "b.py": 20, "c.py": 10}, ""),
        ({"a.py": 51}, "changes 51 lines; at most 50 (PHOENIX_MAX_PATCH_LINES)"),
        ({"a.py": 30, "b.py": 30}, "changes 60 lines"),
        ({"a.py": 1, "b.py": 1, "c.py": 1, "d.py": 1}, "touches 4 files; at most 3"),
        ({}, ""),
    ],
)
def test_check_size(changes: dict[str, int], needle: str) -> None:
    verdict = check_size(changes, Limits(allowlist=("*.py",)))
    assert verdict.ok is (needle == "")
    assert needle in verdict.reason


# --- the table of what is never patchable, whatever the allowlist says ------------------------

EVERYTHING = Limits(allowlist=("*",), data_dir="data")


@pytest.mark.parametrize(
    "path",
    [
        ".venv/lib/python3.11/site-packages/phoenix_engine/core/policy.py",  # finding 3
        "myenv/lib/python3.11/site-packages/x.py",  # holds pyvenv.cfg, any name
        "condaenv/lib/x.py",  # holds conda-meta
        "lib/site-packages/x.py",
        "venv/x.py",
        "src/__pycache__/m.cpython-311.pyc",
        ".git/config",
        "node_modules/x/index.js",
        ".hidden/tool.py",
        ".env",
        "build/lib/x.py",
        "dist/x.py",
        "pytest.py",  # finding 5: would shadow pytest
        "src/pytest.py",
        "_pytest/main.py",
        "pluggy.py",
        "unittest.py",
        "conftest.py",
        "tests.py",
        "test.py",
        "test/__init__.py",
        "test/helpers.py",
        "tests/test_x.py",
        "Tests/helpers.py",
        "test_train.py",
        "train_test.py",
        "x.pth",
        "phoenix.toml",
        ".pytest.ini",
        "pytest.ini",
        "noxfile.py",
        "setup.py",
        "setup.cfg",
        "pyproject.toml",
        "tox.ini",
        ".coveragerc",
        "sitecustomize.py",
        "check.py",  # named by PHOENIX_TEST_CMD below
    ],
)
def test_never_patchable_whatever_the_allowlist(tmp_path: Path, path: str) -> None:
    (tmp_path / "myenv").mkdir()
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "condaenv" / "conda-meta").mkdir(parents=True)
    limits = Limits(allowlist=("*",), test_files=command_files("python check.py -v"))
    for exists in (True, False):
        verdict = check_path(ProjectResolver(tmp_path), path, limits, exists=exists)
        assert not verdict.ok, path
        assert verdict.reason


@pytest.mark.parametrize(
    "path",
    [
        "train.py",
        "model.py",
        "src/pkg/model.py",
        "src/pkg/testing_utils.py",
        "my_tests_helpers.py",
        "configs/lr.yaml",
        "environment/x.py",  # no pyvenv.cfg: an ordinary directory
        "builder.py",
        "distill.py",
        "pytest_helpers.py",
        "contest.py",
    ],
)
def test_ordinary_project_files_stay_patchable(tmp_path: Path, path: str) -> None:
    (tmp_path / "environment").mkdir()
    verdict = check_path(ProjectResolver(tmp_path), path, EVERYTHING, exists=False)
    assert verdict.ok, verdict.reason


class FakeFs:
    """The resolver seam: policy decisions with no disk at all."""

    def real(self, relpath: str) -> str | None:
        return None if relpath.startswith("out/") else relpath.replace("alias/", "src/")

    def is_env_dir(self, relpath: str) -> bool:
        return relpath == "py"

    def relative(self, path: str) -> str | None:
        return path.removeprefix("/proj/") if path.startswith("/proj/") else None


@pytest.mark.parametrize(
    ("path", "ok", "relpath"),
    [
        ("train.py", True, "train.py"),
        ("alias/m.py", True, "src/m.py"),
        ("alias/tests/m.py", False, ""),
        ("py/bin/x.py", False, ""),
        ("out/x.py", False, ""),
    ],
)
def test_check_path_with_an_injected_resolver(path: str, ok: bool, relpath: str) -> None:
    verdict = check_path(FakeFs(), path, EVERYTHING, exists=True)
    assert (verdict.ok, verdict.relpath) == (ok, relpath), verdict.reason


@pytest.mark.parametrize(
    ("data_dir", "path", "ok"),
    [
        ("/proj/sets", "sets/x.py", False),  # absolute, inside the project
        ("/proj/sets", "alias/x.py", True),
        ("/elsewhere/sets", "sets/x.py", True),  # outside: nothing in the project is data
        ("alias/d", "src/d/x.py", False),  # as written and as resolved
        ("sets/", "sets/a/b.py", False),
    ],
)
def test_data_dir_with_an_injected_resolver(data_dir: str, path: str, ok: bool) -> None:
    limits = Limits(allowlist=("*",), data_dir=data_dir)
    verdict = check_path(FakeFs(), path, limits, exists=False)
    assert verdict.ok is ok, verdict.reason
    assert ok or "data directory" in verdict.reason


@pytest.mark.parametrize(
    ("cmd", "files"),
    [
        ("python check.py", ("check.py",)),
        ("python -m pytest -q tests/test_a.py::test_x", ("tests/test_a.py",)),
        ("bash scripts/ci.sh --fast", ("scripts/ci.sh",)),
        ("pytest -c=cfg/pytest.ini", ("cfg/pytest.ini",)),
        ("python -m pytest -q", ()),
        ("/usr/bin/python /abs/check.py", ()),
        ("", ()),
    ],
)
def test_files_the_test_command_names(cmd: str, files: tuple[str, ...]) -> None:
    assert command_files(cmd) == files
