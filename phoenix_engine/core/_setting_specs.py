"""The settings table: every setting's field, environment variable, parser, default and help.

One row per setting; flags (``--field-name``), the environment, ``phoenix.toml`` keys (the
field or the variable's name in lower case), ``phoenix doctor``, the README's table and the
:class:`~phoenix_engine.core.settings.Settings` fields all come from it. Longer than the other
modules because it is the table. Re-exported by :mod:`phoenix_engine.core.settings`.
"""

from __future__ import annotations

__all__ = ["SPECS", "Spec"]

from dataclasses import dataclass
from typing import Any

from phoenix_engine.core._setting_parsers import (
    Parser,
    approval,
    boolean,
    choice,
    command,
    commands,
    digits,
    env_name,
    number,
    regex,
    semicolons,
    size,
    text,
    url,
    user_ids,
    whole,
)


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

    @property
    def switch(self) -> bool:
        """A yes/no setting: its flag takes no value (``--dry-run``)."""
        return self.parse is boolean


def _s(field_: str, env: str, parse: Parser, default: str, help_: str, **kw: Any) -> Spec:
    return Spec(field=field_, env=env, parse=parse, default=default, help=help_, **kw)


SPECS: tuple[Spec, ...] = (
    _s("train_cmd", "PHOENIX_TRAIN_CMD", command, "python train.py", "the training command"),
    _s(
        "allowlist",
        "PHOENIX_ALLOWLIST",
        semicolons,
        "*.py",
        "';'-separated globs a patch may touch",
    ),
    _s(
        "primary",
        "PHOENIX_PRIMARY",
        choice("gemini_cli", "gemini_api", "openai", "cmd", "builtin", "none"),
        "gemini_cli",
        "the first LLM provider asked",
    ),
    _s(
        "gemini_api_key_env",
        "GEMINI_API_KEY_ENV",
        env_name,
        "GEMINI_API_KEY",
        "name of the variable holding the Gemini API key",
    ),
    _s("gemini_model", "GEMINI_MODEL", text, "gemini-flash-latest", "Gemini model name"),
    _s("dry_run", "PHOENIX_DRY_RUN", boolean, "0", "back up but write no file"),
    _s("max_retries", "PHOENIX_MAX_RETRIES", whole(0), "3", "attempts per failure signature"),
    _s("max_restarts", "PHOENIX_MAX_RESTARTS", whole(0), "20", "restarts per run, all causes"),
    _s(
        "max_no_progress_restarts",
        "PHOENIX_MAX_NO_PROGRESS_RESTARTS",
        whole(1),
        "3",
        "restarts in a row without a new step or checkpoint before giving up",
    ),
    _s(
        "max_wait_min",
        "PHOENIX_MAX_WAIT_MIN",
        number(0),
        "30",
        "longest wait for other processes to free GPU memory before restarting",
    ),
    _s("tail", "PHOENIX_TAIL", whole(1), "200", "log lines kept for diagnosis"),
    _s("max_file_chars", "PHOENIX_MAX_FILE_CHARS", whole(200), "120000", "source chars per file"),
    _s("max_prompt_chars", "PHOENIX_MAX_PROMPT_CHARS", whole(1000), "180000", "prompt size cap"),
    _s(
        "heartbeat_min",
        "PHOENIX_HEARTBEAT_MIN",
        number(0, note="; 0 disables"),
        "15",
        "minutes of silence that make a hang (0 disables)",
    ),
    _s(
        "heartbeat_startup_min",
        "PHOENIX_HEARTBEAT_STARTUP_MIN",
        number(0, note="; 0 disables"),
        "",
        "silence allowed before the training's first words (default: twice the heartbeat)",
    ),
    _s(
        "heartbeat_learn",
        "PHOENIX_HEARTBEAT_LEARN",
        boolean,
        "0",
        "learn the hang limit from the run's rhythm (10x the longest gap, >= 2 min)",
    ),
    _s(
        "pty",
        "PHOENIX_PTY",
        choice("auto", "on", "off"),
        "auto",
        "run the training on a pseudo-terminal (auto: when its progress bars need one)",
    ),
    _s("kill_grace_sec", "PHOENIX_KILL_GRACE_SEC", number(0), "10", "grace between stop signals"),
    _s("test_cmd", "PHOENIX_TEST_CMD", command, "", "test command run in the shadow copy"),
    _s("test_timeout_sec", "PHOENIX_TEST_TIMEOUT_SEC", number(1), "600", "test command timeout"),
    _s(
        "sandbox",
        "PHOENIX_SANDBOX",
        choice("auto", "require", "off"),
        "auto",
        "run the shadow test in bubblewrap: when it works, always (or refuse), or never",
    ),
    _s("log_max_bytes", "PHOENIX_LOG_MAX_BYTES", size, "5MB", "rotate logs past this size"),
    _s("max_backups", "PHOENIX_MAX_BACKUPS", whole(1), "20", "backups kept"),
    _s("cooldown_seconds", "PHOENIX_COOLDOWN_SECONDS", number(0), "5", "pause before a restart"),
    _s("lock_stale", "PHOENIX_LOCK_STALE", number(0), "0", "kept for compatibility (see README)"),
    _s(
        "patch_mode",
        "PHOENIX_PATCH_MODE",
        choice("auto", "restart-only", "analyze-only"),
        "auto",
        "repair, restart only, or diagnose only",
    ),
    _s(
        "fallback_llm_type",
        "PHOENIX_FALLBACK_LLM_TYPE",
        choice("cmd", "api", aliases={"cli": "cmd"}),
        "cmd",
        "fallback transport: a local command or an OpenAI-compatible API",
    ),
    _s("fallback_llm_cmd", "PHOENIX_FALLBACK_LLM_CMD", commands, "", "';'-separated commands"),
    _s(
        "fallback_llm_url",
        "PHOENIX_FALLBACK_LLM_URL",
        url,
        "http://localhost:1234/v1/chat/completions",
        "OpenAI-compatible /v1/chat/completions URL",
    ),
    _s("fallback_llm_model", "PHOENIX_FALLBACK_LLM_MODEL", text, "", "model (empty: automatic)"),
    _s("fallback_max_per_run", "PHOENIX_FALLBACK_MAX_PER_RUN", whole(0), "5", "fallback uses"),
    _s("llm_timeout_sec", "PHOENIX_LLM_TIMEOUT_SEC", number(1), "180", "timeout per LLM request"),
    _s(
        "gemini_base_url",
        "PHOENIX_GEMINI_BASE_URL",
        url,
        "https://generativelanguage.googleapis.com",
        "Gemini API base URL",
    ),
    _s("gemini_cli", "PHOENIX_GEMINI_CLI", command, "gemini", "the Gemini CLI executable"),
    _s(
        "reply_format",
        "PHOENIX_REPLY_FORMAT",
        choice("json", "diff"),
        "json",
        "what the prompt asks the model for",
    ),
    _s("protected", "PHOENIX_PROTECTED", semicolons, "", "extra ';'-separated protected globs"),
    _s("max_patch_lines", "PHOENIX_MAX_PATCH_LINES", whole(1), "50", "changed lines per repair"),
    _s("max_patch_files", "PHOENIX_MAX_PATCH_FILES", whole(1), "3", "files per repair"),
    _s("notify_steps", "PHOENIX_NOTIFY_STEPS", whole(0), "0", "progress event every N steps"),
    _s("loss_regex", "PHOENIX_LOSS_REGEX", regex, "", "regex with one group for the loss"),
    _s("data_dir", "PHOENIX_DATA_DIR", text, "data", "data directory (never patched)"),
    _s(
        "max_gpu_temp",
        "PHOENIX_MAX_GPU_TEMP",
        whole(1, 200),
        "100",
        "GPU temperature limit in C (100 = off)",
    ),
    _s(
        "discord_webhook_url",
        "PHOENIX_DISCORD_WEBHOOK_URL",
        url,
        "",
        "Discord webhook for notifications",
        secret=True,
        flag=False,
    ),
    _s(
        "discord_bot_token",
        "PHOENIX_DISCORD_BOT_TOKEN",
        text,
        "",
        "Discord bot token for remote control",
        secret=True,
        flag=False,
    ),
    _s("discord_channel_id", "PHOENIX_DISCORD_CHANNEL_ID", digits, "", "Discord channel ID"),
    _s(
        "approval",
        "PHOENIX_APPROVAL",
        approval,
        "",
        "auto, manual or timeout:SECONDS (default: manual in the console, auto headless)",
    ),
    _s("log_lines", "PHOENIX_LOG_LINES", whole(100), "10000", "log lines the console keeps"),
    _s("max_gpu_power_w", "PHOENIX_MAX_GPU_POWER_W", number(0), "0", "GPU power limit (0 = off)"),
    _s(
        "min_free_disk_gb",
        "PHOENIX_MIN_FREE_DISK_GB",
        number(0),
        "0",
        "free disk below this stops the run (0 = off)",
    ),
    _s("guard_samples", "PHOENIX_GUARD_SAMPLES", whole(1), "3", "samples a breach must last"),
    _s(
        "guard_resume_margin",
        "PHOENIX_GUARD_RESUME_MARGIN",
        number(0),
        "5",
        "how far below a limit a reading must fall before restarting",
    ),
    _s("step_regex", "PHOENIX_STEP_REGEX", regex, "", "regex with one group for the step"),
    _s("stall_min", "PHOENIX_STALL_MIN", number(0), "30", "minutes without a new step (0 = off)"),
    _s(
        "nan_action",
        "PHOENIX_NAN_ACTION",
        choice("notify", "stop", "repair"),
        "notify",
        "what a NaN/inf loss does",
    ),
    _s(
        "data_verify",
        "PHOENIX_DATA_VERIFY",
        choice("warn", "strict", "off"),
        "warn",
        "data directory check at start",
    ),
    _s("checkpoint_glob", "PHOENIX_CHECKPOINT_GLOB", text, "", "where checkpoints appear"),
    _s(
        "resume_args",
        "PHOENIX_RESUME_ARGS",
        text,
        "",
        "arguments added on restart, {checkpoint} replaced by the newest complete one",
    ),
    _s("discord_poll_sec", "PHOENIX_DISCORD_POLL_SEC", number(1), "5", "Discord polling interval"),
    _s(
        "discord_allowed_users",
        "PHOENIX_DISCORD_ALLOWED_USERS",
        user_ids,
        "",
        "Discord user IDs allowed to command (';' or ',' separated)",
    ),
    _s(
        "discord_api_base",
        "PHOENIX_DISCORD_API_BASE",
        url,
        "https://discord.com/api/v10",
        "Discord REST API base URL",
    ),
    _s(
        "gpu_interval_sec",
        "PHOENIX_GPU_INTERVAL_SEC",
        number(0.25),
        "2",
        "seconds between GPU and host samples",
    ),
    _s("eval_cmd", "PHOENIX_EVAL_CMD", command, "", "evaluation run after a completed training"),
    _s("candidate_glob", "PHOENIX_CANDIDATE_GLOB", text, "", "where the final model is written"),
    _s("eval_timeout_sec", "PHOENIX_EVAL_TIMEOUT_SEC", number(1), "1800", "evaluation timeout"),
    _s(
        "eval_metric_regex",
        "PHOENIX_EVAL_METRIC_REGEX",
        regex,
        "",
        "regex with one group for the evaluation's score",
    ),
    _s("eval_goal", "PHOENIX_EVAL_GOAL", choice("min", "max"), "min", "lower or higher is better"),
    _s(
        "eval_tolerance",
        "PHOENIX_EVAL_TOLERANCE",
        number(0),
        "0",
        "how much worse than the model in service still passes (relative: 0.02 = 2 percent)",
    ),
    _s("promote_path", "PHOENIX_PROMOTE_PATH", text, "", "symlink to the model in service"),
    _s("promote_cmd", "PHOENIX_PROMOTE_CMD", command, "", "command run after a promotion"),
)
