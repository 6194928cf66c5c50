"""A parsed reply made into a vetted proposal: paths checked, files read, patches applied in memory.

Pure: the files a reply names are resolved and read through the :class:`ProjectFiles` the
caller passes (:class:`phoenix_engine.io.project_files.ProjectResolver` on disk); nothing is
ever written. Any patch that fails to apply, any path or size the policy refuses, refuses the
whole proposal: there is no partial repair.
"""

from __future__ import annotations

__all__ = [
    "MAX_FILE_BYTES",
    "FileChange",
    "ProjectFiles",
    "Proposal",
    "Refusal",
    "build_proposal",
    "proposal_id",
]

import dataclasses
import difflib
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from phoenix_engine.core.patches import FilePatch, Refused, Reply, apply_patch, changed_lines
from phoenix_engine.core.policy import Limits, check_path, check_size
from phoenix_engine.core.refused import Resolver

MAX_FILE_BYTES = 4_000_000  # larger "source" is generated or data; a model should not edit it
_BOM = "\ufeff"


class ProjectFiles(Resolver, Protocol):
    """The project's files as a proposal needs them: the policy's facts, and what is there.
    Each looks at ``project_dir / relpath`` and raises what the OS raises."""

    def lexists(self, relpath: str) -> bool: ...

    def is_file(self, relpath: str) -> bool: ...

    def stat(self, relpath: str) -> os.stat_result: ...

    def read_bytes(self, relpath: str) -> bytes: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class FileChange:
    path: str  # relative, POSIX separators, symlinks inside the project resolved
    before: bytes | None  # None: a new file
    after: bytes
    mode: int | None  # st_mode of the existing file; None for a new one


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    id: str  # 12 hex digits of the changed contents: the same change, the same id
    provider: str
    signature: str
    diagnosis: str
    changes: tuple[FileChange, ...]
    diff: str  # unified diff of every change, a/ b/ headers
    changed_lines: int

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(change.path for change in self.changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Refusal:
    reason: str
    id: str = ""  # set when the change was computed but is too big: it was still "tried"


@dataclass(frozen=True, slots=True, kw_only=True)
class _File:
    before: bytes | None
    original: str | None  # decoded, without a byte order mark
    text: str | None  # after the patches applied so far
    bom: bool = False
    mode: int | None = None


def build_proposal(
    project: ProjectFiles, reply: Reply, limits: Limits, *, provider: str, signature: str
) -> Proposal | Refusal:
    """Vet every path, apply every patch in order (same file: in sequence), vet the size."""
    if not reply.patches:
        return Refusal(reason="the reply gives a diagnosis but proposes no change")
    targets = _vet_paths(project, reply.patches, limits)
    if isinstance(targets, Refusal):
        return targets
    files: dict[str, _File] = {}
    for relpath, patch in zip(targets, reply.patches, strict=True):
        if relpath not in files:
            loaded = _load(project, relpath)
            if isinstance(loaded, str):
                return Refusal(reason=loaded)
            files[relpath] = loaded
        result = apply_patch(files[relpath].text, patch)
        if isinstance(result, Refused):
            return Refusal(reason=f"{relpath}: {result.reason}")
        files[relpath] = dataclasses.replace(files[relpath], text=result.text)
    return _finish(files, reply.diagnosis, limits, provider=provider, signature=signature)


def _vet_paths(
    project: ProjectFiles, patches: Sequence[FilePatch], limits: Limits
) -> list[str] | Refusal:
    targets: list[str] = []
    for patch in patches:
        verdict = check_path(project, patch.path, limits, exists=_exists(project, patch))
        if not verdict.ok:
            return Refusal(reason=verdict.reason)
        targets.append(verdict.relpath)
    # Before reading anything: a reply naming 40 files is refused without opening them.
    files = set(targets)
    if len(files) > limits.max_patch_files:
        return Refusal(reason=check_size(dict.fromkeys(files, 0), limits).reason)
    return targets


def _exists(project: ProjectFiles, patch: FilePatch) -> bool:
    try:
        return project.lexists(patch.path)
    except (OSError, ValueError):
        return False


def _load(project: ProjectFiles, relpath: str) -> _File | str:
    """The file as it is now, or why it cannot be patched."""
    try:
        info = project.stat(relpath)
        if not stat.S_ISREG(info.st_mode):
            return f"{relpath} is not a regular file"
        if info.st_size > MAX_FILE_BYTES:
            return f"{relpath} is {info.st_size:,} bytes, too large to patch"
        data = project.read_bytes(relpath)
    except FileNotFoundError:
        return _File(before=None, original=None, text=None)
    except OSError as exc:
        return f"{relpath} cannot be read ({exc.strerror or exc})"
    if b"\x00" in data:
        return f"{relpath} is a binary file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return f"{relpath} is not UTF-8 text"
    bom = text.startswith(_BOM)
    text = text.removeprefix(_BOM)
    return _File(before=data, original=text, text=text, bom=bom, mode=info.st_mode)


def _encode(relpath: str, file: _File) -> bytes | str:
    text = file.text or ""
    if "\x00" in text:
        return f"{relpath}: the patch would write NUL characters"
    try:
        return ((_BOM if file.bom else "") + text).encode("utf-8")
    except UnicodeEncodeError:
        return f"{relpath}: the patch holds characters UTF-8 cannot encode (lone surrogates)"


def _finish(
    files: dict[str, _File], diagnosis: str, limits: Limits, *, provider: str, signature: str
) -> Proposal | Refusal:
    changes: list[FileChange] = []
    counts: dict[str, int] = {}
    for relpath, file in sorted(files.items()):
        after = _encode(relpath, file)
        if isinstance(after, str):
            return Refusal(reason=after)
        if after == file.before:
            continue  # later patches undid earlier ones
        changes.append(FileChange(path=relpath, before=file.before, after=after, mode=file.mode))
        cap = limits.max_patch_lines  # past the cap the count stops: linear time, bounded
        counts[relpath] = changed_lines(file.original or "", file.text or "", cap=cap)
    if not changes:
        return Refusal(reason="the patches together change nothing")
    pid = proposal_id(changes)
    size = check_size(counts, limits)
    if not size.ok:  # before any diff is made: a huge change costs no diffing
        return Refusal(reason=size.reason, id=pid)
    diffs = [_unified(c.path, files[c.path].original, files[c.path].text or "") for c in changes]
    return Proposal(
        id=pid,
        provider=provider,
        signature=signature,
        diagnosis=diagnosis,
        changes=tuple(changes),
        diff="".join(diffs),
        changed_lines=sum(counts.values()),
    )


def proposal_id(changes: Sequence[FileChange]) -> str:
    """12 hex digits over the sorted (path, after) pairs, lengths included so none can blur."""
    digest = hashlib.sha256()
    for change in sorted(changes, key=lambda c: c.path):
        path = change.path.encode("utf-8")
        digest.update(b"%d:%s%d:" % (len(path), path, len(change.after)) + change.after)
    return digest.hexdigest()[:12]


def _keep_lines(text: str) -> list[str]:
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def _unified(relpath: str, before: str | None, after: str) -> str:
    old = "/dev/null" if before is None else f"a/{relpath}"
    out = difflib.unified_diff(
        _keep_lines(before or ""), _keep_lines(after), fromfile=old, tofile=f"b/{relpath}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out
    )
