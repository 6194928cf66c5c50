"""The offline doctor: the repairs that need no model.

- CUDA/torch out of memory: halve the batch size where it is set (an assignment, a keyword
  argument, an argparse/click default, a JSON/YAML/TOML value), searching the innermost project
  frame's file, then the traceback's other project files, then entry and config files at the root.
  When the training command passes the batch size (``--batch_size 8``) that flag overrides any
  default here, so the command itself is changed instead and this doctor is not asked
  (``providers/_batch_flag.py``, applied by ``triage_actions.py``).
- Python's own "Did you mean: 'x'?" for NameError, AttributeError and ImportError: rename on
  the failing line only.

It reads files under the project and never writes; the reply uses Phoenix's JSON schema
(``replace_range`` with ``original``). Anything else raises ProviderError with a reason.
"""

from __future__ import annotations

__all__ = ["BuiltinDoctor"]

import asyncio
import io
import json
import os
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

from phoenix_engine.core.classify import Classified, FailureKind
from phoenix_engine.errors import ProviderError
from phoenix_engine.llm._base import RepairRequest

_NAME = r"(?P<name>(?:\w*_)?batch_?size\w*)"
_END = r"(?=\s*(?:[,)}\]#]|$))"
_ASSIGN = re.compile(rf"(?<![\w\"']){_NAME}\s*(?::\s*int\s*)?=\s*(?P<n>\d+){_END}", re.I)
_QUOTED = re.compile(rf"[\"']{_NAME}[\"']\s*:\s*(?P<n>\d+){_END}", re.I)
_YAML = re.compile(rf"^\s*(?:-\s+)?{_NAME}\s*:\s*(?P<n>\d+)\s*(?:#.*)?$", re.I)
_FLAG = re.compile(r"[\"']--?(?P<name>[\w-]*batch[_-]?size[\w-]*)[\"']", re.I)
_DEFAULT = re.compile(rf"\bdefault\s*=\s*(?P<n>\d+){_END}")
_PATTERNS = {".py": (_ASSIGN, _QUOTED), ".toml": (_ASSIGN,), ".json": (_QUOTED,)}
_PATTERNS |= {".yaml": (_YAML,), ".yml": (_YAML,)}
_CONFIGS = {".yaml", ".yml", ".json", ".toml"}
_ENTRY = re.compile(r"^(train|main|run|finetune|pretrain)\w*\.py$")
_MAX_BYTES = 1 << 20

_MEAN = re.compile(r"Did you mean: '(?P<right>[\w.]+)'\?")
_WRONG = {  # exception -> (where the wrong name is in the message, where it is on the line)
    "NameError": (re.compile(r"name '(?P<wrong>\w+)' is not defined"), "bare"),
    "AttributeError": (re.compile(r"has no attribute '(?P<wrong>\w+)'"), "attribute"),
    "ImportError": (re.compile(r"cannot import name '(?P<wrong>\w+)'"), "imported"),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class _Hit:
    line: int  # 1-based
    start: int  # span of the number within the line
    end: int
    value: int
    name: str

    @property
    def rank(self) -> int:
        low = self.name.lower()
        if re.search(r"eval|val|test|infer|predict", low):
            return 2  # a training OOM is rarely fixed by the evaluation batch
        return 1 if re.search(r"global|total|effective", low) else 0


def _lines(text: str) -> list[str]:
    """Lines with their endings (CRLF stays CRLF), numbered as tracebacks number them."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _read(project_dir: Path, relpath: str) -> list[str] | None:
    path = project_dir / relpath
    try:
        real, root = os.path.realpath(path), os.path.realpath(project_dir)
        if os.path.commonpath([root, real]) != root or path.stat().st_size > _MAX_BYTES:
            return None
        return _lines(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError):  # missing, unreadable, not UTF-8
        return None


def _hit(index: int, m: re.Match[str], name: str) -> _Hit:
    n = int(m.group("n"))
    return _Hit(line=index + 1, start=m.start("n"), end=m.end("n"), value=n, name=name)


def _flag_hit(lines: list[str], i: int, name: str) -> _Hit | None:
    """``default=N`` on the flag's line or on the next lines of the same call."""
    for j in range(i, min(i + 8, len(lines))):
        if m := _DEFAULT.search(lines[j]):
            return _hit(j, m, name)
        if j > i and ")" in lines[j]:
            break
    return None


def _scan(relpath: str, lines: list[str]) -> list[_Hit]:
    patterns = _PATTERNS.get(Path(relpath).suffix.lower(), ())
    hits = []
    for i, line in enumerate(lines):
        for pattern in patterns:
            hits += [
                _hit(i, m, m["name"])
                for m in pattern.finditer(line)
                if "#" not in line[: m.start()]
            ]
        flag = _FLAG.search(line) if relpath.endswith(".py") else None
        if flag and "#" not in line[: flag.start()] and (hit := _flag_hit(lines, i, flag["name"])):
            hits.append(hit)
    return hits


def _search_order(failure: Classified, project_dir: Path) -> list[str]:
    """Traceback files (innermost first), then root entry files, root configs, config dirs."""
    order = [f.relpath for f in reversed(failure.frames) if f.relpath]
    if failure.location and not order:
        order.append(failure.location.rsplit(":", 1)[0])
    for sub in ("", "config/", "configs/", "conf/"):
        try:
            names = sorted(e.name for e in os.scandir(project_dir / sub) if e.is_file())
        except OSError:
            continue
        if not sub:
            order += [n for n in names if _ENTRY.match(n)] + [n for n in names if n.endswith(".py")]
        order += [sub + n for n in names if Path(n).suffix in _CONFIGS]
    return list(dict.fromkeys(order))


def _reply(diagnosis: str, path: str, line: int, old: str, new: str) -> dict[str, object]:
    patch = {"type": "replace_range", "path": path, "start_line": line, "end_line": line}
    patch |= {"replacement": new, "original": old}
    return {"diagnosis": diagnosis, "patches": [patch]}


def _halve_batch(failure: Classified, project_dir: Path) -> dict[str, object]:
    for relpath in _search_order(failure, project_dir):
        lines = _read(project_dir, relpath) or []
        hits = _scan(relpath, lines)
        if not hits:
            continue
        best = min(hits, key=lambda h: (h.rank, h.line))
        where = f"{relpath}:{best.line}"
        if best.value <= 1:
            raise ProviderError(
                "builtin", f"batch size at {where} is already 1; halving cannot help"
            )
        old, half = lines[best.line - 1], best.value // 2
        new = old[: best.start] + str(half) + old[best.end :]
        at = f" in {failure.location}" if failure.location else ""
        diagnosis = (
            f"The GPU ran out of memory{at}. Halving {best.name} from {best.value} to {half} "
            f"at {where} lowers the memory each step needs."
        )
        return _reply(diagnosis, relpath, best.line, old, new)
    raise ProviderError("builtin", "out of memory, but no literal batch size was found to halve")


def _token_spans(line: str, wrong: str, where: str) -> list[tuple[int, int]]:
    """Columns of ``wrong`` as a NAME token: bare, after a dot, or after ``import``."""
    spans, prev, imported = [], "", False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(line).readline):
            if tok.type == tokenize.NAME and tok.string == wrong:
                dotted = prev == "."
                if (where == "attribute") == dotted and (where != "imported" or imported):
                    spans.append((tok.start[1], tok.end[1]))
            imported = imported or (tok.type == tokenize.NAME and tok.string == "import")
            prev = tok.string if tok.type in (tokenize.NAME, tokenize.OP) else prev
    except (tokenize.TokenError, SyntaxError):
        pass  # a fragment of a multi-line statement: keep what was found
    return spans


