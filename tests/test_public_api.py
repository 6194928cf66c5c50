"""The engine's public API: the names of ``phoenix_engine.__all__``, loaded on first use."""

from __future__ import annotations

import subprocess
import sys

import phoenix_engine


def test_every_public_name_resolves_to_what_it_names() -> None:
    from phoenix_engine.core.settings import resolve
    from phoenix_engine.engine import Engine
    from phoenix_engine.session import build_session

    for name in phoenix_engine.__all__:
        assert getattr(phoenix_engine, name) is not None, name
    assert phoenix_engine.Engine is Engine and phoenix_engine.load_settings is resolve
    assert phoenix_engine.build_session is build_session
    assert phoenix_engine.events.__name__ == "phoenix_engine.events"
    assert phoenix_engine.ExitCode.COMPLETED == 0


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        phoenix_engine.Nope  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("phoenix_engine.Nope resolved")


def test_importing_one_submodule_does_not_load_the_engine() -> None:
    code = (
        "import sys, phoenix_engine.core.command_line\n"
        "print(sorted(m for m in ('phoenix_engine.engine', 'phoenix_engine.session') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
