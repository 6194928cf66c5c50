"""Table-driven tests of classify() and normalise() over realistic training-run output."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from phoenix_engine.core.classify import Classified, FailureKind, Frame, classify, normalise

PROJECT = Path("/home/ana/proj")
SITE = "/home/ana/proj/.venv/lib/python3.11/site-packages"


def lines(text: str) -> list[str]:
    return text.strip("\n").split("\n")


def run(
    tail: list[str],
    returncode: int | None = 1,
    *,
    signal: int | None = None,
    project: Path = PROJECT,
    hang: bool = False,
    via_shell: bool = False,
) -> Classified:
    return classify(
        returncode=returncode,
        signal=signal,
        tail=tail,
        project_dir=project,
        hang=hang,
        via_shell=via_shell,
    )


def name_error(root: str = "/home/ana/proj", line: int = 14, name: str = "lr") -> list[str]:
    return lines(f"""
epoch 0 step 10 loss 2.301
Traceback (most recent call last):
  File "{root}/train.py", line {line + 8}, in <module>
    main()
  File "{root}/train.py", line {line}, in main
    opt = SGD(model.parameters(), lr={name})
                                     ^^
NameError: name '{name}' is not defined
""")


def torch_oom(root: str = "/home/ana/proj", gib: str = "2.00", free: str = "1.06") -> list[str]:
    site = f"{root}/.venv/lib/python3.11/site-packages"
    message = (
        f"CUDA out of memory. Tried to allocate {gib} GiB. GPU 0 has a total capacity of "
        f"23.64 GiB of which {free} GiB is free. Including non-PyTorch memory, this process has "
        "22.57 GiB memory in use. See documentation for Memory Management  "
        "(https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)"
    )
    return [
        "Traceback (most recent call last):",
        f'  File "{root}/train.py", line 88, in <module>',
        "    main()",
        f'  File "{root}/train.py", line 71, in main',
        "    loss = step(model, batch)",
        "           ^^^^^^^^^^^^^^^^^^",
        f'  File "{root}/train.py", line 40, in step',
        '    out = model(batch["x"])',
        f'  File "{site}/torch/nn/modules/module.py", line 1520, in _call_impl',
        "    return forward_call(*args, **kwargs)",
        f'  File "{site}/torch/nn/modules/linear.py", line 116, in forward',
        "    return F.linear(input, self.weight, self.bias)",
        "           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        f"torch.OutOfMemoryError: {message}",
    ]


CHAINED = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/config.py", line 3, in load
    {}["lr"]
    ~~^^^^^^
KeyError: 'lr'

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 6, in <module>
    load()
  File "/home/ana/proj/config.py", line 5, in load
    raise ValueError("bad config\\nsecond line") from e
ValueError: bad config
second line
""")

DURING_HANDLING = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/data.py", line 12, in read
    return cache[key]
KeyError: 'shard-3'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 30, in main
    batch = read("shard-3")
  File "/home/ana/proj/data.py", line 14, in read
    return open(path).read()
FileNotFoundError: [Errno 2] No such file or directory: '/data/shards/shard-3.bin'
""")

RANKED = lines(f"""
[rank0]:[W1122 10:56:54.123456 ProcessGroupNCCL.cpp:4115] Warning: barrier() using device
[rank0]: Traceback (most recent call last):
[rank1]: Traceback (most recent call last):
[rank0]:   File "/home/ana/proj/train.py", line 50, in <module>
[rank1]:   File "/home/ana/proj/train.py", line 50, in <module>
[rank0]:     main()
[rank0]:   File "/home/ana/proj/train.py", line 44, in main
[rank0]:     loss = criterion(out, y)
[rank0]:   File "{SITE}/torch/nn/functional.py", line 3086, in cross_entropy
[rank0]:     return torch._C._nn.cross_entropy_loss(input, target)
[rank0]: ValueError: Expected input batch_size (32) to match target batch_size (16).
[rank1]:     main()
[rank1]:   File "/home/ana/proj/train.py", line 44, in main
[rank1]:     loss = criterion(out, y)
[rank1]:   File "{SITE}/torch/nn/functional.py", line 3086, in cross_entropy
[rank1]:     return torch._C._nn.cross_entropy_loss(input, target)
[rank1]: ValueError: Expected input batch_size (32) to match target batch_size (16).
""")

SYNTAX_MAIN = lines("""
  File "/home/ana/proj/train.py", line 12
    lr = (0.1,
         ^
SyntaxError: '(' was never closed
""")

SYNTAX_IMPORTED = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 1, in <module>
    import model
  File "/home/ana/proj/model.py", line 7
    return x +
              ^
SyntaxError: invalid syntax
""")

