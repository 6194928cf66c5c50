"""``phoenix doctor``: what can go wrong before a night, checked now.

Each check is a value (name, ok, detail); printing is the front end's job.
"""

from __future__ import annotations

__all__ = ["Check", "command_problem", "run_checks", "setting_label"]

import dataclasses
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from phoenix_engine.core.command_line import parse
from phoenix_engine.core.policy import allowlisted
from phoenix_engine.core.settings import SPECS, Settings
from phoenix_engine.errors import StateError
from phoenix_engine.io.lock import ProjectLock

_SPEC = {spec.field: spec for spec in SPECS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # a problem that does not stop a run


def setting_label(settings: Settings, field: str) -> str:
    """How the user wrote a setting: ``--x``, ``PHOENIX_X`` or ``phoenix.toml: x``."""
    spec = _SPEC[field]
    source = settings.sources.get(field, "default")
    if source == "flag":
        return "the command after --" if field == "train_cmd" else spec.option
    if source == "phoenix.toml":
        return f"phoenix.toml: {field}"
    return spec.env


def command_problem(settings: Settings, env: Mapping[str, str]) -> str:
    """Why the training command cannot start ('' when it can, as far as we can tell)."""
    line = parse(settings.train_cmd)
    if not line.argv:
        return "the training command is empty"
    exe = line.program  # after `V=1` and `env`: the program the line really starts
    if not exe:
        return ""  # only the shell can tell ($CMD, cd x && ...): a failure is a launch event
    if "/" in exe:
        path = (settings.project_dir / exe).resolve()
        if not path.is_file():
            return f"{exe} does not exist"
        if not os.access(path, os.X_OK):
            return f"{exe} is not executable"
        return ""
    if shutil.which(exe, path=env.get("PATH", os.defpath)) is None:
        return f"`{exe}` was not found on PATH"
    return ""


_SKIP_DIRS = {".git", ".phoenix_cli", ".venv", "venv", "node_modules", "__pycache__"}


def _allowlist_check(settings: Settings) -> Check:
    """Does the allowlist match any file? Walks at most 20,000 entries."""
    root = settings.project_dir
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIP_DIRS]
        for name in filenames:
            seen += 1
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            if allowlisted(rel, settings.allowlist):
                return Check(name="allowlist", ok=True, detail=f"{rel} and perhaps more match")
        if seen > 20_000:
            break
    shown = ";".join(settings.allowlist) or "(empty)"
    detail = f"{shown} matches no file: no patch could ever be applied"
    return Check(name="allowlist", ok=False, detail=detail, warning=True)


def _state_dir_check(settings: Settings) -> Check:
    state = settings.state_dir
    try:
        state.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state, prefix=".probe-"):
            pass
    except OSError as exc:
        return Check(name="state directory", ok=False, detail=f"{state}: {exc.strerror or exc}")
    free = shutil.disk_usage(state).free / 1e9
    return Check(name="state directory", ok=True, detail=f"{state} writable, {free:.1f} GB free")


def _lock_check(settings: Settings) -> Check:
    lock = ProjectLock(settings.state_dir)
    if lock.is_free():
        return Check(name="lock", ok=True, detail="free: no other phoenix runs here")
    pid = lock.holder().get("pid", "?")
    return Check(name="lock", ok=False, detail=f"held by phoenix PID {pid}")


