"""A RepairRequest for provider tests (this folder is a namespace package: no __init__)."""

from __future__ import annotations

__all__ = ["make_request"]

from pathlib import Path

from phoenix_engine.core.classify import Classified, FailureKind
from phoenix_engine.llm._base import RepairRequest


def make_request(
    prompt: str = "Fix the NameError. Reply with JSON.",
    *,
    reply_format: str = "json",
    project_dir: Path = Path("/nonexistent/project"),
) -> RepairRequest:
    failure = Classified(
        kind=FailureKind.EXCEPTION,
        signature="0123456789abcdef",
        summary="NameError: name 'lr' is not defined",
        exc_type="NameError",
    )
    return RepairRequest(
        prompt=prompt, failure=failure, project_dir=project_dir, reply_format=reply_format
    )
