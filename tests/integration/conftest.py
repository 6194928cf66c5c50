"""Fixtures for the tests against real clients and a real local model (see integration_support)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import (
    LlamaServer,
    find_or_install_gemini_cli,
    llama_paths,
    llama_server,
)


@pytest.fixture(scope="session")
def gemini_cli() -> Path:
    """The real Gemini CLI, installed into the cache on first use when npm is there."""
    path, why = find_or_install_gemini_cli()
    if path is None:
        pytest.skip(why)
    return path


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """One llama.cpp server with SmolLM2-135M for the whole session."""
    found = llama_paths()
    if isinstance(found, str):
        pytest.skip(found)
    python, gguf = found
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with llama_server(python, gguf, log) as server:
        yield server