def _provider_checks(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    from phoenix_engine.llm._factory import describe

    if settings.patch_mode == "restart-only":
        return [Check(name="providers", ok=True, detail="restart-only: no model is asked")]
    rows = describe(settings, env)
    usable = any(ok for kind, ok, _ in rows if kind != "builtin")
    checks = [
        Check(name=f"provider {kind}", ok=ok, detail=detail, warning=not ok)
        for kind, ok, detail in rows
    ]
    if not usable and settings.primary != "none":
        checks.append(
            Check(
                name="providers",
                ok=False,
                warning=True,
                detail="no LLM provider is usable: only the offline doctor's fixes will be tried",
            )
        )
    return checks


def _discord_checks(settings: Settings) -> list[Check]:
    from phoenix_engine.remote.controller import doctor_lines

    return [
        Check(name=name, ok=ok, detail=detail, warning=not ok)
        for name, ok, detail in doctor_lines(settings)
    ]


def _checkpoint_checks(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    from phoenix_engine.io.checkpoints import detect_trainer_output

    if settings.checkpoint_glob and settings.resume_args:
        detail = f"restarts resume from the newest complete {settings.checkpoint_glob}"
        return [Check(name="checkpoints", ok=True, detail=detail), *_resume_flag(settings, env)]
    found = detect_trainer_output(settings.project_dir)
    if found is None:
        return _trainer_hint(settings)
    detail = (
        f"Hugging Face Trainer checkpoints found; to resume from them after a crash set "
        f"PHOENIX_CHECKPOINT_GLOB='{found}' and "
        "PHOENIX_RESUME_ARGS='--resume_from_checkpoint {checkpoint}'"
    )
    return [Check(name="checkpoints", ok=False, warning=True, detail=detail)]


def _resume_flag(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    """Does the script accept the resume flag? (its --help, when it parses arguments)"""
    from phoenix_engine.io.resumeflag import help_check

    verdict = help_check(
        parse(settings.train_cmd).words, settings.resume_args, settings.project_dir, env
    )
    if verdict is None:
        return []
    ok, detail = verdict
    return [Check(name="resume arguments", ok=ok, detail=detail, warning=not ok)]


def _trainer_hint(settings: Settings) -> list[Check]:
    """The Trainer's settings before the first night, read from the script itself."""
    from phoenix_engine.io.resumeflag import python_script, trainer_hint

    found = python_script(parse(settings.train_cmd).words, settings.project_dir)
    try:
        hint = trainer_hint(found[1].read_text(errors="replace")) if found else ""
    except OSError:
        hint = ""
    return [Check(name="checkpoints", ok=False, warning=True, detail=hint)] if hint else []


def _sandbox_check(settings: Settings, env: Mapping[str, str]) -> Check:
    """Can the shadow run's test command run in bubblewrap here?"""
    from phoenix_engine.io.sandbox import probe

    if settings.sandbox == "off":
        detail = "PHOENIX_SANDBOX=off: the shadow run's test command runs with your rights"
        return Check(name="sandbox", ok=False, warning=True, detail=detail)
    found = probe(env)
    if found.usable:
        return Check(name="sandbox", ok=True, detail=f"{found.bwrap} works: tests run contained")
    if settings.sandbox == "require":
        detail = f"{found.detail}; PHOENIX_SANDBOX=require refuses every tested patch"
        return Check(name="sandbox", ok=False, detail=detail)
    detail = f"{found.detail}; the shadow run's test command would run with your rights"
    return Check(name="sandbox", ok=False, warning=True, detail=detail)


def _triage_checks(settings: Settings) -> list[Check]:
    from phoenix_engine.core.triage_doctor import doctor_lines
    from phoenix_engine.io.state_store import StateStore

    try:
        fix = StateStore(settings.state_dir).load()[0].command
    except StateError:
        fix = {}
    rows = doctor_lines(settings, fix)
    return [Check(name=n, ok=ok, detail=d, warning=w) for n, ok, d, w in rows]


def _promotion_checks(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    from phoenix_engine.io.serving import doctor_lines

    def problem(command: str) -> str:
        return command_problem(dataclasses.replace(settings, train_cmd=command), env)

    return [
        Check(name=name, ok=ok, detail=detail, warning=warning)
        for name, ok, detail, warning in doctor_lines(settings, problem)
    ]


def run_checks(settings: Settings, env: Mapping[str, str]) -> list[Check]:
    problem = command_problem(settings, env)
    checks = [
        Check(
            name="training command",
            ok=not problem,
            detail=problem or f"`{settings.train_cmd}` found",
        ),
        _allowlist_check(settings),
        _state_dir_check(settings),
    ]
    if checks[-1].ok:
        checks.append(_lock_check(settings))
    checks.append(_sandbox_check(settings, env))
    checks.extend(_provider_checks(settings, env))
    checks.extend(_discord_checks(settings))
    checks.extend(_checkpoint_checks(settings, env))
    checks.extend(_promotion_checks(settings, env))
    checks.extend(_triage_checks(settings))
    if settings.lock_stale:
        checks.append(
            Check(
                name="PHOENIX_LOCK_STALE",
                ok=True,
                warning=True,
                detail="has no effect: the OS releases the lock when its holder dies",
            )
        )
    return checks
