"""Settings: one table of every setting, resolved flags > environment > phoenix.toml > defaults.

Pure: ``resolve`` takes the flags, the environment and the parsed TOML as values and returns
:class:`Settings` plus where each value came from. A bad value raises :class:`ConfigError`
naming the variable as the user wrote it (``PHOENIX_X``, ``--x`` or ``phoenix.toml: x``).
"""

from __future__ import annotations

__all__ = [
    "SPECS",
    "Settings",
    "Spec",
    "load_toml",
    "resolve",
    "shown_value",
]

import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from phoenix_engine.core.redact import mask_userinfo
from phoenix_engine.errors import ConfigError

Parser = Callable[[str], Any]


class _Bad(ValueError):
    """A parser's refusal; carries what the setting accepts."""


def _int(lo: int, hi: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        try:
            value = int(raw.strip().replace("_", ""))
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            span = f"between {lo} and {hi}" if hi is not None else f">= {lo}"
            raise _Bad(f"a whole number {span}")
        return value

    return parse


def _float(lo: float, hi: float | None = None, note: str = "") -> Parser:
    def parse(raw: str) -> float:
        try:
            value = float(raw.strip())
        except ValueError:
            value = float("nan")
        if not (value >= lo and (hi is None or value <= hi)) or value == float("inf"):
            span = f"between {lo:g} and {hi:g}" if hi is not None else f">= {lo:g}"
            raise _Bad(f"a number {span}{note}")
        return value

    return parse


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise _Bad("1/0, true/false, yes/no or on/off")


def _choice(*choices: str, aliases: Mapping[str, str] | None = None) -> Parser:
    def parse(raw: str) -> str:
        low = raw.strip().lower()
        low = (aliases or {}).get(low, low)
        if low not in choices:
            raise _Bad("one of " + ", ".join(choices))
        return low

    return parse


def _text(raw: str) -> str:
    return raw.strip()


def _command(raw: str) -> str:
    text = raw.strip()
    try:
        shlex.split(text)
    except ValueError as exc:
        raise _Bad(f"a shell-style command line ({exc})") from None
    return text


def _list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(";") if part.strip())


def _commands(raw: str) -> tuple[str, ...]:
    items = _list(raw)
    for item in items:
        _command(item)
    return items


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3}


def _bytes(raw: str) -> int:
    m = _SIZE.match(raw)
    if not m:
        raise _Bad("a size in bytes, e.g. 5000000, 5MB or 5MiB (0 disables rotation)")
    unit = (m.group(2) or "").lower()
    base = 1024 if "i" in unit else 1
    mult = _UNITS[unit[:1]] if base == 1 else 1024 ** ("bkmg".index(unit[0]))
    return int(float(m.group(1)) * mult)


def _url(raw: str) -> str:
    text = raw.strip()
    if text and not re.match(r"^https?://[^\s/]+", text):
        raise _Bad("an http:// or https:// URL")
    return text


def _regex(raw: str) -> str:
    text = raw.strip()
    if not text:
        return ""
    try:
        compiled = re.compile(text)
    except re.error as exc:
        raise _Bad(f"a regular expression with one capture group ({exc})") from None
    if compiled.groups < 1:
        raise _Bad("a regular expression with one capture group")
    return text


def _digits(raw: str) -> str:
    text = raw.strip()
    if text and not text.isdigit():
        raise _Bad("a Discord channel ID (digits only)")
    return text


def _approval(raw: str) -> str:
    text = raw.strip().lower()
    if text in ("", "auto", "manual"):
        return text
    m = re.fullmatch(r"timeout:(\d+(?:\.\d+)?)", text)
    if m and float(m.group(1)) > 0:
        return text
    raise _Bad("auto, manual or timeout:SECONDS (e.g. timeout:600)")


def _ids(raw: str) -> tuple[str, ...]:
    items = tuple(part.strip() for part in re.split(r"[;,\s]+", raw) if part.strip())
    if not all(item.isdigit() for item in items):
        raise _Bad("Discord user IDs (digits), separated by ';' or ','")
    return items


