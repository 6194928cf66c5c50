"""May a proposal touch this path, and is it small enough? Every refusal is a readable reason.

A path must be relative, POSIX, inside the project (no ``..``, no symlink leading out), match
``PHOENIX_ALLOWLIST`` and not be refused: never by the table in :mod:`phoenix_engine.core.refused`
(tests, virtualenvs, hidden directories, the test runner's configuration, ...), never in the
data directory, never a file the test command names, never a ``PHOENIX_PROTECTED`` glob. Glob
semantics, for the allowlist and for ``PHOENIX_PROTECTED``: :func:`fnmatch.fnmatchcase` against
the relative POSIX path, and, for a glob without ``/``, against the file name too, so ``*.py``
matches ``src/pkg/x.py``. As in fnmatch, ``*`` also crosses ``/``; ``**/`` may also match no
directory at all, so ``src/**/*.py`` matches ``src/x.py``; a glob ending in ``/`` names a
directory, so ``vendor/`` protects everything below any ``vendor`` directory. Protected names
are compared ignoring case, because on macOS ``Tests/`` is ``tests/``.

Pure: the filesystem facts a verdict needs (symlinks, which directories are environments,
where an absolute data directory lies) come from the :class:`Resolver` the caller passes;
:class:`phoenix_engine.io.project_files.ProjectResolver` asks the disk, the table tests pass a
fake.
"""

from __future__ import annotations

__all__ = [
    "Limits",
    "Resolver",
    "Verdict",
    "allowlisted",
    "check_path",
    "check_size",
    "command_files",
]

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from phoenix_engine.core.refused import Resolver, refused_why
from phoenix_engine.core.settings import Settings

_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_PATH, _MAX_NAME = 1024, 255  # common filesystem limits (PATH_MAX is larger, rarely met)


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    allowlist: tuple[str, ...]
    protected: tuple[str, ...] = ()  # extra globs (PHOENIX_PROTECTED), added to the built-ins
    data_dir: str = "data"
    max_patch_lines: int = 50
    max_patch_files: int = 3
    test_files: tuple[str, ...] = ()  # files PHOENIX_TEST_CMD names: the judge is not patchable

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            allowlist=settings.allowlist,
            protected=settings.protected,
            data_dir=settings.data_dir,
            max_patch_lines=settings.max_patch_lines,
            max_patch_files=settings.max_patch_files,
            test_files=command_files(settings.test_cmd),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    ok: bool
    reason: str = ""
    relpath: str = ""  # normalised relative POSIX path (symlinks inside resolved) when ok


def _refuse(reason: str) -> Verdict:
    return Verdict(ok=False, reason=reason)


def _lexical(path: str) -> str | Verdict:
    """Syntax only: the normalised relative path, or why it is not one."""
    if not isinstance(path, str) or not path.strip():
        return _refuse("the patch names an empty path")
    shown = repr(path[:80])
    if any(ord(c) < 32 or c == "\x7f" for c in path):
        return _refuse(f"{shown} contains control characters")
    if not _utf8(path):
        return _refuse(f"{shown} is not valid UTF-8 text")
    if len(path) > _MAX_PATH or any(len(part) > _MAX_NAME for part in path.split("/")):
        return _refuse(f"{shown} is too long for a path")
    if "\\" in path:
        return _refuse(f"{shown} uses backslashes; paths must be POSIX and relative")
    if path.startswith("/") or _DRIVE.match(path):
        return _refuse(f"{shown} is an absolute path; paths must be relative to the project")
    if path.startswith("~"):
        return _refuse(f"{shown} points into a home directory; paths must be relative")
    if path != path.strip() or path.endswith("/"):
        return _refuse(f"{shown} has surrounding spaces or names a directory")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return _refuse(f"{shown} climbs out with '..'")
    if not parts:
        return _refuse(f"{shown} names the project directory itself")
    return "/".join(parts)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no file has such a name
        return False
    return True


def _glob(relpath: str, pattern: str, *, fold: bool) -> bool:
    if fold:
        relpath, pattern = relpath.lower(), pattern.lower()
    if pattern.endswith("/"):  # a directory: does any parent directory match it?
        parts = relpath.split("/")[:-1]
        return any(
            _glob("/".join(parts[: i + 1]), pattern[:-1], fold=False) for i in range(len(parts))
        )
    name = relpath.rsplit("/", 1)[-1]
    for pat in {pattern, pattern.replace("**/", "")}:
        if fnmatchcase(relpath, pat) or ("/" not in pat and fnmatchcase(name, pat)):
            return True
    return False


