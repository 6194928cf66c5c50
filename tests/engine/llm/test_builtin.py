"""The offline doctor, from tables: each OOM pattern, each rename, each refusal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from phoenix_engine.core.classify import Classified, FailureKind, Frame
from phoenix_engine.errors import ProviderError
from phoenix_engine.llm._base import RepairRequest
from phoenix_engine.llm.builtin import BuiltinDoctor

OOM_MSG = "CUDA out of memory. Tried to allocate 2.00 GiB"


def failure(
    frames: list[tuple[str, int]],
    *,
    kind: FailureKind = FailureKind.OOM,
    exc_type: str = "torch.OutOfMemoryError",
    message: str = OOM_MSG,
) -> Classified:
    made = tuple(
        Frame(path=f"/proj/{rel}", line=line, function="step", relpath=rel) for rel, line in frames
    )
    location = f"{frames[-1][0]}:step" if frames else ""
    return Classified(
        kind=kind,
        signature="0" * 16,
        summary=f"{exc_type}: {message}",
        exc_type=exc_type,
        message=message,
        frames=made,
        location=location,
        line=frames[-1][1] if frames else None,
    )


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


async def ask(tmp_path: Path, files: dict[str, str], fail: Classified) -> dict[str, Any]:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(text.encode())
    before = _snapshot(tmp_path)
    request = RepairRequest(prompt="(redacted)", failure=fail, project_dir=tmp_path)
    try:
        reply: dict[str, Any] = json.loads(await BuiltinDoctor().complete(request))
    finally:
        assert _snapshot(tmp_path) == before  # it never writes
    return reply


def patch_of(reply: dict[str, Any]) -> tuple[str, int, str, str]:
    (patch,) = reply["patches"]
    assert patch["type"] == "replace_range" and patch["start_line"] == patch["end_line"]
    assert reply["diagnosis"]
    return patch["path"], patch["start_line"], patch["original"], patch["replacement"]


TRAIN = [("train.py", 9)]
OOM_CASES = [
    # files, frames, expected (path, line, original, replacement)
    (
        {"train.py": "import torch\n\nbatch_size = 32\n"},
        TRAIN,
        ("train.py", 3, "batch_size = 32\n", "batch_size = 16\n"),
    ),
    ({"train.py": "BATCH_SIZE=64\n"}, TRAIN, ("train.py", 1, "BATCH_SIZE=64\n", "BATCH_SIZE=32\n")),
    (
        {"train.py": 'p.add_argument("--batch_size", type=int, default=32)\n'},
        TRAIN,
        (
            "train.py",
            1,
            'p.add_argument("--batch_size", type=int, default=32)\n',
            'p.add_argument("--batch_size", type=int, default=16)\n',
        ),
    ),
    (
        {"train.py": 'p.add_argument(\n    "--batch-size",\n    type=int,\n    default=8,\n)\n'},
        TRAIN,
        ("train.py", 4, "    default=8,\n", "    default=4,\n"),
    ),
    (
        {"train.py": 'args = TrainingArguments("out", per_device_train_batch_size=8, seed=1)\n'},
        TRAIN,
        (
            "train.py",
            1,
            'args = TrainingArguments("out", per_device_train_batch_size=8, seed=1)\n',
            'args = TrainingArguments("out", per_device_train_batch_size=4, seed=1)\n',
        ),
    ),
    (
        {
            "train.py": "cfg = json.load(open('config.json'))\n",
            "config.json": '{\n  "batch_size": 16,\n  "lr": 1\n}\n',
        },
        TRAIN,
        ("config.json", 2, '  "batch_size": 16,\n', '  "batch_size": 8,\n'),
    ),
    (
        {
            "train.py": "bs = cfg.batch_size\n",
            "config.yaml": "model: x\nbatch_size: 16  # per GPU\n",
        },
        TRAIN,
        ("config.yaml", 2, "batch_size: 16  # per GPU\n", "batch_size: 8  # per GPU\n"),
    ),
    (
        {"train.py": "x = 1\n", "settings.toml": "[train]\nbatch_size = 16\n"},
        TRAIN,
        ("settings.toml", 2, "batch_size = 16\n", "batch_size = 8\n"),
    ),
    (
        {"train.py": "x = 1\n", "configs/base.yml": "train:\n  micro_batch_size: 6\n"},
        TRAIN,
        ("configs/base.yml", 2, "  micro_batch_size: 6\n", "  micro_batch_size: 3\n"),
    ),
    (  # the innermost project frame's file comes first
        {
            "train.py": "batch_size = 32\n",
            "pkg/loop.py": "loader = DataLoader(ds, batch_size=64)\n",
        },
        [("train.py", 1), ("pkg/loop.py", 1)],
        (
            "pkg/loop.py",
            1,
            "loader = DataLoader(ds, batch_size=64)\n",
            "loader = DataLoader(ds, batch_size=32)\n",
        ),
    ),
    (  # an evaluation batch size is the last resort; comments are not code
        {"train.py": "eval_batch_size = 64\n# batch_size = 128\nself.batch_size: int = 33\r\n"},
        TRAIN,
        ("train.py", 3, "self.batch_size: int = 33\r\n", "self.batch_size: int = 16\r\n"),
    ),
    (  # a dict literal in Python; an OOM classified as a plain exception still counts
        {"main.py": 'CONFIG = {"batch_size": 3, "epochs": 2}\n'},
        [],
        (
            "main.py",
            1,
            'CONFIG = {"batch_size": 3, "epochs": 2}\n',
            'CONFIG = {"batch_size": 1, "epochs": 2}\n',
        ),
    ),
]


@pytest.mark.parametrize(("files", "frames", "expected"), OOM_CASES)
async def test_oom_halves_the_batch_size(
    tmp_path: Path,
    files: dict[str, str],
    frames: list[tuple[str, int]],
    expected: tuple[str, int, str, str],
) -> None:
    fail = failure(frames, kind=FailureKind.EXCEPTION if not frames else FailureKind.OOM)
    reply = await ask(tmp_path, files, fail)
    assert patch_of(reply) == expected
    assert "out of memory" in reply["diagnosis"]


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        ({"train.py": "batch_size = 1\n"}, "already 1"),
        (
            {"train.py": "batch_size = args.bs\n", "notes.txt": "batch_size = 8\n"},
            "no literal batch size",
        ),
    ],
)
async def test_oom_without_a_fix_raises(tmp_path: Path, files: dict[str, str], reason: str) -> None:
    with pytest.raises(ProviderError, match=reason) as info:
        await ask(tmp_path, files, failure(TRAIN))
    assert info.value.provider == "builtin"


def renamed(exc: str, message: str, kind: FailureKind = FailureKind.EXCEPTION) -> Classified:
    return failure([("train.py", 1), ("pkg/model.py", 2)], kind=kind, exc_type=exc, message=message)


RENAME_CASES = [
    (
        renamed("NameError", "name 'lern_rate' is not defined. Did you mean: 'learn_rate'?"),
        "opt = SGD(lr=lern_rate * cfg.lern_rate)  # lern_rate\n",
        "opt = SGD(lr=learn_rate * cfg.lern_rate)  # lern_rate\n",
    ),
    (
        renamed("AttributeError", "module 'torch' has no attribute 'zero'. Did you mean: 'zeros'?"),
        "    x = torch.zero(3) + zero\r\n",
        "    x = torch.zeros(3) + zero\r\n",
    ),
    (
        renamed("AttributeError", "'Net' object has no attribute 'fc'. Did you mean: 'fc1'?"),
        "        return self.fc(x)\n",
        "        return self.fc1(x)\n",
    ),
    (
        renamed(
            "ImportError",
            "cannot import name 'lod' from 'utils' (/p/utils.py). Did you mean: 'load'?",
        ),
        "from utils import lod, save\n",
        "from utils import load, save\n",
    ),
    (
        renamed("NameError", "name 'stpes' is not defined. Did you mean: 'steps'?"),
        'print(f"{stpes} done")\n',
        'print(f"{steps} done")\n',
    ),
]


@pytest.mark.parametrize(("fail", "line", "fixed"), RENAME_CASES)
async def test_python_suggestion_renames_on_the_failing_line(
    tmp_path: Path, fail: Classified, line: str, fixed: str
) -> None:
    files = {"train.py": "from pkg import model\n", "pkg/model.py": "import torch\n" + line + line}
    reply = await ask(tmp_path, files, fail)
    assert patch_of(reply) == ("pkg/model.py", 2, line, fixed)  # line 3 is left alone


@pytest.mark.parametrize(
    ("fail", "reason"),
    [
        (
            renamed("NameError", "name 'x' is not defined. Did you mean: 'y'?"),
            "'x' is not on pkg/model.py:2",
        ),
        (
            renamed("NameError", "name 'zz' is not defined"),
            "no offline fix for exception NameError",
        ),
        (renamed("ValueError", "bad value"), "no offline fix for exception ValueError"),
        (failure([], kind=FailureKind.HANG, exc_type="", message=""), "no offline fix for hang"),
    ],
)
async def test_rename_refusals(tmp_path: Path, fail: Classified, reason: str) -> None:
    files = {"train.py": "a = 1\n", "pkg/model.py": "import torch\nvalue = other\n"}
    with pytest.raises(ProviderError, match=reason):
        await ask(tmp_path, files, fail)


async def test_rename_needs_a_project_frame(tmp_path: Path) -> None:
    fail = Classified(
        kind=FailureKind.EXCEPTION,
        signature="0" * 16,
        summary="NameError",
        exc_type="NameError",
        message="name 'a' is not defined. Did you mean: 'b'?",
        frames=(Frame(path="/usr/lib/x.py", line=3, function="f", relpath=None),),
    )
    with pytest.raises(ProviderError, match="cannot read the failing line"):
        await ask(tmp_path, {"train.py": "a\n"}, fail)


def test_doctor_is_named_builtin() -> None:
    assert BuiltinDoctor().name == "builtin"
