"""Phoenix's repair engine: supervises a training run, diagnoses failures, repairs safely.

The public API is the names below; every module is otherwise private to Phoenix. They load
on first use (PEP 562), so importing one submodule does not import the whole engine::

    from phoenix_engine import Engine, build_session, load_settings

``core/`` holds the pure decisions, ``io/`` the thin I/O, ``llm/`` the providers and
``remote/`` the attach socket and Discord; the sequencers (engine, repair, session) sit here.
The engine never imports UI code (textual, rich, phoenix_tui); front ends talk to it through
event sinks and an approver (:mod:`phoenix_engine.events`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    "ApprovalDesk": "phoenix_engine.approval",
    "Approver": "phoenix_engine.events",
    "ConfigError": "phoenix_engine.errors",
    "Engine": "phoenix_engine.engine",
    "EngineState": "phoenix_engine.core.engine_state",
    "Event": "phoenix_engine.events",
    "EventSink": "phoenix_engine.events",
    "ExitCode": "phoenix_engine.errors",
    "PhoenixError": "phoenix_engine.errors",
    "Processes": "phoenix_engine.engine",
    "Session": "phoenix_engine.session",
    "Settings": "phoenix_engine.core.settings",
    "build_session": "phoenix_engine.session",
    "load_settings": "phoenix_engine.core.settings:resolve",
    "errors": "phoenix_engine.errors:",
    "events": "phoenix_engine.events:",
}

__all__ = [
    "ApprovalDesk",
    "Approver",
    "ConfigError",
    "Engine",
    "EngineState",
    "Event",
    "EventSink",
    "ExitCode",
    "PhoenixError",
    "Processes",
    "Session",
    "Settings",
    "__version__",
    "build_session",
    "errors",
    "events",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'phoenix_engine' has no attribute {name!r}")
    module, _, attr = where.partition(":")
    found = importlib.import_module(module)
    value = found if where.endswith(":") else getattr(found, attr or name)
    globals()[name] = value  # once is enough
    return value


if TYPE_CHECKING:
    from phoenix_engine import errors as errors
    from phoenix_engine import events as events
    from phoenix_engine.approval import ApprovalDesk as ApprovalDesk
    from phoenix_engine.core.engine_state import EngineState as EngineState
    from phoenix_engine.core.settings import Settings as Settings
    from phoenix_engine.core.settings import resolve as load_settings
    from phoenix_engine.engine import Engine as Engine
    from phoenix_engine.engine import Processes as Processes
    from phoenix_engine.errors import ConfigError as ConfigError
    from phoenix_engine.errors import ExitCode as ExitCode
    from phoenix_engine.errors import PhoenixError as PhoenixError
    from phoenix_engine.events import Approver as Approver
    from phoenix_engine.events import Event as Event
    from phoenix_engine.events import EventSink as EventSink
    from phoenix_engine.session import Session as Session
    from phoenix_engine.session import build_session as build_session