def _name_spans(line: str, wrong: str, where: str) -> list[tuple[int, int]]:
    """Token positions; else whole-word matches (the name sits in an f-string on 3.11)."""
    if spans := _token_spans(line, wrong, where):
        return spans
    before = r"(?<=\.)" if where == "attribute" else r"(?<![\w.])"
    return [m.span() for m in re.finditer(before + re.escape(wrong) + r"(?!\w)", line)]


def _rename(failure: Classified, project_dir: Path) -> dict[str, object] | None:
    exc = failure.exc_type.rsplit(".", 1)[-1]
    wrong_m = _WRONG[exc][0].search(failure.message) if exc in _WRONG else None
    right_m = _MEAN.search(failure.message)
    if not (wrong_m and right_m):
        return None
    wrong, right, where = wrong_m["wrong"], right_m["right"], _WRONG[exc][1]
    frame = next((f for f in reversed(failure.frames) if f.relpath), None)
    relpath = frame.relpath if frame and frame.relpath else failure.location.rsplit(":", 1)[0]
    line_no = frame.line if frame else failure.line
    lines = _read(project_dir, relpath) if relpath and line_no else None
    if not lines or not line_no or not 1 <= line_no <= len(lines):
        raise ProviderError("builtin", f"cannot read the failing line {relpath}:{line_no}")
    old = lines[line_no - 1]
    spans = _name_spans(old, wrong, where)
    if not spans:
        raise ProviderError(
            "builtin", f"'{wrong}' is not on {relpath}:{line_no}; nothing to rename"
        )
    new = old
    for start, end in reversed(spans):
        new = new[:start] + right + new[end:]
    diagnosis = (
        f"{exc}: '{wrong}' does not exist and Python suggests '{right}'. "
        f"Renaming it on {relpath}:{line_no} fixes the typo."
    )
    return _reply(diagnosis, relpath, line_no, old, new)


class BuiltinDoctor:
    """Provider ``builtin``: offline fixes for GPU OOM and Python's own name suggestions."""

    name = "builtin"

    async def complete(self, request: RepairRequest) -> str:
        reply = await asyncio.to_thread(self._diagnose, request.failure, request.project_dir)
        return json.dumps(reply, indent=2)

    def _diagnose(self, failure: Classified, project_dir: Path) -> dict[str, object]:
        exc = failure.exc_type.rsplit(".", 1)[-1]
        if failure.kind is FailureKind.OOM or exc == "OutOfMemoryError":
            return _halve_batch(failure, project_dir)
        fix = _rename(failure, project_dir)
        if fix is None:
            what = f"{failure.kind.value} {failure.exc_type}".strip()
            raise ProviderError("builtin", f"no offline fix for {what}")
        return fix
