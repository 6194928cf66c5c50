"""Reading ``phoenix.toml``: the one settings source that is a file.

:func:`phoenix_engine.core.settings.resolve` takes the table this returns; it reads nothing.
"""

from __future__ import annotations

__all__ = ["load_toml"]

import tomllib
from pathlib import Path
from typing import Any

from phoenix_engine.errors import ConfigError


def load_toml(path: Path) -> dict[str, Any]:
    """Read ``phoenix.toml``; a missing file is empty, a broken one a ConfigError."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:  # tomllib decodes the whole file first
        where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise ConfigError(str(path), "<file>", f"UTF-8 text (not UTF-8: {where})") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "<file>", f"a readable TOML file ({exc})") from exc
    table = data.get("phoenix", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [phoenix]", str(table), "a table of settings")
    return table
