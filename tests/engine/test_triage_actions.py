"""The failure handler's waits and decisions with fakes at the boundary (disk, liveness)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from failure_corpus import CORPUS, Case

from phoenix_engine import events as ev
from phoenix_engine.core.budget import History, Limits, Mark, escalate, plan
from phoenix_engine.core.classify import Action, Classified, FailureKind, classify
from phoenix_engine.core.settings import Settings
from phoenix_engine.errors import ExitCode
from phoenix_engine.io.state_store import Ledger
from phoenix_engine.triage_actions import FailureHandler

Make = Callable[..., Settings]


def case(name: str, project: Path) -> Classified:
    (c,) = [c for c in CORPUS if c.name == name]
    return classify(
        returncode=c.returncode, signal=c.signal, tail=list(c.lines), project_dir=project
    )


def recovery(settings: Settings, events: list[ev.Event], **kw: object) -> FailureHandler:
    async def nowhere() -> str | None:
        return None

    async def no_repair(failure: Classified, ledger: Ledger) -> str:
        raise AssertionError("no provider may be asked")

    return FailureHandler(
        settings,
        emit=events.append,
        save=lambda ledger: None,
        stop=asyncio.Event(),
        resume_point=nowhere,
        repair=no_repair,
        **kw,  # type: ignore[arg-type]
    )


def test_oom_while_another_process_holds_the_gpu_waits_for_it_then_restarts(
    make_settings: Make, tmp_path: Path
) -> None:
    s = make_settings("pass\n", gpu_interval_sec="0.25")
    failure = case("oom_others_hold_most", tmp_path)
    checks: list[int] = []

    def alive(pid: int) -> bool:  # PID 31337 (a notebook) exits after a few looks
        checks.append(pid)
        return pid == 31337 and len(checks) < 4

    events: list[ev.Event] = []
    code = asyncio.run(recovery(s, events, alive=alive).handle(failure, Ledger()))
    assert code is None
    (failure_event,) = [e for e in events if isinstance(e, ev.Failure)]
    assert failure_event.action == "wait"
    assert "PID 31337" in failure_event.advice and "batch size stays" in failure_event.advice
    (restart,) = [e for e in events if isinstance(e, ev.Restarting)]
    assert restart.reason == "the other processes freed the GPU memory: restart"


def test_oom_of_our_own_is_repaired_not_waited_for(make_settings: Make, tmp_path: Path) -> None:
    s = make_settings("pass\n")
    failure = case("oom_torch24_processes", tmp_path)  # PID 4242 holds 12 of 79 GiB: not most
    events: list[ev.Event] = []
    rec = recovery(s, events, alive=lambda pid: True)
    asked: list[Classified] = []

    async def repair(f: Classified, ledger: Ledger) -> str:
        asked.append(f)
        return "patched"

    rec._repair = repair
    assert asyncio.run(rec.handle(failure, Ledger())) is None
    assert [e.action for e in events if isinstance(e, ev.Failure)] == ["repair"]
    assert len(asked) == 1


def test_a_full_disk_is_measured_waited_for_and_never_patched(
    make_settings: Make, tmp_path: Path
) -> None:
    s = make_settings("pass\n", gpu_interval_sec="0.25", guard_samples="2")
    failure = case("disk_errno28_trainer", tmp_path)
    free = [0.2e9, 0.2e9, 50e9]

    def usage(path: str) -> tuple[int, int, int]:
        gb = free[0] if len(free) == 1 else free.pop(0)
        return (100 * 10**9, 0, int(gb))

    events: list[ev.Event] = []
    assert asyncio.run(recovery(s, events, disk_usage=usage).handle(failure, Ledger())) is None
    (f,) = [e for e in events if isinstance(e, ev.Failure)]
    assert f.action == "wait"
    assert f.advice.startswith("disk full on ") and "(0.2 GB free): waiting for space" in f.advice
    assert any(isinstance(e, ev.Notice) and e.message.startswith("disk full: ") for e in events)
    (restart,) = [e for e in events if isinstance(e, ev.Restarting)]
    assert restart.reason.startswith("disk space is back")


def test_a_full_disk_that_has_room_again_restarts_at_once(
    make_settings: Make, tmp_path: Path
) -> None:
    s = make_settings("pass\n")
    failure = case("disk_quota_122", tmp_path)
    events: list[ev.Event] = []
    rec = recovery(s, events, disk_usage=lambda p: (10**12, 0, 300 * 10**9))
    assert asyncio.run(rec.handle(failure, Ledger())) is None
    (f,) = [e for e in events if isinstance(e, ev.Failure)]
    assert f.action == "restart" and "300.0 GB free" in f.advice


def test_a_gpu_fault_stops_with_advice(make_settings: Make, tmp_path: Path) -> None:
    s = make_settings("pass\n")
    events: list[ev.Event] = []
    failure = case("gpu_ecc_with_watchdog", tmp_path)
    assert asyncio.run(recovery(s, events).handle(failure, Ledger())) == ExitCode.GAVE_UP
    (gave_up,) = [e for e in events if isinstance(e, ev.GaveUp)]
    assert gave_up.rule == "class gpu_fault: stop" and "ECC" in gave_up.reason


def test_a_corrupt_checkpoint_without_a_glob_stops(make_settings: Make, tmp_path: Path) -> None:
    s = make_settings("pass\n")
    events: list[ev.Event] = []
    failure = case("ckpt_zip_central_directory", tmp_path)
    assert asyncio.run(recovery(s, events).handle(failure, Ledger())) == ExitCode.GAVE_UP
    (gave_up,) = [e for e in events if isinstance(e, ev.GaveUp)]
    assert "PHOENIX_CHECKPOINT_GLOB" in gave_up.reason


# --- budget decisions (pure) ------------------------------------------------------------------

LIMITS = Limits(max_retries=3, max_restarts=20, max_no_progress=3, cooldown_s=5)


def history(**kw: object) -> History:
    base: dict[str, object] = dict(
        attempts=0,
        restarts=0,
        no_progress=0,
        seen_at=None,
        best=None,
        observable=True,
        debug_ran=False,
    )
    base.update(kw)
    return History(**base)  # type: ignore[arg-type]


def kind(k: FailureKind, cause: str = "") -> Classified:
    return Classified(kind=k, signature="s" * 16, summary="x", cause=cause)


def test_the_same_transient_failure_backs_off_doubling_up_to_five_minutes() -> None:
    f = kind(FailureKind.COLLECTIVE_TIMEOUT)
    cooldowns = [
        plan(f, Action.RESTART, history(attempts=n, restarts=n), Mark(step=None), LIMITS).cooldown_s
        for n in range(3)
    ]
    assert cooldowns == [5, 10, 20]
    big = Limits(max_retries=20, max_restarts=20, max_no_progress=30, cooldown_s=60)
    late = plan(f, Action.RESTART, history(attempts=9), Mark(step=None), big)
    assert late.cooldown_s == 300 and "cooldown doubled to 300s" in late.budget
    assert (
        plan(
            kind(FailureKind.EXCEPTION), Action.REPAIR, history(attempts=2), Mark(), LIMITS
        ).cooldown_s
        == 5
    )


def test_a_host_oom_that_comes_back_without_progress_is_repaired() -> None:
    f = kind(FailureKind.HOST_OOM)
    first = escalate(f, Action.RESTART, history())
    again = escalate(f, Action.RESTART, history(seen_at=Mark(step=40), best=Mark(step=40)))
    further = escalate(f, Action.RESTART, history(seen_at=Mark(step=40), best=Mark(step=60)))
    assert (first[0], again[0], further[0]) == (Action.RESTART, Action.REPAIR, Action.RESTART)


def test_a_kernel_launch_failure_that_comes_back_without_progress_stops() -> None:
    f = kind(FailureKind.GPU_FAULT, cause="launch_failure")
    action, why = escalate(f, Action.RESTART, history(seen_at=Mark(step=5), best=Mark(step=5)))
    assert action is Action.STOP and "needs a person" in why


def test_progress_resets_the_count_and_names_it() -> None:
    f = kind(FailureKind.EXCEPTION)
    p = plan(f, Action.REPAIR, history(attempts=3, seen_at=Mark(step=20)), Mark(step=40), LIMITS)
    assert p.ok and p.reset and p.attempt == 1
    assert "count reset: the run got to step 40" in p.budget
    stuck = plan(
        f, Action.REPAIR, history(attempts=3, seen_at=Mark(step=20)), Mark(step=20), LIMITS
    )
    assert not stuck.ok and stuck.rule == "PHOENIX_MAX_RETRIES"


def test_a_newer_checkpoint_is_progress_too() -> None:
    assert Mark(step=None, checkpoint=2.0).beyond(Mark(step=None, checkpoint=1.0))
    assert not Mark(step=None, checkpoint=1.0).beyond(Mark(step=None, checkpoint=1.0))


@pytest.mark.parametrize("c", CORPUS, ids=[c.name for c in CORPUS])
def test_every_corpus_case_asks_a_provider_only_when_its_action_is_repair(
    make_settings: Make, tmp_path: Path, c: Case
) -> None:
    s = make_settings("pass\n", gpu_interval_sec="0.25", guard_samples="1")
    failure = classify(
        returncode=c.returncode,
        signal=c.signal,
        tail=list(c.lines),
        project_dir=tmp_path,
        hang=c.end == "hang",
        local_modules=c.local,
    )
    events: list[ev.Event] = []
    began = time.monotonic()

    def usage(path: str) -> tuple[int, int, int]:  # full when measured, free again soon after
        return (10**12, 0, 10**8 if time.monotonic() - began < 0.2 else 10**12)

    rec = recovery(s, events, alive=lambda pid: False, disk_usage=usage)
    asked: list[str] = []

    async def repair(f: Classified, ledger: Ledger) -> str:
        asked.append(f.kind)
        return "patched"

    rec._repair = repair
    asyncio.run(rec.handle(failure, Ledger()))
    (f,) = [e for e in events if isinstance(e, ev.Failure)]
    action = c.action
    assert (f.kind, f.action) == (c.kind, action)
    assert asked == ([c.kind] if action == "repair" else [])


def test_nvml_naming_another_process_makes_an_oom_wait(make_settings: Make, tmp_path: Path) -> None:
    s = make_settings("pass\n", gpu_interval_sec="0.25", max_wait_min="0.01")
    failure = case("oom_cuda_error_oom", tmp_path)  # the message names no process
    events: list[ev.Event] = []
    rec = recovery(s, events, alive=lambda pid: False)
    other = ev.GpuProcess(pid=777, gpu_index=0, used_mb=70_000, ours=False, kind="compute")
    mine = ev.GpuProcess(pid=778, gpu_index=0, used_mb=9_000, ours=True, kind="compute")
    reading = ev.GpuReading(index=0, name="H100", mem_total_mb=81_559, processes=(other, mine))
    rec.emit(ev.GpuStatus(source="nvml", gpus=(reading,)))
    assert asyncio.run(rec.handle(failure, Ledger())) is None
    (f,) = [e for e in events if isinstance(e, ev.Failure)]
    assert f.action == "wait" and "PID 777" in f.advice
    (restart,) = [e for e in events if isinstance(e, ev.Restarting)]
    assert restart.reason == "waited 0.01 min (PHOENIX_MAX_WAIT_MIN): restarting anyway"
