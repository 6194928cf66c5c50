"""The engine never imports UI code (importing it loads no Textual or Rich), and its
subpackages are layers: core imports nothing but itself, events and errors; io adds core; llm
adds io; remote may use the whole engine."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "phoenix_engine"
FORBIDDEN = ("textual", "rich", "phoenix_tui")


def imported_roots(path: Path) -> set[str]:
    # CPython 3.11's AST builder checks its recursion depth before and after; a finalizer that a
    # garbage collection runs in between (objects other tests left) makes it raise
    # "SystemError: AST constructor recursion depth mismatch" (seen once in a full run).
    gc.disable()
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    finally:
        gc.enable()
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_engine_module_imports_ui_code() -> None:
    files = sorted(ENGINE.rglob("*.py"))
    assert len(files) > 10
    offenders = {
        str(f.relative_to(ENGINE)): sorted(imported_roots(f) & set(FORBIDDEN)) for f in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_importing_every_engine_module_loads_no_ui_package() -> None:
    modules = [
        "phoenix_engine." + ".".join(f.relative_to(ENGINE).with_suffix("").parts)
        for f in sorted(ENGINE.rglob("*.py"))
        if f.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# The layers, lowest first: what each subpackage's modules may import from the engine. core is
# pure decisions, io thin I/O, llm the providers, remote the attach socket and Discord; the
# top-level modules (engine, repair, session, promotion, ...) sequence them and may import all.
EVENTS = ("phoenix_engine.events", *(f"phoenix_engine.{f.stem}" for f in ENGINE.glob("_event*.py")))
ERRORS = "phoenix_engine.errors"
CORE, IO, LLM = "phoenix_engine.core", "phoenix_engine.io", "phoenix_engine.llm"
LAYERS: dict[str, tuple[str, ...]] = {
    "core": (CORE, *EVENTS, ERRORS),
    "io": (CORE, IO, *EVENTS, ERRORS),
    "llm": (CORE, IO, LLM, *EVENTS, ERRORS),
    "remote": ("phoenix_engine",),  # anything in the engine (UI code is refused above)
}
# core decides: it starts no process, runs no event loop, opens no socket, walks no directory,
# and uses no third-party package. Clocks come in as arguments, files through a seam.
CORE_STDLIB = sys.stdlib_module_names - {
    "asyncio",
    "concurrent",
    "glob",
    "http",
    "multiprocessing",
    "selectors",
    "shutil",
    "socket",
    "ssl",
    "subprocess",
    "tempfile",
    "threading",
    "urllib",
}


def engine_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in ``path``, at any depth (inside functions and under
    ``if TYPE_CHECKING:`` too). ``from phoenix_engine import events`` imports the module
    ``phoenix_engine.events``; a relative import is its dots and name as written."""
    gc.disable()  # see imported_roots
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    finally:
        gc.enable()
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "." * node.level + (node.module or "")))
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:  # a submodule by name, or a name from the module
                sub = ENGINE.parent.joinpath(*node.module.split("."), alias.name)
                named = sub.with_suffix(".py").is_file() or sub.is_dir()
                found.append((node.lineno, f"{node.module}.{alias.name}" if named else node.module))
    return list(dict.fromkeys(found))  # two names from one module: one import


def layer_violations(layer: str, path: Path, shown: str = "") -> list[str]:
    """Each import of ``path``, a module of ``layer``, that the layering forbids: one line
    naming the module (``shown``, or its path in the repository), the line and the import."""
    where = shown or path.relative_to(ENGINE.parent).as_posix()
    allowed = LAYERS[layer]
    words = dict.fromkeys("events" if a in EVENTS else a.split(".")[-1] for a in allowed)
    bad = []
    for line, module in engine_imports(path):
        root = module.split(".")[0]
        if module.startswith("."):
            why = "a relative import (imports are absolute)"
        elif root == "phoenix_engine" and not any(
            module == a or module.startswith(a + ".") for a in allowed
        ):
            why = f"{layer}/ may import only {', '.join(words)} from the engine"
        elif layer == "core" and root != "phoenix_engine" and root not in CORE_STDLIB:
            why = "core/ is pure: the standard library without processes, loops, sockets or files"
        else:
            continue
        bad.append(f"{where}:{line} imports {module}: {why}")
    return bad


def test_every_subpackage_has_a_layer() -> None:
    packages = {p.parent.name for p in ENGINE.glob("*/__init__.py")}
    assert packages == set(LAYERS), "a new subpackage needs its row in LAYERS"


@pytest.mark.parametrize(
    ("layer", "path"),
    [
        pytest.param(layer, f, id=f.relative_to(ENGINE).as_posix())
        for layer in LAYERS
        for f in sorted((ENGINE / layer).rglob("*.py"))
    ],
)
def test_modules_import_only_their_layer_and_below(layer: str, path: Path) -> None:
    assert layer_violations(layer, path) == []