INDENTATION = lines("""
  File "/home/ana/proj/model.py", line 9
    return 1
    ^
IndentationError: expected an indented block after function definition on line 8
""")


def key_error_object(address: str = "0x7f3a2c1b4d90", line: int = 21) -> list[str]:
    return lines(f"""
Traceback (most recent call last):
  File "/home/ana/proj/data.py", line {line}, in __getitem__
    return self.index[sample]
           ~~~~~~~~~~^^^^^^^^
KeyError: <data.Sample object at {address}>
""")


NOISY_AFTER = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 61, in <module>
    trainer.fit()
  File "/home/ana/proj/trainer.py", line 112, in fit
    self.log(metrics["val/acc"])
KeyError: 'val/acc'
wandb: Waiting for W&B process to finish... (failed 1).
wandb: Synced 5 W&B file(s), 0 media file(s), 2 artifact file(s) and 0 other file(s)
INFO: saving emergency checkpoint to /home/ana/proj/ckpt/last.pt
2024-05-01 12:00:01,123 - INFO - shutting down dataloader workers
""")

NOISY_BETWEEN = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 61, in <module>
Epoch: 3
    trainer.fit()
INFO: heartbeat from rank 1
  File "/home/ana/proj/trainer.py", line 90, in fit
    loss.backward()
Traceback logging disabled for worker 2
RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn
""")

DATALOADER = lines(f"""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 40, in main
    for batch in loader:
  File "{SITE}/torch/utils/data/dataloader.py", line 1345, in _next_data
    return self._process_data(data)
  File "{SITE}/torch/_utils.py", line 722, in reraise
    raise exception
ValueError: Caught ValueError in DataLoader worker process 0.
Original Traceback (most recent call last):
  File "{SITE}/torch/utils/data/_utils/worker.py", line 308, in _worker_loop
    data = fetcher.fetch(index)
  File "/home/ana/proj/dataset.py", line 33, in __getitem__
    return self.tokenize(row["text"])
ValueError: text column is empty
""")

TORCHRUN = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 9, in main
    model = build(cfg.model)
AttributeError: 'Config' object has no attribute 'model'
E1122 10:57:01.000000 1234 torch/distributed/elastic/multiprocessing/api.py:826] failed
Traceback (most recent call last):
  File "/usr/local/bin/torchrun", line 8, in <module>
    sys.exit(main())
  File "/usr/local/lib/python3.11/site-packages/torch/distributed/run.py", line 892, in main
    run(args)
torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
============================================================
train.py FAILED
""")

RELATIVE = lines("""
Traceback (most recent call last):
  File "train.py", line 3, in <module>
    main()
  File "src/loop.py", line 17, in main
    assert cfg.steps > 0
AssertionError
""")

KEYBOARD = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 80, in <module>
    time.sleep(1)
KeyboardInterrupt
""")

DYNAMO = lines(f"""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 52, in <module>
    out = compiled(x)
  File "{SITE}/torch/_dynamo/eval_frame.py", line 451, in _fn
    return fn(*args, **kwargs)
torch._dynamo.exc.Unsupported: call_function BuiltinVariable(open) [ConstantVariable()] {{}}

from user code:
   File "/home/ana/proj/model.py", line 12, in forward
    with open("stats.txt") as fh:

Set TORCH_LOGS="+dynamo" and TORCHDYNAMO_VERBOSE=1 for more information

You can suppress this exception and fall back to eager by setting:
    import torch._dynamo
    torch._dynamo.config.suppress_errors = True
""")

