"""Reaching the run from elsewhere: the attach socket (consoles) and Discord (notify, control).

One command set serves both (:mod:`~phoenix_engine.remote.commands`); events cross the socket
as versioned JSON lines (:mod:`~phoenix_engine.remote.wire`).
"""
