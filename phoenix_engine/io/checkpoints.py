"""Checkpoint-aware restarts: find the newest complete checkpoint and put it into the command.

"Complete" is judged by content, not age (a crash often follows a save at once): its size
does not move over a short re-check, a zip (``torch.save``) has its end record, a
``.safetensors`` file is as long as its header says, and a Hugging Face Trainer directory
holds ``trainer_state.json``, which the Trainer writes after the weights. The re-check of all
candidates shares one sleep. File reads are small (a header, a zip's tail).
"""

from __future__ import annotations

__all__ = [
    "HF_RESUME_ARGS",
    "candidates",
    "detect_trainer_output",
    "newest_complete",
    "quarantine",
    "resume_command",
]

import asyncio
import errno
import glob
import json
import os
import re
import shlex
import stat
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from phoenix_engine.core.command_line import add_arguments

HF_RESUME_ARGS = "--resume_from_checkpoint {checkpoint}"
_TRAINER_STATE = "trainer_state.json"
_HF_WEIGHTS = ("model.safetensors", "pytorch_model.bin", "adapter_model.safetensors")
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".phoenix_cli", "wandb"}
_NUMBERS = re.compile(r"\d+")
# One shell word: quoted parts and plain characters, up to a space or an operator.
_VALUE = r"""(?:'[^']*'|"(?:[^"\\]|\\.)*"|[^\s|;&<>'"]+)+"""


