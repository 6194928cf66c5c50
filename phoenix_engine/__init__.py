"""Phoenix's repair engine: supervises a training run, diagnoses failures, repairs safely.

The engine never imports UI code (textual, rich, phoenix_tui); front ends talk to it through
event sinks and an approver (see ``phoenix_engine.events``).
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
