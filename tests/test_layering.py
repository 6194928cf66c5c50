"""The engine never imports UI code; importing it must not load Textual or Rich."""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

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
