"""Where the engine's socket lives, and when either end may trust it.

One rule: ``.phoenix_cli/engine.sock`` when that path fits a Unix socket address (100 bytes;
``sun_path`` holds 108 on Linux, 104 on macOS), otherwise ``phoenix/<16 hex digits of the
project>.sock`` in the user's runtime directory (platformdirs' ``user_runtime_dir``:
``$XDG_RUNTIME_DIR``, e.g. ``/run/user/1000``). Never a name of its own making in a shared
``/tmp``. Both directories are private (0700) and must belong to the user running Phoenix.

Both ends check: the engine refuses to serve where another user owns the directory or the
path (a squatter), and a console refuses a socket, or a server process, of another user, so
``phoenix status`` never prints what someone else's process says.
"""

from __future__ import annotations

__all__ = [
    "peer_credentials",
    "runtime_dir",
    "serving_problem",
    "socket_path",
    "started_by",
    "trust_problem",
]

import contextlib
import hashlib
import os
import socket
import stat
import struct
import warnings
from pathlib import Path

import platformdirs
import psutil

_MAX_SOCKET_PATH = 100
_SUN_PATH = 107  # Linux: 108 bytes with the final NUL


def runtime_dir() -> Path | None:
    """``<user runtime dir>/phoenix``; None where platformdirs finds none it can vouch for."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its fallback warning is ours to explain, not to print
        try:
            return Path(platformdirs.user_runtime_dir("phoenix"))
        except OSError:
            return None


def socket_path(state_dir: Path) -> Path:
    """The socket of the engine that supervises the project whose state is ``state_dir``."""
    path = state_dir / "engine.sock"
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(state_dir.resolve())).hexdigest()[:16]
    base = runtime_dir()
    if base is None:  # no private place: a path that says why, never one in /tmp
        return state_dir / "engine.sock"
    return base / f"{digest}.sock"


def serving_problem(path: Path, uid: int) -> str:
    """Why the engine must not listen at ``path`` ('' when it may).

    Creates the directory private where it is missing and removes a socket of ours left by
    a Phoenix that died (the caller holds the project lock). Never touches another's file.
    """
    if len(os.fsencode(path)) > _SUN_PATH:
        return f"{path} is too long for a Unix socket and there is no runtime directory"
    directory = path.parent
    try:
        for level in (directory.parent, directory):
            with contextlib.suppress(FileExistsError):
                level.mkdir(mode=0o700)
        problem = _private_dir_problem(directory, uid)
    except OSError as exc:
        return f"cannot prepare {directory}: {exc.strerror or exc}"
    if problem:
        return problem
    try:
        st = path.lstat()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot inspect {path}: {exc.strerror or exc}"
    if st.st_uid != uid:
        return (
            f"{path} already exists and belongs to uid {st.st_uid}, not to you (uid {uid}): "
            "another user may have put it there; remove it once you know why"
        )
    if not stat.S_ISSOCK(st.st_mode):
        return f"{path} exists and is not a socket; remove it"
    path.unlink()
    return ""


def trust_problem(path: Path, uid: int) -> str:
    """Why a console must not talk to the socket at ``path`` ('' when it may, or when there
    is nothing there: connecting says that better)."""
    try:
        st = path.lstat()
        directory = path.parent.lstat()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        return f"cannot inspect {path}: {exc.strerror or exc}"
    if not stat.S_ISSOCK(st.st_mode):
        return f"{path} is not a socket"
    for what, owner in (("the socket", st.st_uid), ("its directory", directory.st_uid)):
        if owner != uid:
            return (
                f"refusing {path}: {what} belongs to uid {owner}, not to you (uid {uid}); "
                "it is not a phoenix of yours"
            )
    return ""


def _private_dir_problem(directory: Path, uid: int) -> str:
    st = directory.lstat()
    if not stat.S_ISDIR(st.st_mode):
        return f"{directory} is not a directory"
    if st.st_uid != uid:
        return f"{directory} belongs to uid {st.st_uid}, not to you (uid {uid})"
    if st.st_mode & 0o077:
        os.chmod(directory, 0o700)  # ours: make it private (it may predate this rule)
    return ""


def peer_credentials(sock: socket.socket) -> tuple[int, int] | None:
    """(pid, uid) of the process at the other end (Linux SO_PEERCRED); None where the OS
    cannot say."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return None
    pid, uid, _gid = struct.unpack("3i", creds)
    return int(pid), int(uid)


def started_by(pid: int, ancestor: int) -> bool:
    """True when process ``pid`` descends from ``ancestor`` (the training, a shadow test, or
    a daemon they left that Phoenix, as child subreaper, inherited)."""
    try:
        return any(parent.pid == ancestor for parent in psutil.Process(pid).parents())
    except psutil.Error:
        return False