def _env_name(raw: str) -> str:
    text = raw.strip()
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise _Bad("the name of an environment variable")
    return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """One setting: its field, its environment variable, how to parse it, its default."""

    field: str
    env: str
    parse: Parser
    default: str
    help: str
    secret: bool = False
    flag: bool = True

    @property
    def option(self) -> str:
        return "--" + self.field.replace("_", "-")


def _s(field_: str, env: str, parse: Parser, default: str, help_: str, **kw: Any) -> Spec:
    return Spec(field=field_, env=env, parse=parse, default=default, help=help_, **kw)


SPECS: tuple[Spec, ...] = (
    _s("train_cmd", "PHOENIX_TRAIN_CMD", _command, "python train.py", "the training command"),
    _s("allowlist", "PHOENIX_ALLOWLIST", _list, "*.py", "';'-separated globs a patch may touch"),
    _s(
        "primary",
        "PHOENIX_PRIMARY",
        _choice("gemini_cli", "gemini_api", "openai", "cmd", "builtin", "none"),
        "gemini_cli",
        "the first LLM provider asked",
    ),
    _s(
        "gemini_api_key_env",
        "GEMINI_API_KEY_ENV",
        _env_name,
        "GEMINI_API_KEY",
        "name of the variable holding the Gemini API key",
    ),
    _s("gemini_model", "GEMINI_MODEL", _text, "gemini-flash-latest", "Gemini model name"),
    _s("dry_run", "PHOENIX_DRY_RUN", _bool, "0", "back up but write no file"),
    _s("max_retries", "PHOENIX_MAX_RETRIES", _int(0), "3", "attempts per failure signature"),
    _s("max_restarts", "PHOENIX_MAX_RESTARTS", _int(0), "20", "restarts per run, all causes"),
    _s(
        "max_no_progress_restarts",
        "PHOENIX_MAX_NO_PROGRESS_RESTARTS",
        _int(1),
        "3",
        "restarts in a row without a new step or checkpoint before giving up",
    ),
    _s(
        "max_wait_min",
        "PHOENIX_MAX_WAIT_MIN",
        _float(0),
        "30",
        "longest wait for other processes to free GPU memory before restarting",
    ),
    _s("tail", "PHOENIX_TAIL", _int(1), "200", "log lines kept for diagnosis"),
    _s("max_file_chars", "PHOENIX_MAX_FILE_CHARS", _int(200), "120000", "source chars per file"),
    _s("max_prompt_chars", "PHOENIX_MAX_PROMPT_CHARS", _int(1000), "180000", "prompt size cap"),
    _s(
        "heartbeat_min",
        "PHOENIX_HEARTBEAT_MIN",
        _float(0, note="; 0 disables"),
        "15",
        "minutes of silence that make a hang (0 disables)",
    ),
    _s(
        "heartbeat_startup_min",
        "PHOENIX_HEARTBEAT_STARTUP_MIN",
        _float(0, note="; 0 disables"),
        "",
        "silence allowed before the training's first words (default: twice the heartbeat)",
    ),
    _s(
        "heartbeat_learn",
        "PHOENIX_HEARTBEAT_LEARN",
        _bool,
        "0",
        "learn the hang limit from the run's rhythm (10x the longest gap, >= 2 min)",
    ),
    _s(
        "pty",
        "PHOENIX_PTY",
        _choice("auto", "on", "off"),
        "auto",
        "run the training on a pseudo-terminal (auto: when its progress bars need one)",
    ),
    _s("kill_grace_sec", "PHOENIX_KILL_GRACE_SEC", _float(0), "10", "grace between stop signals"),
    _s("test_cmd", "PHOENIX_TEST_CMD", _command, "", "test command run in the shadow copy"),
    _s("test_timeout_sec", "PHOENIX_TEST_TIMEOUT_SEC", _float(1), "600", "test command timeout"),
    _s(
        "sandbox",
        "PHOENIX_SANDBOX",
        _choice("auto", "require", "off"),
        "auto",
        "run the shadow test in bubblewrap: when it works, always (or refuse), or never",
    ),
    _s("log_max_bytes", "PHOENIX_LOG_MAX_BYTES", _bytes, "5MB", "rotate logs past this size"),
    _s("max_backups", "PHOENIX_MAX_BACKUPS", _int(1), "20", "backups kept"),
    _s("cooldown_seconds", "PHOENIX_COOLDOWN_SECONDS", _float(0), "5", "pause before a restart"),
    _s("lock_stale", "PHOENIX_LOCK_STALE", _float(0), "0", "kept for compatibility (see README)"),
    _s(
        "patch_mode",
        "PHOENIX_PATCH_MODE",
        _choice("auto", "restart-only", "analyze-only"),
        "auto",
        "repair, restart only, or diagnose only",
    ),
    _s(
        "fallback_llm_type",
        "PHOENIX_FALLBACK_LLM_TYPE",
        _choice("cmd", "api", aliases={"cli": "cmd"}),
        "cmd",
        "fallback transport: a local command or an OpenAI-compatible API",
    ),
    _s("fallback_llm_cmd", "PHOENIX_FALLBACK_LLM_CMD", _commands, "", "';'-separated commands"),
    _s(
        "fallback_llm_url",
        "PHOENIX_FALLBACK_LLM_URL",
        _url,
        "http://localhost:1234/v1/chat/completions",
        "OpenAI-compatible /v1/chat/completions URL",
    ),
    _s("fallback_llm_model", "PHOENIX_FALLBACK_LLM_MODEL", _text, "", "model (empty: automatic)"),
    _s("fallback_max_per_run", "PHOENIX_FALLBACK_MAX_PER_RUN", _int(0), "5", "fallback uses"),
    _s("llm_timeout_sec", "PHOENIX_LLM_TIMEOUT_SEC", _float(1), "180", "timeout per LLM request"),
    _s(
        "gemini_base_url",
        "PHOENIX_GEMINI_BASE_URL",
        _url,
        "https://generativelanguage.googleapis.com",
        "Gemini API base URL",
    ),
    _s("gemini_cli", "PHOENIX_GEMINI_CLI", _command, "gemini", "the Gemini CLI executable"),
    _s(
        "reply_format",
        "PHOENIX_REPLY_FORMAT",
        _choice("json", "diff"),
        "json",
        "what the prompt asks the model for",
    ),
    _s("protected", "PHOENIX_PROTECTED", _list, "", "extra ';'-separated protected globs"),
    _s("max_patch_lines", "PHOENIX_MAX_PATCH_LINES", _int(1), "50", "changed lines per repair"),
    _s("max_patch_files", "PHOENIX_MAX_PATCH_FILES", _int(1), "3", "files per repair"),
    _s("notify_steps", "PHOENIX_NOTIFY_STEPS", _int(0), "0", "progress event every N steps"),
    _s("loss_regex", "PHOENIX_LOSS_REGEX", _regex, "", "regex with one group for the loss"),
    _s("data_dir", "PHOENIX_DATA_DIR", _text, "data", "data directory (never patched)"),
    _s(
        "max_gpu_temp",
        "PHOENIX_MAX_GPU_TEMP",
        _int(1, 200),
        "100",
        "GPU temperature limit in C (100 = off)",
    ),
    _s(
        "discord_webhook_url",
        "PHOENIX_DISCORD_WEBHOOK_URL",
        _url,
        "",
        "Discord webhook for notifications",
        secret=True,
        flag=False,
    ),
    _s(
        "discord_bot_token",
        "PHOENIX_DISCORD_BOT_TOKEN",
        _text,
        "",
        "Discord bot token for remote control",
        secret=True,
        flag=False,
    ),
    _s("discord_channel_id", "PHOENIX_DISCORD_CHANNEL_ID", _digits, "", "Discord channel ID"),
    _s(
        "approval",
        "PHOENIX_APPROVAL",
        _approval,
        "",
        "auto, manual or timeout:SECONDS (default: manual in the console, auto headless)",
    ),
    _s("log_lines", "PHOENIX_LOG_LINES", _int(100), "10000", "log lines the console keeps"),
    _s("max_gpu_power_w", "PHOENIX_MAX_GPU_POWER_W", _float(0), "0", "GPU power limit (0 = off)"),
    _s(
        "min_free_disk_gb",
        "PHOENIX_MIN_FREE_DISK_GB",
        _float(0),
        "0",
        "free disk below this stops the run (0 = off)",
    ),
    _s("guard_samples", "PHOENIX_GUARD_SAMPLES", _int(1), "3", "samples a breach must last"),
    _s(
        "guard_resume_margin",
        "PHOENIX_GUARD_RESUME_MARGIN",
        _float(0),
        "5",
        "how far below a limit a reading must fall before restarting",
    ),
    _s("step_regex", "PHOENIX_STEP_REGEX", _regex, "", "regex with one group for the step"),
    _s("stall_min", "PHOENIX_STALL_MIN", _float(0), "30", "minutes without a new step (0 = off)"),
    _s(
        "nan_action",
        "PHOENIX_NAN_ACTION",
        _choice("notify", "stop", "repair"),
        "notify",
        "what a NaN/inf loss does",
    ),
    _s(
        "data_verify",
        "PHOENIX_DATA_VERIFY",
        _choice("warn", "strict", "off"),
        "warn",
        "data directory check at start",
    ),
    _s("checkpoint_glob", "PHOENIX_CHECKPOINT_GLOB", _text, "", "where checkpoints appear"),
    _s(
        "resume_args",
        "PHOENIX_RESUME_ARGS",
        _text,
        "",
        "arguments added on restart, {checkpoint} replaced by the newest complete one",
    ),
    _s("discord_poll_sec", "PHOENIX_DISCORD_POLL_SEC", _float(1), "5", "Discord polling interval"),
    _s(
        "discord_allowed_users",
        "PHOENIX_DISCORD_ALLOWED_USERS",
        _ids,
        "",
        "Discord user IDs allowed to command (';' or ',' separated)",
    ),
    _s(
        "discord_api_base",
        "PHOENIX_DISCORD_API_BASE",
        _url,
        "https://discord.com/api/v10",
        "Discord REST API base URL",
    ),
    _s(
        "gpu_interval_sec",
        "PHOENIX_GPU_INTERVAL_SEC",
        _float(0.25),
        "2",
        "seconds between GPU and host samples",
    ),
    _s("eval_cmd", "PHOENIX_EVAL_CMD", _command, "", "evaluation run after a completed training"),
    _s("candidate_glob", "PHOENIX_CANDIDATE_GLOB", _text, "", "where the final model is written"),
    _s("eval_timeout_sec", "PHOENIX_EVAL_TIMEOUT_SEC", _float(1), "1800", "evaluation timeout"),
    _s(
        "eval_metric_regex",
        "PHOENIX_EVAL_METRIC_REGEX",
        _regex,
        "",
        "regex with one group for the evaluation's score",
    ),
    _s("eval_goal", "PHOENIX_EVAL_GOAL", _choice("min", "max"), "min", "lower or higher is better"),
    _s(
        "eval_tolerance",
        "PHOENIX_EVAL_TOLERANCE",
        _float(0),
        "0",
        "how much worse than the model in service still passes (relative: 0.02 = 2 percent)",
    ),
    _s("promote_path", "PHOENIX_PROMOTE_PATH", _text, "", "symlink to the model in service"),
    _s("promote_cmd", "PHOENIX_PROMOTE_CMD", _command, "", "command run after a promotion"),
)

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

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.train_cmd)

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be shown: keys, tokens, webhook URLs."""
        values = [self.gemini_api_key, self.discord_webhook_url, self.discord_bot_token]
        return tuple(v for v in values if v)


def load_toml(path: Path) -> dict[str, Any]:
    """Read ``phoenix.toml``; a missing file is empty, a broken one a ConfigError."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError as exc:  # tomllib decodes the whole file first
        where = f"byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
        raise ConfigError(str(path), "<file>", f"UTF-8 text (not UTF-8: {where})") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(path), "<file>", f"a readable TOML file ({exc})") from exc
    table = data.get("phoenix", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [phoenix]", str(table), "a table of settings")
    return table


def _toml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def _parse(spec: Spec, raw: str, where: str) -> Any:
    try:
        return spec.parse(raw)
    except _Bad as exc:
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
