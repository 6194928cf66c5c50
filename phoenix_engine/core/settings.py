"""Settings: one table of every setting, resolved flags > environment > phoenix.toml > defaults.

Pure: ``resolve`` takes the flags, the environment and the parsed TOML as values and returns
:class:`Settings` plus where each value came from. A bad value raises :class:`ConfigError`
naming the variable as the user wrote it (``PHOENIX_X``, ``--x`` or ``phoenix.toml: x``).

The table itself (:data:`SPECS`, one :class:`Spec` a setting) is ``_setting_specs``'s, the
parsers it names are ``_setting_parsers``'; both are re-exported here where public.
"""

from __future__ import annotations

__all__ = [
    "SPECS",
    "Settings",
    "Spec",
    "resolve",
    "shown_value",
]

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from phoenix_engine.core._setting_parsers import BadValue
from phoenix_engine.core._setting_specs import SPECS, Spec
from phoenix_engine.core.redact import mask_userinfo
from phoenix_engine.errors import ConfigError

_BY_FIELD = {spec.field: spec for spec in SPECS}
_BY_TOML = {spec.field: spec for spec in SPECS} | {spec.env.lower(): spec for spec in SPECS}


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Every resolved setting; ``sources`` says where each came from."""

    project_dir: Path
    train_cmd: str
    allowlist: tuple[str, ...]
    primary: str
    gemini_api_key_env: str
    gemini_model: str
    dry_run: bool
    max_retries: int
    max_restarts: int
    max_no_progress_restarts: int
    max_wait_min: float
    tail: int
    max_file_chars: int
    max_prompt_chars: int
    heartbeat_min: float
    heartbeat_startup_min: float
    heartbeat_learn: bool
    pty: str
    kill_grace_sec: float
    test_cmd: str
    test_timeout_sec: float
    sandbox: str
    log_max_bytes: int
    max_backups: int
    cooldown_seconds: float
    lock_stale: float
    patch_mode: str
    fallback_llm_type: str
    fallback_llm_cmd: tuple[str, ...]
    fallback_llm_url: str
    fallback_llm_model: str
    fallback_max_per_run: int
    llm_timeout_sec: float
    gemini_base_url: str
    gemini_cli: str
    reply_format: str
    protected: tuple[str, ...]
    max_patch_lines: int
    max_patch_files: int
    notify_steps: int
    loss_regex: str
    data_dir: str
    max_gpu_temp: int
    discord_webhook_url: str
    discord_bot_token: str
    discord_channel_id: str
    approval: str
    log_lines: int
    max_gpu_power_w: float
    min_free_disk_gb: float
    guard_samples: int
    guard_resume_margin: float
    step_regex: str
    stall_min: float
    nan_action: str
    data_verify: str
    checkpoint_glob: str
    resume_args: str
    discord_poll_sec: float
    discord_allowed_users: tuple[str, ...]
    discord_api_base: str
    gpu_interval_sec: float
    eval_cmd: str
    candidate_glob: str
    eval_timeout_sec: float
    eval_metric_regex: str
    eval_goal: str
    eval_tolerance: float
    promote_path: str
    promote_cmd: str
    gemini_api_key: str = field(default="", repr=False)
    sources: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.project_dir / ".phoenix_cli"

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be shown: keys, tokens, webhook URLs."""
        values = [self.gemini_api_key, self.discord_webhook_url, self.discord_bot_token]
        return tuple(v for v in values if v)


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def _parse(spec: Spec, raw: str, where: str) -> Any:
    try:
        return spec.parse(raw)
    except BadValue as exc:
        raise ConfigError(where, raw, str(exc)) from None


def resolve(
    *,
    project_dir: Path,
    env: Mapping[str, str],
    flags: Mapping[str, str] | None = None,
    toml: Mapping[str, Any] | None = None,
    toml_name: str = "phoenix.toml",
) -> Settings:
    """Resolve every setting; the first source that names a setting wins."""
    flags = flags or {}
    from_toml: dict[str, tuple[str, str]] = {}
    for key, value in (toml or {}).items():
        spec = _BY_TOML.get(key.lower())
        if spec is None:
            raise ConfigError(f"{toml_name}: {key}", _toml_text(value), "a known setting name")
        if spec.secret:
            raise ConfigError(
                f"{toml_name}: {key}", "<hidden>", f"to be set in the environment ({spec.env})"
            )
        from_toml[spec.field] = (_toml_text(value), f"{toml_name}: {key}")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for spec in SPECS:
        if spec.field in flags:
            raw, where, source = flags[spec.field], spec.option, "flag"
        elif spec.env in env:
            raw, where, source = env[spec.env], spec.env, "env"
        elif spec.field in from_toml:
            raw, where = from_toml[spec.field]
            source = "phoenix.toml"
        else:
            raw, where, source = spec.default, spec.env, "default"
        if spec.field == "heartbeat_startup_min" and source == "default":
            values[spec.field] = None
        else:
            values[spec.field] = _parse(spec, raw, where)
        sources[spec.field] = source
    if values["heartbeat_startup_min"] is None:
        values["heartbeat_startup_min"] = 2 * values["heartbeat_min"]
    if not values["train_cmd"]:
        raise ConfigError(
            "PHOENIX_TRAIN_CMD", "", "a training command (set it, or pass it after --)"
        )
    if (values["eval_cmd"] or values["promote_path"]) and not (
        values["candidate_glob"] or values["checkpoint_glob"]
    ):
        raise ConfigError(
            "PHOENIX_CANDIDATE_GLOB",
            "",
            "where the trained model is (needed by PHOENIX_EVAL_CMD and PHOENIX_PROMOTE_PATH; "
            "PHOENIX_CHECKPOINT_GLOB also serves)",
        )
    key_env = values["gemini_api_key_env"]
    return Settings(
        project_dir=project_dir,
        gemini_api_key=env.get(key_env, "").strip(),
        sources=sources,
        **values,
    )


def shown_value(settings: Settings, name: str) -> str:
    """A setting as ``phoenix doctor`` shows it: secrets masked, tuples joined."""
    spec = _BY_FIELD[name]
    value = getattr(settings, name)
    if spec.secret:
        return "(set, hidden)" if value else "(not set)"
    if isinstance(value, tuple):
        return ";".join(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return mask_userinfo(str(value))  # a URL may carry user:password@


def _check_fields() -> None:
    names = {f.name for f in fields(Settings)} - {"project_dir", "gemini_api_key", "sources"}
    missing = names ^ set(_BY_FIELD)
    assert not missing, f"Settings and SPECS disagree: {sorted(missing)}"


_check_fields()
