"""What lives as long as a run besides the engine: the run view, the kept telemetry
(metrics.jsonl), Discord, the attach socket.

Front ends call :func:`add_services` once after building the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["add_services"]


from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.run_state import RunView
from phoenix_engine.engine import Engine
from phoenix_engine.events import Notice
from phoenix_engine.io.metrics_log import MetricsLog
from phoenix_engine.remote.attach_server import AttachServer
from phoenix_engine.remote.discord_link import add_discord

if TYPE_CHECKING:
    import httpx


def add_services(
    engine: Engine,
    desk: ApprovalDesk | None,
    *,
    attach: bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """Attach the services the settings enable; return the opt-in ones for the front end."""
    s = engine.settings
    kept = MetricsLog(
        s.state_dir,
        max_bytes=s.log_max_bytes,
        log_position=lambda: engine.trainlog_bytes,
        on_error=lambda reason: engine.emit(Notice(message=reason)),
    )
    engine.add_sink(kept)
    engine.add_service(kept)
    view = RunView(max_attempts=s.max_retries, max_restarts=s.max_restarts)
    if s.heartbeat_min > 0:
        view.heartbeat = f"{s.heartbeat_min:g} min (PHOENIX_HEARTBEAT_MIN)"
    engine.add_sink(view)
    enabled = [f"Discord {what}" for what in add_discord(engine, desk, view, transport=transport)]
    if attach:
        server = AttachServer(
            state_dir=s.state_dir,
            emit=engine.emit,
            request_stop=engine.request_stop,
            desk=desk,
            view=view,
            recent_lines=engine.tail.lines,
            redactor=engine.redactor,
        )
        engine.add_sink(server)
        engine.add_output_hook(server.output)
        engine.add_service(server)  # always on, so not announced: `phoenix attach` finds it
    return enabled
