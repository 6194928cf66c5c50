"""Resume arguments the training script accepts, checked before the night and at run time.

- :func:`help_check` (``phoenix doctor``): when the command runs a Python script that parses
  arguments (argparse, ``HfArgumentParser``), run its ``--help`` (short timeout, whole tree
  killed after) and say whether the flag of ``PHOENIX_RESUME_ARGS`` is in it.
- :func:`rejected` (the engine): a restart with the resume arguments that exits at once with a
  usage error naming that flag was refused by the script; the engine then drops the arguments
  for the following restarts and journals why, instead of burning every restart on it.
- :func:`trainer_hint`: a script using the Hugging Face Trainer gets the settings that make
  restarts resume from its checkpoints, before any checkpoint exists.
"""

from __future__ import annotations

__all__ = ["help_check", "python_script", "rejected", "resume_flag", "trainer_hint"]

import asyncio
import re
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from phoenix_engine.io.run_once import run_to_completion, why_killed
from phoenix_engine.io.supervisor import SpawnError

_HELP_TIMEOUT_S = 45.0  # importing torch and transformers alone can take 15 s
_HELP_MAX = 1 << 20  # a help text is a few KB: past this it is not one
_QUICK_S = 60.0  # a usage error comes before any training
_USAGE = (
    "unrecognized arguments",  # argparse
    "no such option",  # click, optparse
    "not used by the hfargumentparser",  # transformers' HfArgumentParser (a ValueError)
    "unrecognized option",
    "unknown option",
)
_LAUNCHERS = {"torchrun", "accelerate", "deepspeed", "python", "python3"}


def resume_flag(resume_args: str) -> str | None:
    """The option in ``PHOENIX_RESUME_ARGS`` (``--resume_from_checkpoint``), if any."""
    try:
        tokens = shlex.split(resume_args)
    except ValueError:
        return None
    for token in tokens:
        if token.startswith("-") and len(token) > 1:
            return token.split("=", 1)[0]
    return None


def python_script(argv: Sequence[str], project_dir: Path) -> tuple[str, Path] | None:
    """(interpreter, script) when the command runs a project ``.py`` (directly, with python,
    torchrun or accelerate launch); None otherwise."""
    script = next((a for a in argv if a.endswith(".py") and not a.startswith("-")), None)
    if script is None or not argv:
        return None
    path = project_dir / script
    if not path.is_file():
        return None
    first = Path(argv[0]).name
    if first.startswith("python"):
        return argv[0], path
    beside = shutil.which(argv[0])
    if beside is not None and first in _LAUNCHERS:
        sibling = Path(beside).with_name("python")
        if sibling.exists():
            return str(sibling), path
    return "python3", path


def _mentions(text: str, flag: str) -> bool:
    return re.search(r"(?<![\w-])" + re.escape(flag) + r"(?![\w-])", text) is not None


def help_check(
    argv: Sequence[str], resume_args: str, project_dir: Path, env: Mapping[str, str]
) -> tuple[bool, str] | None:
    """(ok, detail) about the resume flag, or None when there is nothing to check."""
    flag = resume_flag(resume_args)
    found = python_script(argv, project_dir)
    if flag is None or found is None:
        return None
    interpreter, script = found
    try:
        source = script.read_text(errors="replace")
    except OSError:
        return None
    if "ArgumentParser" not in source:  # argparse and HfArgumentParser alike
        if "sys.argv" in source or "click" in source or "typer" in source or "fire" in source:
            return None  # reads its arguments in a way --help may not show
        return False, f"{script.name} parses no arguments: restarts would ignore {flag}"
    probe = [interpreter, str(script), "--help"]
    try:  # the whole tree is killed at the timeout, past the cap, and after the exit
        result = asyncio.run(
            run_to_completion(
                probe,
                stdin=b"",
                cwd=project_dir,
                env=env,
                timeout_s=_HELP_TIMEOUT_S,
                max_stdout=_HELP_MAX,
            )
        )
    except SpawnError as exc:  # not found, not executable, bad cwd
        return False, f"`{shlex.join(probe)}` did not answer: {exc}"
    killed = why_killed(result, timeout_s=_HELP_TIMEOUT_S, max_stdout=_HELP_MAX)
    if killed is not None:
        return False, f"`{shlex.join(probe)}` did not answer: {killed}"
    text = (result.stdout + result.stderr).decode("utf-8", "replace")
    if result.returncode != 0:
        return False, f"`{shlex.join(probe)}` exited {result.returncode}; cannot check {flag}"
    if _mentions(text, flag):
        return True, f"{script.name} accepts {flag}"
    return False, (
        f"{script.name} --help does not list {flag}: a restart with PHOENIX_RESUME_ARGS "
        "would stop at a usage error (Phoenix then drops the arguments and starts over)"
    )


def rejected(
    lines: Sequence[str], returncode: int | None, duration_s: float, resume_args: str
) -> str:
    """Why a restart with the resume arguments was refused by the script, or ''."""
    flag = resume_flag(resume_args)
    if flag is None or returncode not in (1, 2) or duration_s > _QUICK_S:
        return ""
    for line in lines[-40:]:
        low = line.lower()
        if any(u in low for u in _USAGE) and _mentions(line, flag):
            return line.strip()[:200]
    return ""


_OUTPUT_DIR = re.compile(r"""output_dir\s*=\s*['"]([^'"{}]+)['"]""")


def trainer_hint(source: str) -> str:
    """Settings for a script that uses the Hugging Face Trainer ('' when it does not)."""
    if not ("Trainer(" in source or "TrainingArguments" in source or "save_steps" in source):
        return ""
    m = _OUTPUT_DIR.search(source)
    where = f"{m.group(1).rstrip('/')}/checkpoint-*" if m else "<output_dir>/checkpoint-*"
    return (
        "the script uses the Hugging Face Trainer; so that a restart resumes from its last "
        f"checkpoint, set PHOENIX_CHECKPOINT_GLOB='{where}' and "
        "PHOENIX_RESUME_ARGS='--resume_from_checkpoint {checkpoint}' (the script must accept "
        "that flag and pass it to trainer.train(resume_from_checkpoint=...)), and save_steps "
        "in TrainingArguments"
    )