def _protected(relpath: str, limits: Limits, data_dirs: frozenset[str], fs: Resolver) -> str:
    """Why ``relpath`` is protected, or ""."""
    why = refused_why(relpath, fs.is_env_dir)
    if why:
        return why
    low = relpath.lower()
    for data in data_dirs:
        if low == data.lower() or low.startswith(data.lower() + "/"):
            return f"{relpath!r} is in the data directory ({data}/)"
    if low in (t.lower() for t in limits.test_files):
        return f"{relpath!r} is run by PHOENIX_TEST_CMD: the test must not be edited to pass"
    for glob in limits.protected:
        if _glob(relpath, glob, fold=True):
            return f"{relpath!r} matches PHOENIX_PROTECTED ({glob})"
    return ""


def command_files(test_cmd: str) -> tuple[str, ...]:
    """Project-relative files the test command names (``python check.py`` -> ``check.py``)."""
    try:
        words = shlex.split(test_cmd)
    except ValueError:
        words = test_cmd.split()
    found = []
    for word in words:
        rel = _lexical(word.split("=", 1)[-1].split("::", 1)[0])
        if isinstance(rel, str) and re.search(r"\.(py|sh|ini|cfg|toml)$", rel):
            found.append(rel)
    return tuple(found)


def allowlisted(relpath: str, allowlist: Sequence[str]) -> bool:
    """Whether a project-relative POSIX path matches PHOENIX_ALLOWLIST (the one definition,
    for the policy and for ``phoenix doctor``)."""
    return any(_glob(relpath, glob, fold=False) for glob in allowlist)


def _allowed(relpath: str, limits: Limits, *, exists: bool) -> str:
    if allowlisted(relpath, limits.allowlist):
        return ""
    allowed = ";".join(limits.allowlist) or "(empty: nothing may be patched)"
    what = "a new file" if not exists else "it"
    return f"{relpath!r}: {what} is outside PHOENIX_ALLOWLIST ({allowed})"


def _data_dirs(fs: Resolver, data_dir: str) -> frozenset[str]:
    """The data directory as written and as resolved, relative to the project root."""
    if not data_dir:
        return frozenset()
    found = set()
    written = _lexical(data_dir.rstrip("/") or data_dir)
    if isinstance(written, str):
        found.add(written)
        try:
            real = fs.real(written)
        except (OSError, RuntimeError):
            real = None
        if real:
            found.add(real)
    elif data_dir.startswith("/"):  # absolute: counts where it lies inside the project
        try:
            inside = fs.relative(data_dir)
        except (OSError, RuntimeError):
            inside = None
        if inside:
            found.add(inside)
    return frozenset(found)


def check_path(fs: Resolver, path: str, limits: Limits, *, exists: bool) -> Verdict:
    """May a patch write ``path`` (relative to the project ``fs`` resolves in, on disk
    :class:`~phoenix_engine.io.project_files.ProjectResolver`)? ``exists``: it is already there.

    Checked twice, before and after resolving symlinks, so a link inside the project cannot
    lead to a protected file either. ``relpath`` is the resolved one: the file really written.
    """
    relpath = _lexical(path)
    if isinstance(relpath, Verdict):
        return relpath
    try:
        real = fs.real(relpath)
    except (OSError, RuntimeError):
        return _refuse(f"{relpath!r} cannot be resolved (a symlink loop?)")
    if real is None:
        return _refuse(f"{relpath!r} leads outside the project through a symlink")
    data_dirs = _data_dirs(fs, limits.data_dir)
    for candidate in dict.fromkeys((relpath, real)):
        why = _protected(candidate, limits, data_dirs, fs) or _allowed(
            candidate, limits, exists=exists
        )
        if why:
            return _refuse(why)
    return Verdict(ok=True, relpath=real)


def check_size(changes: Mapping[str, int], limits: Limits) -> Verdict:
    """``changes``: changed lines per file (:func:`~phoenix_engine.core.patches.changed_lines`)."""
    if len(changes) > limits.max_patch_files:
        return _refuse(
            f"the repair touches {len(changes)} files; at most {limits.max_patch_files} "
            "(PHOENIX_MAX_PATCH_FILES)"
        )
    total = sum(changes.values())
    if total > limits.max_patch_lines:
        return _refuse(
            f"the repair changes {total} lines; at most {limits.max_patch_lines} "
            "(PHOENIX_MAX_PATCH_LINES)"
        )
    return Verdict(ok=True)
