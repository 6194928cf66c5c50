"""Settings resolution: precedence, parsing, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_engine.core.settings import SPECS, resolve, shown_value
from phoenix_engine.errors import ConfigError
from phoenix_engine.io.settings_file import load_toml

ROOT = Path("/project")


def test_defaults_parse_and_match_the_original_tool() -> None:
    s = resolve(project_dir=ROOT, env={})
    assert s.train_cmd == "python train.py"
    assert s.allowlist == ("*.py",)
    assert s.primary == "gemini_cli"
    assert s.gemini_model == "gemini-flash-latest"
    assert s.max_retries == 3
    assert s.heartbeat_min == 15.0
    assert s.heartbeat_startup_min == 30.0  # twice the heartbeat unless set
    assert s.log_max_bytes == 5_000_000
    assert s.fallback_max_per_run == 5
    assert s.max_gpu_temp == 100
    assert s.max_restarts == 20
    assert s.kill_grace_sec == 10.0
    assert s.patch_mode == "auto"
    assert all(v == "default" for v in s.sources.values())


def test_precedence_flags_over_env_over_toml_over_default() -> None:
    env = {"PHOENIX_TAIL": "50", "PHOENIX_MAX_RETRIES": "7"}
    toml = {"tail": 10, "max_retries": 9, "cooldown_seconds": 2.5}
    s = resolve(project_dir=ROOT, env=env, flags={"tail": "99"}, toml=toml)
    assert (s.tail, s.sources["tail"]) == (99, "flag")
    assert (s.max_retries, s.sources["max_retries"]) == (7, "env")
    assert (s.cooldown_seconds, s.sources["cooldown_seconds"]) == (2.5, "phoenix.toml")
    assert s.sources["heartbeat_min"] == "default"


def test_toml_accepts_env_style_keys_lists_and_booleans() -> None:
    toml = {"PHOENIX_ALLOWLIST": ["*.py", "configs/*.yaml"], "dry_run": True}
    s = resolve(project_dir=ROOT, env={}, toml=toml)
    assert s.allowlist == ("*.py", "configs/*.yaml")
    assert s.dry_run is True


def test_startup_heartbeat_follows_heartbeat_unless_set() -> None:
    assert (
        resolve(project_dir=ROOT, env={"PHOENIX_HEARTBEAT_MIN": "0.5"}).heartbeat_startup_min == 1
    )
    s = resolve(
        project_dir=ROOT,
        env={"PHOENIX_HEARTBEAT_MIN": "5", "PHOENIX_HEARTBEAT_STARTUP_MIN": "45"},
    )
    assert s.heartbeat_startup_min == 45
    assert resolve(project_dir=ROOT, env={"PHOENIX_HEARTBEAT_MIN": "0"}).heartbeat_startup_min == 0


@pytest.mark.parametrize(
    ("env", "variable", "accepts"),
    [
        ({"PHOENIX_MAX_RETRIES": "three"}, "PHOENIX_MAX_RETRIES", "whole number"),
        ({"PHOENIX_MAX_RETRIES": "-1"}, "PHOENIX_MAX_RETRIES", ">= 0"),
        ({"PHOENIX_HEARTBEAT_MIN": "abc"}, "PHOENIX_HEARTBEAT_MIN", "number"),
        ({"PHOENIX_HEARTBEAT_MIN": "-2"}, "PHOENIX_HEARTBEAT_MIN", ">= 0"),
        ({"PHOENIX_HEARTBEAT_MIN": "nan"}, "PHOENIX_HEARTBEAT_MIN", "number"),
        ({"PHOENIX_PATCH_MODE": "yolo"}, "PHOENIX_PATCH_MODE", "restart-only"),
        ({"PHOENIX_PRIMARY": "gpt"}, "PHOENIX_PRIMARY", "gemini_api"),
        ({"PHOENIX_DRY_RUN": "maybe"}, "PHOENIX_DRY_RUN", "true/false"),
        ({"PHOENIX_LOG_MAX_BYTES": "lots"}, "PHOENIX_LOG_MAX_BYTES", "size"),
        ({"PHOENIX_MAX_GPU_TEMP": "500"}, "PHOENIX_MAX_GPU_TEMP", "between 1 and 200"),
        ({"PHOENIX_LOSS_REGEX": "loss ("}, "PHOENIX_LOSS_REGEX", "capture group"),
        ({"PHOENIX_LOSS_REGEX": "loss"}, "PHOENIX_LOSS_REGEX", "capture group"),
        ({"PHOENIX_FALLBACK_LLM_URL": "localhost:1234"}, "PHOENIX_FALLBACK_LLM_URL", "URL"),
        ({"PHOENIX_DISCORD_CHANNEL_ID": "general"}, "PHOENIX_DISCORD_CHANNEL_ID", "digits"),
        ({"PHOENIX_TRAIN_CMD": "python 'unterminated"}, "PHOENIX_TRAIN_CMD", "command"),
        ({"PHOENIX_TRAIN_CMD": "   "}, "PHOENIX_TRAIN_CMD", "training command"),
        ({"GEMINI_API_KEY_ENV": "not a name"}, "GEMINI_API_KEY_ENV", "environment variable"),
        ({"PHOENIX_MAX_PATCH_FILES": "0"}, "PHOENIX_MAX_PATCH_FILES", ">= 1"),
    ],
)
def test_bad_values_name_the_variable_and_what_it_accepts(
    env: dict[str, str], variable: str, accepts: str
) -> None:
    with pytest.raises(ConfigError) as info:
        resolve(project_dir=ROOT, env=env)
    assert info.value.variable == variable
    message = str(info.value)
    assert message.startswith(f"{variable}=")
    assert accepts in message


def test_bad_flag_and_toml_values_are_named_as_written() -> None:
    with pytest.raises(ConfigError, match=r"^--heartbeat-min="):
        resolve(project_dir=ROOT, env={}, flags={"heartbeat_min": "soon"})
    with pytest.raises(ConfigError, match=r"^phoenix.toml: tail="):
        resolve(project_dir=ROOT, env={}, toml={"tail": "many"})


def test_unknown_toml_key_and_secrets_in_toml_are_refused() -> None:
    with pytest.raises(ConfigError, match="heartbeat_mins"):
        resolve(project_dir=ROOT, env={}, toml={"heartbeat_mins": 3})
    with pytest.raises(ConfigError, match="PHOENIX_DISCORD_BOT_TOKEN") as info:
        resolve(project_dir=ROOT, env={}, toml={"discord_bot_token": "abc.def.ghi"})
    assert "abc.def.ghi" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5MB", 5_000_000), ("5MiB", 5 * 1024 * 1024), ("1024", 1024), ("0", 0), ("2k", 2000)],
)
def test_log_sizes(raw: str, expected: int) -> None:
    assert resolve(project_dir=ROOT, env={"PHOENIX_LOG_MAX_BYTES": raw}).log_max_bytes == expected


def test_lists_aliases_and_the_api_key_variable_name() -> None:
    env = {
        "PHOENIX_FALLBACK_LLM_TYPE": "cli",
        "PHOENIX_FALLBACK_LLM_CMD": "python a.py; ./b --x 1 ;",
        "GEMINI_API_KEY_ENV": "MY_GEMINI",
        "MY_GEMINI": "AIza-secret-value",
        "GEMINI_API_KEY": "not-this-one",
    }
    s = resolve(project_dir=ROOT, env=env)
    assert s.fallback_llm_type == "cmd"
    assert s.fallback_llm_cmd == ("python a.py", "./b --x 1")
    assert s.gemini_api_key == "AIza-secret-value"
    assert "AIza-secret-value" in s.secrets()


def test_shown_values_mask_secrets() -> None:
    env = {"PHOENIX_DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/abc"}
    s = resolve(project_dir=ROOT, env=env)
    assert shown_value(s, "discord_webhook_url") == "(set, hidden)"
    assert shown_value(s, "discord_bot_token") == "(not set)"
    assert shown_value(s, "allowlist") == "*.py"


def test_every_original_variable_is_known() -> None:
    names = {spec.env for spec in SPECS}
    original = [
        "PHOENIX_TRAIN_CMD",
        "PHOENIX_ALLOWLIST",
        "PHOENIX_PRIMARY",
        "GEMINI_API_KEY_ENV",
        "GEMINI_MODEL",
        "PHOENIX_DRY_RUN",
        "PHOENIX_MAX_RETRIES",
        "PHOENIX_TAIL",
        "PHOENIX_MAX_FILE_CHARS",
        "PHOENIX_MAX_PROMPT_CHARS",
        "PHOENIX_HEARTBEAT_MIN",
        "PHOENIX_TEST_CMD",
        "PHOENIX_LOG_MAX_BYTES",
        "PHOENIX_MAX_BACKUPS",
        "PHOENIX_COOLDOWN_SECONDS",
        "PHOENIX_LOCK_STALE",
        "PHOENIX_PATCH_MODE",
        "PHOENIX_FALLBACK_LLM_TYPE",
        "PHOENIX_FALLBACK_LLM_CMD",
        "PHOENIX_FALLBACK_LLM_URL",
        "PHOENIX_FALLBACK_LLM_MODEL",
        "PHOENIX_FALLBACK_MAX_PER_RUN",
        "PHOENIX_NOTIFY_STEPS",
        "PHOENIX_LOSS_REGEX",
        "PHOENIX_DATA_DIR",
        "PHOENIX_MAX_GPU_TEMP",
        "PHOENIX_DISCORD_WEBHOOK_URL",
        "PHOENIX_DISCORD_BOT_TOKEN",
        "PHOENIX_DISCORD_CHANNEL_ID",
    ]
    assert set(original) <= names


@pytest.mark.parametrize(
    "content",
    [b"tail = 'caf\xe9'\n", b"\xff\xfe[\x00p\x00]\x00", b"\x00\x01\x02 binary"],
    ids=["latin-1", "utf-16", "binary"],
)
def test_a_phoenix_toml_that_is_not_utf8_or_toml_is_a_config_error(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "phoenix.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert info.value.variable == str(path)
    assert "\n" not in str(info.value)
