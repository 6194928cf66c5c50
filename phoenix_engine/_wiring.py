"""Builds the engine's collaborators from its settings and connects them to each other.

Only construction: who hears the output (telemetry, the heartbeat, the tail), who runs one
attempt (``_attempt``), who acts between attempts (triage, ``_restarts``), where the ledger
is kept. The engine (``engine.py``) sequences them; nothing here runs or decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["Parts", "wire"]

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from phoenix_engine import events as ev
from phoenix_engine._attempt import Attempts
from phoenix_engine._control import RunControl
from phoenix_engine._output import OutputPipeline
from phoenix_engine._processes import LocalProcesses, Processes
from phoenix_engine._repairer import default_repairer
from phoenix_engine._restarts import Repairer, Restarts
from phoenix_engine._run_setup import LedgerSaver, Services, prepare_run
from phoenix_engine.core.redact import Redactor
from phoenix_engine.core.settings import Settings
from phoenix_engine.io.gpu import GpuSampler
from phoenix_engine.io.host import HostSampler
from phoenix_engine.io.state_store import Ledger, StateStore
from phoenix_engine.io.telemetry import Telemetry
from phoenix_engine.io.terminal import terminal_env
from phoenix_engine.triage_actions import FailureHandler

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """What one engine is made of."""

    redactor: Redactor
    child_env: Mapping[str, str]  # the training's environment
    processes: Processes
    control: RunControl
    telemetry: Telemetry
    output: OutputPipeline
    triage: FailureHandler
    attempts: Attempts
    restarts: Restarts
    repairer: Repairer | None
    prepare: Callable[[str], Awaitable[Ledger]]  # before the first start (run id): the ledger
    save: LedgerSaver
    services: Services


def wire(
    s: Settings,
    *,
    env: Mapping[str, str],
    emit: Callable[[ev.Event], None],
    request_stop: Callable[[str], None],
    processes: Processes | None,
    repairer: Repairer | None,
    approver: ev.Approver | None,
    transport: httpx.AsyncBaseTransport | None,
    monotonic: Callable[[], float],
    tee: Callable[[bytes], None] | None,
    want_lines: bool,
    gpu_sampler: GpuSampler | None,
    host_sampler: HostSampler | None,
    store: StateStore | None,
    hold_after_end: bool,
) -> Parts:
    """The parts of an engine; ``repairer`` defaults to the LLM repair loop when an approver
    is given and patches are allowed."""

    def notice(message: str) -> None:
        emit(ev.Notice(message=message))

    redactor = Redactor.from_env(env, s.secrets())
    child_env = terminal_env({**env, "PYTHONUNBUFFERED": env.get("PYTHONUNBUFFERED", "1")}, s.pty)
    spawner = processes or LocalProcesses(pty=s.pty == "on")
    control = RunControl(
        hold_after_end=hold_after_end,
        kill_now=lambda: attempts.kill_now(),
        cancel_pending=approver.cancel_pending if approver is not None else lambda why: None,
    )
    stop = control.stop
    if repairer is None and approver is not None and s.patch_mode != "restart-only":
        repairer = default_repairer(
            s,
            approver=approver,
            env=env,
            child_env=child_env,
            transport=transport,
            emit=emit,
            redactor=redactor,
        )
    # The disk guard, the console and metrics.jsonl read the host sampler.
    host = host_sampler or HostSampler([s.project_dir, s.state_dir])
    telemetry = Telemetry(s, emit=emit, gpu=gpu_sampler, host=host, monotonic=monotonic)
    kept = store or StateStore(s.state_dir, redact=redactor.redact)
    save = LedgerSaver(kept, notice)
    late: list[Attempts] = []  # the output's anomalies go to the attempt built after it
    output = OutputPipeline(
        s,
        redactor=redactor,
        telemetry=telemetry,
        emit=emit,
        monotonic=monotonic,
        tee=tee,
        want_lines=want_lines,
        on_anomaly=lambda anomaly: late[0].on_anomaly(anomaly),
    )
    restarts: list[Restarts] = []  # triage calls back into the restarts built after it
    triage = FailureHandler(
        s,
        emit=emit,
        save=save,
        stop=stop,
        resume_point=lambda: restarts[0].resume_point(),
        repair=lambda failure, ledger: restarts[0].repair(failure, ledger),
    )
    attempts = Attempts(
        s,
        processes=spawner,
        env=child_env,
        output=output,
        telemetry=telemetry,
        triage=triage,
        emit=emit,
        save=save,
        stop_run=request_stop,
        monotonic=monotonic,
    )
    late.append(attempts)
    restarts.append(
        Restarts(s, attempts=attempts, repairer=repairer, stop=stop, emit=emit, save=save)
    )
    return Parts(
        redactor=redactor,
        child_env=child_env,
        processes=spawner,
        control=control,
        telemetry=telemetry,
        output=output,
        triage=triage,
        attempts=attempts,
        restarts=restarts[0],
        repairer=repairer,
        prepare=lambda run_id: prepare_run(
            s,
            store=kept,
            processes=spawner,
            emit=emit,
            save=save,
            monotonic=monotonic,
            run_id=run_id,
            repairer=repairer,
        ),
        save=save,
        services=Services(notice),
    )
