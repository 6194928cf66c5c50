"""Diffs for the console: pygments-highlighted unified diffs, and the diff behind a backup.

A backup keeps the originals and a manifest (read, like every manifest, through
:mod:`phoenix_engine.io.backups`) with the SHA-256 of each file before and after
the patch, not the patched bytes. The diff shown for a backup is therefore the patch's own
diff when this session proposed it, otherwise original versus the file on disk, labelled by
what the hashes say the file on disk is (as applied, restored, or changed since).
"""

from __future__ import annotations

__all__ = ["backup_diff", "highlight_diff"]

import difflib
from collections.abc import Mapping
from pathlib import Path

from pygments.lexers.diff import DiffLexer
from pygments.token import Generic, _TokenType
from rich.text import Text

from phoenix_engine.io.backups import BackupRecord, original_copy, read_manifest, sha

_STYLES: dict[_TokenType, str] = {
    Generic.Inserted: "green",
    Generic.Deleted: "red",
    Generic.Subheading: "cyan",
    Generic.Heading: "bold",
    Generic.Strong: "bold",
}
_LEXER = DiffLexer()


def _style(token: _TokenType) -> str:
    current: _TokenType | None = token
    while current is not None:
        style = _STYLES.get(current)
        if style is not None:
            return style
        current = current.parent
    return ""


def highlight_diff(diff: str) -> Text:
    """A unified diff as rich Text: additions green, deletions red, hunk headers cyan."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for token, value in _LEXER.get_tokens(diff):
        style = _style(token)
        if value.startswith(("--- ", "+++ ")):
            style = "bold"
        text.append(value, style=style)
    text.rstrip()
    return text


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _lines(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode("utf-8", "replace").splitlines(keepends=True)


def backup_diff(
    record: BackupRecord, project_dir: Path, known: Mapping[str, str]
) -> tuple[str, str]:
    """(a note on what is shown, the unified diff) for one backup."""
    if record.proposal_id in known and record.kind == "patch":
        return "the patch as it was applied", known[record.proposal_id]
    try:
        files = read_manifest(record.path)["files"]
        copies = [original_copy(record.path, str(f["path"])) for f in files]  # safe paths only
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"the manifest cannot be read: {exc}", ""
    notes: list[str] = []
    chunks: list[str] = []
    for f, copy in zip(files, copies, strict=True):
        rel = str(f["path"])
        original = _read(copy) if f.get("existed") else None
        current = _read(project_dir / rel)
        now = sha(current)
        if now == f.get("sha256_after"):
            notes.append(f"{rel}: as applied")
        elif now == f.get("sha256_before"):
            notes.append(f"{rel}: back to the original")
        else:
            notes.append(f"{rel}: changed since")
        chunks.extend(
            difflib.unified_diff(
                _lines(original), _lines(current), f"a/{rel} (backup)", f"b/{rel} (now)"
            )
        )
    diff = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return "backup versus the files now: " + "; ".join(notes), diff