# (id, tail, kind, exc_type, message, location, line, repairable)
EXCEPTIONS: list[tuple[str, list[str], FailureKind, str, str, str, int | None, bool]] = [
    ("name error", name_error(), FailureKind.EXCEPTION, "NameError",
     "name 'lr' is not defined", "train.py:main", 14, True),
    ("chained: final one", CHAINED, FailureKind.EXCEPTION, "ValueError",
     "bad config", "config.py:load", 5, True),
    ("during handling: final one", DURING_HANDLING, FailureKind.EXCEPTION, "FileNotFoundError",
     "[Errno 2] No such file or directory: '/data/shards/shard-3.bin'", "data.py:read", 14, True),
    ("rank prefixes", RANKED, FailureKind.EXCEPTION, "ValueError",
     "Expected input batch_size (32) to match target batch_size (16).", "train.py:main", 44,
     True),
    ("syntax error in main", SYNTAX_MAIN, FailureKind.EXCEPTION, "SyntaxError",
     "'(' was never closed", "train.py:<module>", 12, True),
    ("syntax error on import", SYNTAX_IMPORTED, FailureKind.EXCEPTION, "SyntaxError",
     "invalid syntax", "model.py:<module>", 7, True),
    ("indentation error", INDENTATION, FailureKind.EXCEPTION, "IndentationError",
     "expected an indented block after function definition on line 8", "model.py:<module>", 9,
     True),
    ("key error with address", key_error_object(), FailureKind.EXCEPTION, "KeyError",
     "<data.Sample object at 0x7f3a2c1b4d90>", "data.py:__getitem__", 21, True),
    ("log noise after", NOISY_AFTER, FailureKind.EXCEPTION, "KeyError", "'val/acc'",
     "trainer.py:fit", 112, True),
    ("log noise between frames", NOISY_BETWEEN, FailureKind.EXCEPTION, "RuntimeError",
     "element 0 of tensors does not require grad and does not have a grad_fn", "trainer.py:fit",
     90, True),
    ("dataloader worker", DATALOADER, FailureKind.EXCEPTION, "ValueError",
     "text column is empty", "dataset.py:__getitem__", 33, True),
    ("torchrun wrapper skipped", TORCHRUN, FailureKind.EXCEPTION, "AttributeError",
     "'Config' object has no attribute 'model'", "train.py:main", 9, True),
    ("relative paths, bare type", RELATIVE, FailureKind.EXCEPTION, "AssertionError", "",
     "src/loop.py:main", 17, True),
    ("torch.compile quotes frames after", DYNAMO, FailureKind.EXCEPTION,
     "torch._dynamo.exc.Unsupported",
     "call_function BuiltinVariable(open) [ConstantVariable()] {}", "train.py:<module>", 52,
     True),
    ("keyboard interrupt", KEYBOARD, FailureKind.EXCEPTION, "KeyboardInterrupt", "",
     "train.py:<module>", 80, False),
    ("torch oom: project frame", torch_oom(), FailureKind.OOM, "torch.OutOfMemoryError",
     torch_oom()[-1].split(": ", 1)[1], "train.py:step", 40, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tail", "kind", "exc_type", "message", "location", "line", "repairable"),
    [case[1:] for case in EXCEPTIONS],
    ids=[case[0] for case in EXCEPTIONS],
)
def test_tracebacks(
    tail: list[str],
    kind: FailureKind,
    exc_type: str,
    message: str,
    location: str,
    line: int | None,
    repairable: bool,
) -> None:
    got = run(tail)
    assert (got.kind, got.exc_type, got.message) == (kind, exc_type, message)
    assert (got.location, got.line, got.repairable) == (location, line, repairable)
    assert re.fullmatch(r"[0-9a-f]{16}", got.signature)
    head = f"{exc_type}: {message}" if message else exc_type
    assert got.summary.startswith(head[:40])
    assert got.summary.endswith(f"({location}, line {line})")
    assert len(got.summary) <= 200


def test_name_error_summary_reads_like_a_sentence() -> None:
    got = run(name_error())
    assert got.summary == "NameError: name 'lr' is not defined (train.py:main, line 14)"
    assert [(f.function, f.line, f.relpath) for f in got.frames] == [
        ("<module>", 22, "train.py"),
        ("main", 14, "train.py"),
    ]


def test_oom_frames_in_site_packages_have_no_relpath() -> None:
    frames = run(torch_oom()).frames
    assert [f.relpath for f in frames] == ["train.py", "train.py", "train.py", None, None]
    assert frames[-1] == Frame(
        path=f"{SITE}/torch/nn/modules/linear.py", line=116, function="forward", relpath=None
    )


CPP_OOM = lines("""
step 812 loss 1.93
terminate called after throwing an instance of 'c10::OutOfMemoryError'
  what():  CUDA out of memory. Tried to allocate 512.00 MiB (GPU 0; 15.78 GiB total capacity)
""")

CAUGHT_OOM_THEN_BUG = lines("""
WARNING: CUDA out of memory. Tried to allocate 1.50 GiB; skipping batch 17
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 55, in main
    log(step, los)
NameError: name 'los' is not defined
""")

MEMORY_ERROR = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/prep.py", line 19, in load_all
    rows = [json.loads(l) for l in fh]
MemoryError
""")

NUMPY_MEMORY = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/prep.py", line 25, in embed
    out = np.zeros((n, 4096))
numpy.core._exceptions._ArrayMemoryError: Unable to allocate 7.45 GiB for an array with shape \
(244000, 4096) and data type float64
""")

