"""Thin I/O without decisions: processes, output, journal, state, files, sensors, the sandbox.

Each module does one kind of I/O and asks :mod:`phoenix_engine.core` whenever a choice is made.
"""