async def newest_complete(
    project_dir: Path,
    pattern: str,
    *,
    recheck_s: float = 1.0,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> Path | None:
    """The newest checkpoint matching ``pattern`` (relative to the project, or absolute)
    that is complete, or None. Blocking reads go through ``asyncio.to_thread``."""
    candidates = await asyncio.to_thread(_candidates, project_dir, pattern)
    if not candidates:
        return None
    before = await asyncio.to_thread(lambda: [_fingerprint(p) for p in candidates])
    await sleep(recheck_s)
    after = await asyncio.to_thread(lambda: [_fingerprint(p) for p in candidates])
    for path, old, new in zip(candidates, before, after, strict=True):
        if old is not None and old == new and await asyncio.to_thread(_intact, path):
            return path
    return None


def _candidates(project_dir: Path, pattern: str) -> list[Path]:
    """Matches, newest first: by the numbers in their names when all have some, else mtime."""
    paths = [Path(project_dir, p) for p in glob.glob(pattern, root_dir=project_dir, recursive=True)]
    stamped: list[tuple[tuple[int, ...], float, Path]] = []
    for path in paths:
        try:
            mtime = path.stat().st_mtime
        except OSError:
            continue
        stem = path.stem if path.is_file() else path.name
        stamped.append((tuple(int(n) for n in _NUMBERS.findall(stem)), mtime, path))
    if all(numbers for numbers, _, _ in stamped):
        stamped.sort(key=lambda t: (t[0], t[1]), reverse=True)
    else:
        stamped.sort(key=lambda t: t[1], reverse=True)
    return [path for _, _, path in stamped]


def candidates(project_dir: Path, pattern: str) -> list[Path]:
    """Every match of ``pattern``, complete or not, newest first."""
    return _candidates(project_dir, pattern)


def quarantine(path: Path, state_dir: Path, *, stamp: str) -> Path:
    """Move a checkpoint that failed to load out of the glob's reach (``.phoenix_cli/
    quarantine/``), never deleting it; on another filesystem it gets a hidden name beside
    itself (moving gigabytes across disks could fill one). Returns where it went."""
    dest = state_dir / "quarantine" / f"{stamp}-{path.name}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(path, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        dest = path.with_name(f".phoenix-quarantined-{stamp}-{path.name}")
        os.rename(path, dest)
    return dest


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    """(files, total size, newest mtime_ns) of a file or a directory tree; None if unreadable."""
    try:
        if not path.is_dir():
            st = path.stat()
            return 1, st.st_size, st.st_mtime_ns
        files = size = newest = 0
        for root, _, names in os.walk(path):
            for name in names:
                st = os.stat(os.path.join(root, name))
                files, size, newest = files + 1, size + st.st_size, max(newest, st.st_mtime_ns)
        return (files, size, newest) if files else None
    except OSError:
        return None


def _intact(path: Path) -> bool:
    if not path.is_dir():
        return _file_intact(path)
    names = set(os.listdir(path))
    if _TRAINER_STATE not in names and (names & set(_HF_WEIGHTS) or "optimizer.pt" in names):
        return False  # a Trainer checkpoint cut short before its state was written
    files = (Path(root, name) for root, _, names in os.walk(path) for name in names)
    return all(_file_intact(f) for f in files if not _special(f))


def _special(path: Path) -> bool:
    """A named pipe, socket or device inside a checkpoint directory: not checked, not read."""
    try:
        return not stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False  # gone or unreadable: _file_intact says so


def _file_intact(path: Path) -> bool:
    """False for a zip without its end record or a safetensors file shorter than its header."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return False  # a named pipe or a device would block the read, and is no checkpoint
        with path.open("rb") as fh:
            head = fh.read(8)
            if head[:4] == b"PK\x03\x04":
                return zipfile.is_zipfile(fh)
            if path.suffix == ".safetensors" and len(head) == 8:
                size = int.from_bytes(head, "little")
                header = json.loads(fh.read(size))
                ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
                return os.fstat(fh.fileno()).st_size >= 8 + size + max(ends, default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return False
    return True


def resume_command(train_cmd: str, resume_args: str, checkpoint: Path, project_dir: Path) -> str:
    """``train_cmd`` with ``resume_args`` (``{checkpoint}`` filled in, shell-quoted) added.

    The path is relative to the project when inside it. A flag the command already carries
    (``--flag value`` or ``--flag=value``) gets the new value instead of a second copy, and a
    switch it already has is not added again. The arguments go before the first top-level
    ``|`` (``python train.py 2>&1 | tee log``) or a comment, else at the end.
    """
    template = shlex.split(resume_args)
    path = _shown_path(checkpoint, project_dir)
    raw = [t.replace("{checkpoint}", path) for t in template]
    flag, own = _flag(template)
    command, placed = train_cmd, False
    if flag is not None:
        option = re.compile(r"(?<![\w-])" + re.escape(flag) + r"(?:=|\s+)" + _VALUE)
        first = option.search(command)
        if first is not None:
            rest = re.sub(r"\s+" + option.pattern, "", command[first.end() :])
            pair = " ".join(shlex.quote(raw[i]) for i in own)
            command, placed = command[: first.start()] + pair + rest, True
    present = set(shlex.split(command))
    extra = [
        shlex.quote(token)
        for i, token in enumerate(raw)
        if not (placed and i in own) and not (i not in own and token in present and token[0] == "-")
    ]
    if not extra:
        return command
    return add_arguments(command, " ".join(extra))  # before a pipe, as the shell rule reads it


def _shown_path(checkpoint: Path, project_dir: Path) -> str:
    full, root = Path(os.path.abspath(checkpoint)), Path(os.path.abspath(project_dir))
    return str(full.relative_to(root)) if full.is_relative_to(root) else str(full)


def _flag(template: list[str]) -> tuple[str | None, list[int]]:
    """The option that carries the checkpoint, and the indices of its tokens in the template."""
    for i, token in enumerate(template):
        if "{checkpoint}" not in token:
            continue
        if "=" in token.split("{checkpoint}")[0]:  # --flag={checkpoint}, key={checkpoint}
            return token.split("=", 1)[0], [i]
        if token == "{checkpoint}" and i > 0 and template[i - 1].startswith("-"):
            return template[i - 1], [i - 1, i]
        return None, [i]
    return None, []


def detect_trainer_output(project_dir: Path, max_depth: int = 3) -> str | None:
    """A ``PHOENIX_CHECKPOINT_GLOB`` for a Hugging Face Trainer output directory, or None.

    Looks for ``<dir>/checkpoint-N/trainer_state.json`` up to ``max_depth`` levels down,
    skipping virtual environments and VCS folders; the most recently written one wins.
    """
    best: tuple[float, str] | None = None
    root = Path(project_dir)
    for current, dirs, _ in os.walk(root):
        depth = len(Path(current).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        if depth >= max_depth:
            dirs[:] = []
        for d in dirs:
            state = Path(current, d, _TRAINER_STATE)
            if not (d.startswith("checkpoint-") and state.is_file()):
                continue
            parent = Path(current).relative_to(root).as_posix()
            suggestion = "checkpoint-*" if parent == "." else f"{parent}/checkpoint-*"
            mtime = state.stat().st_mtime
            if best is None or mtime > best[0]:
                best = (mtime, suggestion)
    return best[1] if best else None