WORKER_KILLED = lines("""
Traceback (most recent call last):
  File "/home/ana/proj/train.py", line 40, in main
    for batch in loader:
RuntimeError: DataLoader worker (pid 48213) is killed by signal: Killed.
""")

# (id, tail, returncode, signal, kind, exc_type, location, summary fragment)
MEMORY: list[tuple[str, list[str], int | None, int | None, FailureKind, str, str, str]] = [
    ("torch oom traceback", torch_oom(), 1, None, FailureKind.OOM, "torch.OutOfMemoryError",
     "train.py:step", "CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("c++ oom text, abort", CPP_OOM, -6, None, FailureKind.OOM, "", "",
     "CUDA out of memory. Tried to allocate 512.00 MiB"),
    ("oom text only, exit 1", ["RuntimeError: CUDA error: out of memory"], 1, None,
     FailureKind.OOM, "", "", "CUDA error: out of memory"),
    ("hip oom", ["HIP out of memory. Tried to allocate 1.00 GiB"], 1, None, FailureKind.OOM,
     "", "", "HIP out of memory"),
    ("mps oom", ["RuntimeError: MPS backend out of memory (MPS allocated: 9.1 GB)"], 1, None,
     FailureKind.OOM, "", "", "MPS backend out of memory"),
    ("cublas alloc", ["CUBLAS_STATUS_ALLOC_FAILED when calling `cublasCreate(handle)`"], 1,
     None, FailureKind.OOM, "", "", "CUBLAS_STATUS_ALLOC_FAILED"),
    ("cuda runtime enum", ["cudaErrorMemoryAllocation: out of memory"], -6, None,
     FailureKind.OOM, "", "", "cudaErrorMemoryAllocation"),
    ("caught oom then a bug", CAUGHT_OOM_THEN_BUG, 1, None, FailureKind.EXCEPTION, "NameError",
     "train.py:main", "NameError: name 'los' is not defined"),
    ("memory error", MEMORY_ERROR, 1, None, FailureKind.HOST_OOM, "MemoryError",
     "prep.py:load_all", "MemoryError (prep.py:load_all, line 19)"),
    ("numpy memory error", NUMPY_MEMORY, 1, None, FailureKind.HOST_OOM,
     "numpy.core._exceptions._ArrayMemoryError", "prep.py:embed", "Unable to allocate 7.45 GiB"),
    ("dataloader worker oom-killed", WORKER_KILLED, 1, None, FailureKind.HOST_OOM, "RuntimeError",
     "train.py:main", "is killed by signal: Killed"),
    ("cpu allocator", ["RuntimeError: [enforce fail at alloc_cpu.cpp:114] . "
     "DefaultCPUAllocator: not enough memory: you tried to allocate 8589934592 bytes."], 1, None,
     FailureKind.HOST_OOM, "", "", "DefaultCPUAllocator: not enough memory"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tail", "returncode", "signal", "kind", "exc_type", "location", "fragment"),
    [case[1:] for case in MEMORY],
    ids=[case[0] for case in MEMORY],
)
def test_memory(
    tail: list[str],
    returncode: int | None,
    signal: int | None,
    kind: FailureKind,
    exc_type: str,
    location: str,
    fragment: str,
) -> None:
    got = run(tail, returncode, signal=signal)
    assert (got.kind, got.exc_type, got.location) == (kind, exc_type, location)
    assert fragment in got.summary
    assert got.repairable


# (id, returncode, signal, via_shell, kind, summary fragment, repairable)
SIGNALS: list[tuple[str, int | None, int | None, bool, FailureKind, str, bool]] = [
    ("sigkill given", None, 9, False, FailureKind.HOST_OOM, "killed by SIGKILL", True),
    ("sigkill as -9", -9, None, False, FailureKind.HOST_OOM, "out-of-memory killer", True),
    ("sigkill via shell 137", 137, None, True, FailureKind.HOST_OOM, "killed by SIGKILL", True),
    ("sigsegv as -11", -11, None, False, FailureKind.SIGNAL, "SIGSEGV (Segmentation fault)",
     True),
    ("sigsegv via shell 139", 139, None, True, FailureKind.SIGNAL, "SIGSEGV", True),
    ("sigsegv given", 139, 11, False, FailureKind.SIGNAL, "SIGSEGV", True),
    ("sigabrt", -6, None, False, FailureKind.SIGNAL, "SIGABRT", True),
    ("sigbus via shell", 135, None, True, FailureKind.SIGNAL, "SIGBUS", True),
    ("sigterm from outside", -15, None, False, FailureKind.SIGNAL, "SIGTERM", False),
    # issue 12: a wrapper script whose child was SIGKILLed exits 137 (the OOM killer)
    ("137 without shell is a killed child", 137, None, False, FailureKind.HOST_OOM,
     "killed by SIGKILL", True),
    ("136 without shell is an exit code", 136, None, False, FailureKind.EXIT_CODE,
     "exited with code 136", True),
    ("above 128+64 via shell is an exit code", 200, None, True, FailureKind.EXIT_CODE,
     "exited with code 200", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("returncode", "signal", "via_shell", "kind", "fragment", "repairable"),
    [case[1:] for case in SIGNALS],
    ids=[case[0] for case in SIGNALS],
)
def test_signals(
    returncode: int | None,
    signal: int | None,
    via_shell: bool,
    kind: FailureKind,
    fragment: str,
    repairable: bool,
) -> None:
    tail = ["epoch 3 step 1200 loss 0.412", "saving checkpoint"]
    got = run(tail, returncode, signal=signal, via_shell=via_shell)
    assert (got.kind, got.repairable) == (kind, repairable)
    assert fragment in got.summary
    assert got.frames == ()


def test_sigkill_signature_is_the_same_however_reported() -> None:
    tail = ["step 1 loss 2.0"]
    sigs = {
        run(tail, None, signal=9).signature,
        run(tail, -9).signature,
        run(["step 99 loss 0.1"], 137, via_shell=True).signature,
    }
    assert len(sigs) == 1


def test_segfault_with_faulthandler_dump_names_the_project_frame() -> None:
    tail = lines(f"""
step 40 loss 1.2
Fatal Python error: Segmentation fault

Current thread 0x00007f0fcabf9b80 (most recent call first):
  File "{SITE}/torch/nn/modules/conv.py", line 456 in _conv_forward
  File "/home/ana/proj/model.py", line 31 in forward
  File "/home/ana/proj/train.py", line 70 in main

Extension modules: numpy.core._multiarray_umath, torch._C (total: 20)
""")
    got = run(tail, -11)
    assert (got.kind, got.location, got.line) == (FailureKind.SIGNAL, "model.py:forward", 31)
    assert [f.function for f in got.frames] == ["main", "forward", "_conv_forward"]
    assert got.summary == "died of signal SIGSEGV (Segmentation fault) in model.py:forward, line 31"


# (id, tail, returncode, via_shell, summary fragment)
LAUNCHES: list[tuple[str, list[str], int | None, bool, str]] = [
    ("sh not found", ["/bin/sh: 1: pyhton: not found"], 127, True, "pyhton: not found"),
    ("bash not found", ["bash: accelerate: command not found"], 127, True, "command not found"),
    ("127 without text", [], 127, True, "command not found (the shell exited with 127)"),
    ("126 permission", ["sh: 1: ./run.sh: Permission denied"], 126, True, "Permission denied"),
    ("126 without text", [], 126, True, "command not executable"),
    ("can't open file", ["/usr/bin/python3: can't open file '/home/ana/proj/trian.py': "
     "[Errno 2] No such file or directory"], 2, False, "can't open file"),
    ("no module for -m", ["python: No module named trainer"], 1, False, "No module named trainer"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tail", "returncode", "via_shell", "fragment"),
    [case[1:] for case in LAUNCHES],
    ids=[case[0] for case in LAUNCHES],
)
def test_launch_failures(
    tail: list[str], returncode: int | None, via_shell: bool, fragment: str
) -> None:
    got = run(tail, returncode, via_shell=via_shell)
    assert got.kind is FailureKind.LAUNCH
    assert not got.repairable
    assert fragment in got.summary


def test_a_helper_command_missing_mid_run_is_not_a_launch_failure() -> None:
    tail = ["sh: 1: nvidia-smi: not found", "step 1 loss 2.3", *name_error()]
    assert run(tail, 1, via_shell=True).kind is FailureKind.EXCEPTION


def test_exit_127_without_shell_is_an_exit_code() -> None:
    assert run(["bye"], 127).kind is FailureKind.EXIT_CODE


# (id, tail, returncode, summary, repairable)
EXITS: list[tuple[str, list[str], int | None, str, bool]] = [
    ("exit 1, no traceback", ["step 10 loss nan", "error: loss diverged, aborting", ""], 1,
     "exited with code 1; last line: error: loss diverged, aborting", True),
    ("exit 3, no output", [], 3, "exited with code 3", True),
    ("unknown status", ["done?"], None, "exited (status unknown); last line: done?", True),
    ("clean exit", ["training complete"], 0, "exited with code 0", False),
    ("clean exit after a logged traceback", name_error(), 0, "exited with code 0", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tail", "returncode", "summary", "repairable"),
    [case[1:] for case in EXITS],
    ids=[case[0] for case in EXITS],
)
def test_exit_codes(
    tail: list[str], returncode: int | None, summary: str, repairable: bool
) -> None:
    got = run(tail, returncode)
    assert got.kind is FailureKind.EXIT_CODE
    assert (got.summary, got.repairable) == (summary, repairable)


def test_exit_code_signature_follows_code_and_last_line_shape() -> None:
    a = run(["step 10 loss 2.5", "diverged at step 10"], 1)
    b = run(["step 99 loss 0.5", "diverged at step 871"], 1)
    assert a.signature == b.signature
    assert run(["diverged at step 10"], 2).signature != a.signature
    assert run(["dataset exhausted"], 1).signature != a.signature


# (id, last line a, last line b, same shape)
HANG_SHAPES: list[tuple[str, str, str, bool]] = [
    ("step counters", "step 120/1000 loss 0.52", "step 340/1000 loss 0.49", True),
    ("scientific lr", "step 5 lr 1e-4 loss 3.1", "step 9 lr 3.5e-05 loss 2.9", True),
    ("tqdm bar", "  3%|▎         | 30/1000 [00:01<00:40, 24.1it/s]",
     "45%|████▌     | 450/1000 [00:18<00:22, 24.3it/s]", True),
    ("timestamps", "2024-05-01 12:00:01,123 INFO eval", "2024-05-02 03:14:15,926 INFO eval", True),
    ("addresses", "waiting on <Future at 0x7f1c2a3b>", "waiting on <Future at 0x7f99aa00>", True),
    ("ansi colours", "\x1b[32mstep 1\x1b[0m", "step 2", True),
    ("rank prefix", "[rank0]: step 10 loss 1.0", "step 11 loss 0.9", True),
    ("train vs eval", "step 120/1000 loss 0.52", "eval 120/1000 acc 0.52", False),
    ("bar vs log", "45%|████▌     | 450/1000", "step 450/1000 loss 0.5", False),
    ("extra field", "step 1 loss 0.5", "step 1 loss 0.5 grad_norm 3.2", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("line_a", "line_b", "same"),
    [case[1:] for case in HANG_SHAPES],
    ids=[case[0] for case in HANG_SHAPES],
)
def test_hang_signature_follows_the_last_line_shape(line_a: str, line_b: str, same: bool) -> None:
    a = run(["loading data", line_a, "", "  "], None, hang=True)
    b = run(["loading model", line_b], None, hang=True)
    assert a.kind is b.kind is FailureKind.HANG
    assert (a.signature == b.signature) is same


def test_hang_wins_over_everything_and_summarises_the_last_line() -> None:
    long = "step 7 " + "x" * 300
    got = run([*torch_oom(), long], -9, signal=9, hang=True)
    assert got.kind is FailureKind.HANG
    assert got.repairable
    assert got.summary.startswith("no output for the heartbeat period; last line: step 7 xxx")
    assert len(got.summary) < len("no output for the heartbeat period; last line: ") + 125
    assert run([], None, hang=True).summary.endswith("no output at all")


def _sig(tail: list[str], project: Path = PROJECT) -> str:
    return run(tail, project=project).signature


# (id, tail a, project a, tail b, project b)
SAME: list[tuple[str, list[str], Path, list[str], Path]] = [
    ("name error, other line numbers", name_error(line=14), PROJECT, name_error(line=90),
     PROJECT),
    ("name error, project copied elsewhere", name_error(), PROJECT,
     name_error("/tmp/phoenix-shadow-1x2y/proj"), Path("/tmp/phoenix-shadow-1x2y/proj")),
    ("oom, other sizes and paths", torch_oom(), PROJECT,
     torch_oom("/srv/runs/7/proj", gib="12.50", free="0.13"), Path("/srv/runs/7/proj")),
    ("key error, other address", key_error_object("0x7f3a2c1b4d90", 21), PROJECT,
     key_error_object("0x55d0c0ffee10", 23), PROJECT),
    ("file not found, other path", DURING_HANDLING, PROJECT,
     [line.replace("/data/shards/shard-3.bin", "/mnt/d/shards/shard-41.bin")
      for line in DURING_HANDLING], PROJECT),
    ("rank prefix or not", RANKED, PROJECT,
     [line.removeprefix("[rank0]: ") for line in RANKED if not line.startswith("[rank1]")],
     PROJECT),
    ("trailing noise differs", NOISY_AFTER[:6], PROJECT, NOISY_AFTER, PROJECT),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tail_a", "project_a", "tail_b", "project_b"),
    [case[1:] for case in SAME],
    ids=[case[0] for case in SAME],
)
def test_same_failure_same_signature(
    tail_a: list[str], project_a: Path, tail_b: list[str], project_b: Path
) -> None:
    assert _sig(tail_a, project_a) == _sig(tail_b, project_b)


def _retyped(tail: list[str], old: str, new: str) -> list[str]:
    return [line.replace(old, new) for line in tail]


# (id, tail a, tail b)
DIFFERENT: list[tuple[str, list[str], list[str]]] = [
    ("other name in quotes", name_error(name="lr"), name_error(name="bs")),
    ("other exception type", name_error(),
     _retyped(name_error(), "NameError", "UnboundLocalError")),
    ("other function", name_error(), _retyped(name_error(), "in main", "in setup")),
    ("other file", name_error(), _retyped(name_error(), "/train.py", "/finetune.py")),
    ("oom vs name error", torch_oom(), name_error()),
    ("exception vs syntax error", SYNTAX_MAIN, name_error()),
    ("other missing key", NOISY_AFTER, _retyped(NOISY_AFTER, "'val/acc'", "'val/loss'")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("tail_a", "tail_b"), [case[1:] for case in DIFFERENT], ids=[case[0] for case in DIFFERENT]
)
def test_different_failure_different_signature(tail_a: list[str], tail_b: list[str]) -> None:
    assert _sig(tail_a) != _sig(tail_b)


def test_signature_is_sha256_of_the_documented_fields() -> None:
    got = run(name_error())
    text = "exception|NameError|train.py:main|name 'lr' is not defined"
    assert got.signature == hashlib.sha256(text.encode()).hexdigest()[:16]


# (id, project_dir, printed path, relpath)
RELPATHS: list[tuple[str, str, str, str | None]] = [
    ("absolute inside", "/home/ana/proj", "/home/ana/proj/src/model.py", "src/model.py"),
    ("relative", "/home/ana/proj", "src/model.py", "src/model.py"),
    ("dot relative", "/home/ana/proj", "./train.py", "train.py"),
    ("trailing slash on project", "/home/ana/proj/", "/home/ana/proj/train.py", "train.py"),
    ("outside", "/home/ana/proj", "/home/ana/other/train.py", None),
    ("sibling with same prefix", "/home/ana/proj", "/home/ana/proj2/train.py", None),
    ("escapes with ..", "/home/ana/proj", "../lib/util.py", None),
    ("venv site-packages inside", "/home/ana/proj", f"{SITE}/torch/nn/functional.py", None),
    ("dist-packages", "/usr/lib/python3", "/usr/lib/python3/dist-packages/numpy/core.py", None),
    ("conda env inside", "/home/ana/proj", "/home/ana/proj/env/lib/python3.11/json/decoder.py",
     None),
    ("frozen module", "/home/ana/proj", "<frozen runpy>", None),
    ("string source", "/home/ana/proj", "<string>", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("project", "path", "relpath"),
    [case[1:] for case in RELPATHS],
    ids=[case[0] for case in RELPATHS],
)
def test_frame_relpath(project: str, path: str, relpath: str | None) -> None:
    tail = ["Traceback (most recent call last):", f'  File "{path}", line 3, in f', "ValueError: x"]
    got = run(tail, project=Path(project))
    assert got.frames == (Frame(path=path, line=3, function="f", relpath=relpath),)
    assert got.location == (f"{relpath}:f" if relpath else "")


def test_long_message_is_clipped_but_keeps_the_location() -> None:
    tail = name_error()
    tail[-1] = "ValueError: " + "bad shape " * 60
    got = run(tail)
    assert len(got.summary) <= 200
    assert got.summary.endswith("… (train.py:main, line 14)")
    assert got.message == ("bad shape " * 60).strip()


@pytest.mark.parametrize(
    "tail",
    [name_error()[:-1], NOISY_BETWEEN[:-2]],
    ids=["cut before the exception line", "cut after log noise between frames"],
)
def test_truncated_traceback_falls_through_to_the_exit_status(tail: list[str]) -> None:
    # The process died while printing it: no exception type to trust.
    assert run(tail, -11).kind is FailureKind.SIGNAL
    assert run(tail, 1).kind is FailureKind.EXIT_CODE


# (id, text, normalised)
NORMALISED: list[tuple[str, str, str]] = [
    ("quoted identifier kept", "name 'lr' is not defined", "name 'lr' is not defined"),
    ("address", "<data.Sample object at 0x7f3a2c1b4d90>", "<data.Sample object at ADDR>"),
    ("sizes", "Tried to allocate 20.00 MiB; 1.5 GiB free; 512 bytes",
     "Tried to allocate N; N free; N"),
    ("floats and exponents", "lr=1e-4 loss 0.52 eps -3.5E+02", "lr=N loss N eps N"),
    ("shape list", "torch.Size([32, 3, 224, 224])", "torch.Size([N, N, N, N])"),
    ("device index", "Expected all tensors on cuda:0, got cuda:1",
     "Expected all tensors on cuda:N, got cuda:N"),
    ("digits inside identifiers kept", "layer12 in fp16 conv2d", "layer12 in fp16 conv2d"),
    ("absolute path", "No such file: /data/shards/shard-3.bin", "No such file: PATH"),
    ("quoted path keeps quotes", "open '/data/x 1/ckpt.pt' failed", "open 'PATH' failed"),
    ("relative path with extension", "loading ckpt/step_100.pt", "loading PATH"),
    ("dot-slash path", "run ./scripts/prep", "run PATH"),
    ("windows path", r"C:\Users\ana\proj\train.py missing", "PATH missing"),
    ("url", "see https://pytorch.org/docs/stable/notes/cuda.html#env", "see PATH"),
    ("metric name with slash kept", "KeyError: 'train/loss'", "KeyError: 'train/loss'"),
    ("fraction", "step 3/4", "step N/N"),
    ("float ratio", "ratio 1.5/2.5", "ratio N/N"),
    ("safetensors file", "load shards/model-00001.safetensors", "load PATH"),
    ("uuid", "run 123e4567-e89b-12d3-a456-426614174000 failed", "run HASH failed"),
    ("git hash", "at commit 9fef2f78a1c3 dirty", "at commit HASH dirty"),
    ("whitespace", "  a \t b\n c  ", "a b c"),
    ("ansi", "\x1b[31mError\x1b[0m 3", "Error N"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in NORMALISED], ids=[case[0] for case in NORMALISED]
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected
