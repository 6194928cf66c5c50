"""Checkpoints: which one is complete and newest, the resume command, the Trainer hint."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from phoenix_engine.io.checkpoints import (
    HF_RESUME_ARGS,
    detect_trainer_output,
    newest_complete,
    resume_command,
)


def zip_bytes(size: int = 2000) -> bytes:
    """What torch.save writes: a zip archive."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", os.urandom(size))
    return buf.getvalue()


def safetensors_bytes(n: int = 64) -> bytes:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n // 4], "data_offsets": [0, n]}})
    return len(header).to_bytes(8, "little") + header.encode() + b"\0" * n


def put(root: Path, rel: str, body: bytes = b"x", age_s: float = 0) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    if age_s:
        t = path.stat().st_mtime - age_s
        os.utime(path, (t, t))
    return path


def hf_checkpoint(root: Path, step: int, *, state: bool = True, age_s: float = 0) -> None:
    d = f"output/checkpoint-{step}"
    put(root, f"{d}/model.safetensors", safetensors_bytes(), age_s)
    put(root, f"{d}/optimizer.pt", zip_bytes(), age_s)
    if state:
        put(root, f"{d}/trainer_state.json", b'{"global_step": %d}' % step, age_s)


Setup = Callable[[Path], None]


def two_hf(p: Path) -> None:
    hf_checkpoint(p, 500, age_s=600)
    hf_checkpoint(p, 1000)


def crashed_mid_save(p: Path) -> None:
    hf_checkpoint(p, 500, age_s=600)
    hf_checkpoint(p, 1000, state=False)


def older_mtime_bigger_step(p: Path) -> None:
    hf_checkpoint(p, 900, age_s=5)
    hf_checkpoint(p, 1000, age_s=600)  # copied back from somewhere: old mtime


def lightning(p: Path) -> None:
    put(p, "ckpt/epoch=1-step=100.ckpt", zip_bytes(), 600)
    put(p, "ckpt/epoch=2-step=200.ckpt", zip_bytes()[:-40])  # cut short: no end record


def safetensors_cut(p: Path) -> None:
    put(p, "ckpt/model-1.safetensors", safetensors_bytes(), 600)
    put(p, "ckpt/model-2.safetensors", safetensors_bytes()[:-10])


def unnumbered(p: Path) -> None:
    put(p, "ckpt/epoch1.pt", zip_bytes(), 900)
    put(p, "ckpt/last.pt", zip_bytes(), 10)
    put(p, "ckpt/best.pt", zip_bytes(), 600)


def dated(p: Path) -> None:
    put(p, "ckpt/run-2024-12-31.pt", b"a")
    put(p, "ckpt/run-2025-01-02.pt", b"b", 600)


def generic_dirs(p: Path) -> None:
    put(p, "ckpt/step_10/weights.bin", b"w" * 10, 600)
    put(p, "ckpt/step_20/weights.bin", b"w" * 10)


def all_bad(p: Path) -> None:
    hf_checkpoint(p, 500, state=False)
    put(p, "output/checkpoint-600/.keep", b"")  # an empty-ish dir is still a candidate
    os.remove(p / "output/checkpoint-600/.keep")


def fifo_newest(p: Path) -> None:
    put(p, "ckpt/model-1.pt", zip_bytes(), 600)
    (p / "ckpt/model-2.pt").parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(p / "ckpt/model-2.pt")  # opened for reading, a named pipe blocks until a writer


def fifo_inside(p: Path) -> None:
    hf_checkpoint(p, 500, age_s=600)
    hf_checkpoint(p, 1000)
    os.mkfifo(p / "output/checkpoint-1000/stream")


CASES: list[tuple[str, Setup, str, str | None]] = [
    ("newest of two", two_hf, "output/checkpoint-*", "output/checkpoint-1000"),
    ("crashed mid-save", crashed_mid_save, "output/checkpoint-*", "output/checkpoint-500"),
    ("step beats mtime", older_mtime_bigger_step, "output/checkpoint-*", "output/checkpoint-1000"),
    ("cut zip skipped", lightning, "ckpt/*.ckpt", "ckpt/epoch=1-step=100.ckpt"),
    ("cut safetensors", safetensors_cut, "ckpt/*.safetensors", "ckpt/model-1.safetensors"),
    ("no numbers: mtime", unnumbered, "ckpt/*.pt", "ckpt/last.pt"),
    ("dates in names", dated, "ckpt/*.pt", "ckpt/run-2025-01-02.pt"),
    ("generic dirs", generic_dirs, "ckpt/step_*", "ckpt/step_20"),
    ("none complete", all_bad, "output/checkpoint-*", None),
    ("no match", two_hf, "ckpt/*.pt", None),
    ("recursive glob", lightning, "**/*.ckpt", "ckpt/epoch=1-step=100.ckpt"),
    ("a named pipe is no checkpoint", fifo_newest, "ckpt/*.pt", "ckpt/model-1.pt"),
    ("pipe inside skipped", fifo_inside, "output/checkpoint-*", "output/checkpoint-1000"),
]


async def no_sleep(_: float) -> None:
    return None


@pytest.mark.parametrize(("name", "setup", "pattern", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_newest_complete(
    tmp_path: Path, name: str, setup: Setup, pattern: str, expected: str | None
) -> None:
    setup(tmp_path)
    found = await newest_complete(tmp_path, pattern, sleep=no_sleep)
    assert found == (tmp_path / expected if expected else None)


@pytest.mark.parametrize(
    ("newest", "growing", "expected"),
    [
        ("ckpt/model-3.pt", True, "ckpt/model-2.pt"),  # a file still being written
        ("ckpt/dir-3/shard.bin", True, "ckpt/model-2.pt"),  # a directory still being written
        ("ckpt/model-3.pt", False, "ckpt/model-3.pt"),
        ("ckpt/dir-3/shard.bin", False, "ckpt/dir-3"),
    ],
)
async def test_size_must_hold_still_over_the_recheck(
    tmp_path: Path, newest: str, growing: bool, expected: str
) -> None:
    put(tmp_path, "ckpt/model-2.pt", b"done", 600)
    put(tmp_path, newest, b"part")
    slept: list[float] = []

    async def writer_keeps_writing(seconds: float) -> None:
        slept.append(seconds)
        if growing:
            with (tmp_path / newest).open("ab") as fh:
                fh.write(b"more")

    found = await newest_complete(tmp_path, "ckpt/*", recheck_s=1.5, sleep=writer_keeps_writing)
    assert found == tmp_path / expected and slept == [1.5]  # one shared re-check


async def test_absolute_pattern_and_the_real_sleep(tmp_path: Path) -> None:
    put(tmp_path / "elsewhere", "c-1.pt", zip_bytes())
    project = tmp_path / "project"
    project.mkdir()
    found = await newest_complete(project, str(tmp_path / "elsewhere" / "c-*.pt"), recheck_s=0.01)
    assert found == tmp_path / "elsewhere" / "c-1.pt"


P = Path("/proj")
CK = P / "output" / "checkpoint-500"


@pytest.mark.parametrize(
    ("cmd", "args", "checkpoint", "expected"),
    [
        (
            "python train.py",
            HF_RESUME_ARGS,
            CK,
            "python train.py --resume_from_checkpoint output/checkpoint-500",
        ),
        (
            "python train.py --resume_from_checkpoint output/checkpoint-100 --bs 8",
            HF_RESUME_ARGS,
            CK,
            "python train.py --resume_from_checkpoint output/checkpoint-500 --bs 8",
        ),
        (
            "python train.py --resume_from_checkpoint='old one' --bs 8 --resume_from_checkpoint x",
            "--resume_from_checkpoint={checkpoint}",
            CK,
            "python train.py --resume_from_checkpoint=output/checkpoint-500 --bs 8",
        ),
        (
            "python train.py 2>&1 | tee -a train.log",
            "--resume {checkpoint}",
            CK,
            "python train.py 2>&1 --resume output/checkpoint-500 | tee -a train.log",
        ),
        (
            "python train.py || echo failed",
            "--resume {checkpoint}",
            CK,
            "python train.py || echo failed --resume output/checkpoint-500",
        ),
        (
            "python train.py --tag 'a|b'",
            "--resume {checkpoint}",
            CK,
            "python train.py --tag 'a|b' --resume output/checkpoint-500",
        ),
        (
            'python train.py --tag "a|b" 2>&1|tee x',
            "--resume {checkpoint}",
            CK,
            'python train.py --tag "a|b" 2>&1 --resume output/checkpoint-500 |tee x',
        ),
        (
            "python train.py --tag a\\|b",  # an escaped bar is no pipe
            "--resume {checkpoint}",
            CK,
            "python train.py --tag a\\|b --resume output/checkpoint-500",
        ),
        (
            "python train.py  # the nightly run",  # not into the comment, where it would be lost
            "--resume {checkpoint}",
            CK,
            "python train.py --resume output/checkpoint-500 # the nightly run",
        ),
        (
            "python train.py trainer.ckpt_path=old.ckpt",
            "trainer.ckpt_path={checkpoint}",
            P / "ckpt" / "epoch=2-step=200.ckpt",
            "python train.py trainer.ckpt_path=ckpt/epoch=2-step=200.ckpt",
        ),
        (
            "python train.py --load-optimizer",
            "--resume {checkpoint} --load-optimizer",
            CK,
            "python train.py --load-optimizer --resume output/checkpoint-500",
        ),
        (
            "python train.py",
            "--ckpt {checkpoint}",
            Path("/mnt/ckpts/run 1/last.ckpt"),
            "python train.py --ckpt '/mnt/ckpts/run 1/last.ckpt'",
        ),
        (
            "python train.py",
            '--ckpt "{checkpoint}"',
            P / "my ckpt.pt",
            "python train.py --ckpt 'my ckpt.pt'",
        ),
        ("python train.py", "{checkpoint}", CK, "python train.py output/checkpoint-500"),
    ],
)
def test_resume_command(cmd: str, args: str, checkpoint: Path, expected: str) -> None:
    assert resume_command(cmd, args, checkpoint, P) == expected


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (["output/checkpoint-5/trainer_state.json"], "output/checkpoint-*"),
        (["checkpoint-5/trainer_state.json"], "checkpoint-*"),
        (["runs/exp1/checkpoint-3/trainer_state.json"], "runs/exp1/checkpoint-*"),
        (["output/checkpoint-5/model.safetensors"], None),  # not a Trainer's
        ([".venv/lib/checkpoint-1/trainer_state.json"], None),
        (["a/b/c/checkpoint-1/trainer_state.json"], None),  # deeper than we look
        ([], None),
    ],
)
def test_detect_trainer_output(tmp_path: Path, layout: list[str], expected: str | None) -> None:
    for rel in layout:
        put(tmp_path, rel, b"{}")
    assert detect_trainer_output(tmp_path) == expected


def test_detect_prefers_the_most_recent_output(tmp_path: Path) -> None:
    put(tmp_path, "old_run/checkpoint-9/trainer_state.json", b"{}", age_s=3600)
    put(tmp_path, "output/checkpoint-1/trainer_state.json", b"{}")
    assert detect_trainer_output(tmp_path) == "output/checkpoint-*"
