"""The class table over the failure corpus: kind, action, summary and advice for every case."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from failure_corpus import CORPUS, Case

from phoenix_engine.core._triage_match import match
from phoenix_engine.core.classify import Action, FailureKind, classify
from phoenix_engine.core.triage import RULES
from phoenix_engine.core.triage_doctor import describe_classes

PROJECT = Path("/home/nobody/project")


def run(case: Case, project: Path = PROJECT) -> object:
    return classify(
        returncode=case.returncode,
        signal=case.signal,
        tail=list(case.lines),
        project_dir=project,
        hang=case.end == "hang",
        local_modules=case.local,
    )


def test_the_corpus_is_large_and_covers_every_class() -> None:
    assert len(CORPUS) >= 40
    counts = Counter(case.kind for case in CORPUS)
    new = ["disk_full", "corrupt_checkpoint", "collective_timeout", "gpu_fault"]
    new += ["device_assert", "environment", "host_oom", "oom", "exception"]
    assert all(counts[kind] >= 3 for kind in new), counts


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_each_case_has_its_kind_and_action(case: Case) -> None:
    got = run(case)
    assert (got.kind, got.action) == (case.kind, case.action), got.summary  # type: ignore[attr-defined]
    assert case.summary in got.summary  # type: ignore[attr-defined]
    if got.action is not Action.REPAIR:  # type: ignore[attr-defined]
        assert got.advice, "every action but a plain repair explains itself"  # type: ignore[attr-defined]
    code_can_help = case.kind in {
        "exception",
        "oom",
        "host_oom",
        "device_assert",
        "hang",
        "signal",
        "exit_code",
    }
    assert got.repairable is code_can_help, "no patch is ever asked for a full disk or an ECC error"  # type: ignore[attr-defined]


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_the_signature_is_stable_across_runs(case: Case) -> None:
    # The same failure in another project, with other PIDs and sizes: the same signature.
    shifted = [line.replace("4242", "5151").replace("pid", "pid") for line in case.lines]
    again = classify(
        returncode=case.returncode,
        signal=case.signal,
        tail=shifted,
        project_dir=PROJECT,
        hang=case.end == "hang",
        local_modules=case.local,
    )
    assert again.signature == run(case).signature  # type: ignore[attr-defined]


def test_the_most_specific_cause_wins() -> None:
    text = (
        "Watchdog caught collective operation timeout: WorkNCCL(SeqNum=1) ran for 600000 ms\n"
        "CUDA error: uncorrectable ECC error encountered\n"
    )
    found = match(text)
    assert found is not None and found.rule.kind is FailureKind.GPU_FAULT


@pytest.mark.parametrize(
    "text",
    [
        "CUDA kernel errors might be asynchronously reported at some other API call",
        "For debugging consider passing CUDA_LAUNCH_BLOCKING=1.",
        "Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions.",
    ],
)
def test_messages_common_to_several_classes_decide_nothing(text: str) -> None:
    assert match(text) is None


def test_a_traceback_in_project_code_is_repaired_even_with_cuda_hints() -> None:
    tail = [
        "Traceback (most recent call last):",
        '  File "/p/train.py", line 3, in <module>',
        "    x = y.cuda()",
        "NameError: name 'y' is not defined",
        "For debugging consider passing CUDA_LAUNCH_BLOCKING=1.",
    ]
    got = classify(returncode=1, signal=None, tail=tail, project_dir=Path("/p"))
    assert (got.kind, got.action) == (FailureKind.EXCEPTION, Action.REPAIR)


def test_torchrun_root_cause_is_the_ranks_own_error_not_the_peers_gloo_error() -> None:
    (case,) = [c for c in CORPUS if c.name == "exception_torchrun_typo_rank0"]
    got = classify(
        returncode=1, signal=None, tail=list(case.lines), project_dir=Path("/home/lee/ddp")
    )
    assert got.kind is FailureKind.EXCEPTION
    assert got.exc_type == "AttributeError" and got.location == "train.py:main"
    assert got.line == 88


def test_a_hang_signature_ignores_what_the_launcher_prints_after_sigint() -> None:
    (case,) = [c for c in CORPUS if c.name == "hang_torchrun_after_sigint"]
    before = list(case.lines[:2])
    plain = classify(returncode=None, signal=2, tail=before, project_dir=PROJECT, hang=True)
    full = classify(
        returncode=1, signal=None, tail=list(case.lines), project_dir=PROJECT, hang=True
    )
    assert full.signature == plain.signature
    assert full.summary.endswith("step 3050/10000 loss 0.918")


def test_oom_names_the_processes_holding_memory() -> None:
    (case,) = [c for c in CORPUS if c.name == "oom_others_hold_most"]
    got = run(case)
    assert got.holders == ((31337, 14.85), (0, 0.0))[:1]  # type: ignore[attr-defined]
    assert got.capacity_gib == pytest.approx(15.70)  # type: ignore[attr-defined]


def test_environment_advice_names_the_module_and_the_pip_package() -> None:
    (case,) = [c for c in CORPUS if c.name == "env_no_module_flash_attn"]
    got = run(case)
    assert "flash_attn" in got.advice and "pip install flash-attn" in got.advice  # type: ignore[attr-defined]


def test_a_missing_module_of_the_project_itself_is_a_bug() -> None:
    (case,) = [c for c in CORPUS if c.name == "env_no_module_flash_attn"]
    got = classify(
        returncode=1,
        signal=None,
        tail=list(case.lines),
        project_dir=Path("/home/k/mistral"),
        local_modules={"flash_attn"},
    )
    assert (got.kind, got.action) == (FailureKind.EXCEPTION, Action.REPAIR)


def test_every_row_and_kind_is_listed_for_doctor() -> None:
    listed = {kind for kind, _, _ in describe_classes()}
    assert listed == {k.value for k in FailureKind}
    assert all(r.advice for r in RULES)


def test_a_traceback_caught_before_a_watchdog_abort_is_not_the_evidence() -> None:
    (case,) = [c for c in CORPUS if c.name == "nccl_watchdog_after_caught_warning"]
    got = classify(returncode=-6, signal=6, tail=list(case.lines), project_dir=Path("/home/s/ddp"))
    assert (got.kind, got.exc_type, got.location) == (FailureKind.COLLECTIVE_TIMEOUT, "", "")
