"""Phoenix's front ends: the Textual operator console and the headless printer.

Owns the ``phoenix`` entry point (``phoenix_tui.cli:main``). Importing this package is
cheap: Textual is imported only when the console starts.
"""

from __future__ import annotations

__all__: list[str] = []
