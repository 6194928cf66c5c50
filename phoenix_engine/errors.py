"""The one exception hierarchy of the engine.

Expected outcomes (a refused patch, a failed shadow run, a hang) are return values that become
events; these exceptions are for broken I/O, broken contracts and bad configuration, and front
ends map each to an exit code.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ContractError",
    "DataError",
    "ExitCode",
    "LockHeldError",
    "PhoenixError",
    "ProviderError",
    "ReportError",
    "StateError",
]

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes of ``phoenix``; documented in README."""

    COMPLETED = 0
    GAVE_UP = 1
    USAGE = 2
    LOCKED = 3
    STOPPED = 4
    NOT_PROMOTED = 5  # the training completed; its model failed its evaluation or promotion


class PhoenixError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(PhoenixError):
    """A setting has a value Phoenix cannot use; the message names the variable."""

    exit_code = ExitCode.USAGE

    def __init__(self, variable: str, value: str, accepts: str) -> None:
        self.variable = variable
        self.value = value
        self.accepts = accepts
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"{variable}={shown!r} is not valid: expected {accepts}")


class ContractError(PhoenixError):
    """A broken internal contract (an illegal engine state transition): a bug in Phoenix."""


class StateError(PhoenixError):
    """The state directory (``.phoenix_cli``) cannot be created, read or written."""

    exit_code = ExitCode.USAGE


class DataError(PhoenixError):
    """The data directory changed and PHOENIX_DATA_VERIFY=strict refuses to start."""

    exit_code = ExitCode.USAGE


class ReportError(PhoenixError):
    """The picture of a run cannot be drawn (matplotlib missing, no run recorded)."""

    exit_code = ExitCode.USAGE


class LockHeldError(PhoenixError):
    """Another phoenix already supervises this project."""

    exit_code = ExitCode.LOCKED

    def __init__(self, message: str, *, pid: int | None = None) -> None:
        self.pid = pid
        super().__init__(message)


class ProviderError(PhoenixError):
    """An LLM provider could not produce a reply (transport, status, timeout, empty reply)."""

    def __init__(self, provider: str, reason: str) -> None:
        self.provider = provider
        self.reason = reason
        super().__init__(f"{provider}: {reason}")
