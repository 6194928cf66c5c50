"""Thin I/O without decisions: processes, output, journal, state, files, sensors, the sandbox,
the engine socket's place and trust.

Each module does one kind of I/O and asks :mod:`phoenix_engine.core` whenever a choice is made.
"""