def _probe(tmp_path: Path, layer: str, source: str) -> list[str]:
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    return layer_violations(layer, probe, f"phoenix_engine/{layer}/probe.py")


@pytest.mark.parametrize(
    ("layer", "source", "named"),
    [
        ("core", "from phoenix_engine.io.atomic import shown_path\n", "phoenix_engine.io.atomic"),
        ("core", "def f():\n    import subprocess\n", "subprocess"),
        ("core", "import psutil\n", "psutil"),
        ("core", "from phoenix_engine import engine\n", "phoenix_engine.engine"),
        ("core", "from phoenix_engine import __version__\n", "phoenix_engine"),
        ("io", "if X:\n    from phoenix_engine.remote import wire\n", "phoenix_engine.remote.wire"),
        ("io", "from phoenix_engine.llm._proc import run_command\n", "phoenix_engine.llm._proc"),
        ("llm", "from phoenix_engine.remote import embeds\n", "phoenix_engine.remote.embeds"),
        ("llm", "from phoenix_engine.repair import Repairer\n", "phoenix_engine.repair"),
        ("remote", "from . import wire\n", "."),
    ],
)
def test_a_violation_names_the_module_and_the_import(
    tmp_path: Path, layer: str, source: str, named: str
) -> None:
    (message,) = _probe(tmp_path, layer, source)
    assert message.startswith(f"phoenix_engine/{layer}/probe.py:")
    assert f" imports {named}: " in message


@pytest.mark.parametrize(
    ("layer", "source"),
    [
        ("core", "from phoenix_engine import events as ev\nimport re, time\n"),
        ("core", "from phoenix_engine._events_run import RunStarted\n"),
        ("core", "from phoenix_engine.errors import StateError\n"),
        ("io", "import psutil\nfrom phoenix_engine.core import settings\n"),
        ("llm", "import httpx\nfrom phoenix_engine.io.capped_http import get\n"),
        ("remote", "from phoenix_engine import __version__\nfrom phoenix_engine import approval\n"),
    ],
)
def test_what_a_layer_may_import_passes(tmp_path: Path, layer: str, source: str) -> None:
    assert _probe(tmp_path, layer, source) == []


# What core/ may not call even through a module it may import: the builtin open, and the file
# system functions of os and shutil. (Files reach core through the ProjectFiles it is handed.)
_FS_MODULES = {"os": {"stat", "lstat", "listdir", "scandir", "walk", "remove", "unlink", "rename",
                      "replace", "mkdir", "makedirs", "rmdir", "open", "chmod", "utime"},
               "shutil": None}  # fmt: skip
# Path's own file methods, on any object (ProjectFiles' is_file, stat and read_bytes excepted).
_PATH_METHODS = {"open", "read_text", "write_text", "write_bytes", "iterdir", "mkdir", "unlink",
                 "touch", "glob", "rglob", "exists", "is_dir", "rmdir", "chmod"}  # fmt: skip


def file_calls(path: Path) -> list[str]:
    gc.disable()  # see imported_roots
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    finally:
        gc.enable()
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        fn = node.func
        if isinstance(fn, ast.Name) and fn.id == "open":
            found.append(f"{node.lineno}: open(...)")
        elif isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
            names = _FS_MODULES.get(fn.value.id, set())
            if names is None or fn.attr in names or fn.attr in _PATH_METHODS:
                found.append(f"{node.lineno}: {fn.value.id}.{fn.attr}(...)")
        elif isinstance(fn, ast.Attribute) and fn.attr in _PATH_METHODS:
            found.append(f"{node.lineno}: .{fn.attr}(...)")
    return found


@pytest.mark.parametrize(
    "path",
    [pytest.param(f, id=f.name) for f in sorted((ENGINE / "core").rglob("*.py"))],
)
def test_core_opens_no_file(path: Path) -> None:
    assert file_calls(path) == []


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("open('x')\n", ["1: open(...)"]),
        ("import os\nos.listdir('.')\n", ["2: os.listdir(...)"]),
        ("import shutil\nshutil.copy('a', 'b')\n", ["2: shutil.copy(...)"]),
        ("import os\nos.path.join('a', 'b')\n'x'.replace('a', 'b')\n", []),
        ("with path.open('rb') as fh:\n    pass\n", ["1: path.open(...)"]),
        ("(root / 'x').read_text()\n", ["1: .read_text(...)"]),
    ],
)
def test_the_file_call_check_itself(tmp_path: Path, source: str, found: list[str]) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(source, encoding="utf-8")
    assert file_calls(probe) == found
