"""One supervised run built from settings: the one factory both front ends use.

``phoenix`` headless (``phoenix_tui/cli.py``) and the console (``phoenix_tui/console/run.py``)
differ only in what they add: the printers or the app as sinks, the echo of the output, the
default approval policy. Everything else is built here, once: the approval desk, the GPU
sampler (NVML unless one is given; the demo's simulated card idles when nothing runs), the
engine, and on :meth:`Session.add_services` the services the settings enable (metrics.jsonl,
the run view, Discord, the attach socket that ``phoenix attach`` and ``phoenix status`` use).

Phoenix waits for a resume after a stop that may stay or a give-up (``hold_after_end``) in
the console (its ``u`` key) and whenever Discord remote control is on (``!resume``).
"""

from __future__ import annotations

__all__ = ["Session", "build_session"]

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from phoenix_engine.approval import ApprovalDesk
from phoenix_engine.core.settings import Settings
from phoenix_engine.engine import Engine
from phoenix_engine.events import EventSink, Notice
from phoenix_engine.io.gpu import GpuSampler, SimulatedGpu
from phoenix_engine.io.nvml import NvmlSampler
from phoenix_engine.remote.discord_link import remote_control
from phoenix_engine.services import add_services

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """The engine of one run and the desk its patches wait at."""

    engine: Engine
    desk: ApprovalDesk

    def add_services(
        self, *, attach: bool = True, transport: httpx.AsyncBaseTransport | None = None
    ) -> list[str]:
        """Attach the services the settings enable and announce the opt-in ones (a notice
        each); called after the front end's sinks are in, so that they show them."""
        enabled = add_services(self.engine, self.desk, attach=attach, transport=transport)
        for what in enabled:
            self.engine.emit(Notice(message=what))
        return enabled


def build_session(
    settings: Settings,
    env: Mapping[str, str],
    *,
    console: bool,
    sinks: Sequence[EventSink] = (),
    tee: Callable[[bytes], None] | None = None,
    gpu_sampler: GpuSampler | None = None,
) -> Session:
    """The run for a front end: ``console`` asks for manual approval unless
    ``PHOENIX_APPROVAL`` says otherwise, wants output lines as events and holds after a stop;
    headless approves automatically (unless set) and holds only for Discord remote control."""
    desk = ApprovalDesk(settings.approval, default="manual" if console else "auto")
    nvml = None
    if gpu_sampler is None:  # its status explains a machine without an NVIDIA GPU
        nvml = NvmlSampler(our_pids=lambda: engine.training_pids())
    engine = Engine(
        settings,
        env=env,
        sinks=sinks,
        tee=tee,
        approver=desk,
        want_lines=console,
        gpu_sampler=gpu_sampler or nvml,
        hold_after_end=console or remote_control(settings),
    )
    if isinstance(gpu_sampler, SimulatedGpu) and gpu_sampler.pids is None:
        gpu_sampler.pids = engine.training_pids  # the demo's card idles when nothing runs
    if nvml is not None:
        engine.add_service(_ClosingSampler(nvml))
    return Session(engine=engine, desk=desk)


class _ClosingSampler:
    """An engine service that only closes the NVML sampler once the run is over."""

    def __init__(self, sampler: NvmlSampler) -> None:
        self._sampler = sampler

    async def run(self) -> None:
        return None

    async def aclose(self) -> None:
        await asyncio.to_thread(self._sampler.close)
