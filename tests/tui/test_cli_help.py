"""The command line's shape: help names every subcommand first, --version, and every flag
and invocation the README documents still parses as it did."""

from __future__ import annotations

from pathlib import Path

import pytest

from phoenix_engine import __version__
from phoenix_engine.core.settings import SPECS
from phoenix_tui._cli_flags import build_parser, split_argv
from phoenix_tui.cli import main

SUBCOMMANDS = [
    "doctor", "demo", "status", "attach", "runs", "review", "report", "history", "rollback",
    "promote", "reset",
]  # fmt: skip


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_help_lists_every_subcommand_first_then_the_common_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _help(["--help"], capsys)
    commands, options = out.split("\noptions:\n")
    listed = [line.split()[0] for line in commands.split("commands:\n")[1].splitlines()]
    assert sorted(listed) == sorted(["run", *SUBCOMMANDS])
    for flag in ("-C DIR", "--unattended", "--json", "--version"):
        assert flag in options
    assert "--heartbeat-min" not in out and "--eval-cmd" not in out  # not a wall of flags
    assert "phoenix run --help" in out
    assert len(out.splitlines()) < 40


def test_run_help_lists_every_setting_flag_under_its_heading(
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = _help(["run", "--help"], capsys)
    settings = out.split("settings (each also PHOENIX_* or phoenix.toml):")[1]
    missing = [s.option for s in SPECS if s.flag and s.option not in settings]
    assert missing == []


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_each_subcommand_has_its_own_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = _help([command, "--help"], capsys)
    assert out.startswith(f"usage: phoenix {command}") and "-C DIR" in out
    assert "settings (each also PHOENIX_* or phoenix.toml):" in out and "--max-retries V" in out
    assert len(out.split("\n\n")[0].splitlines()) <= 2  # the usage is no wall of flags


def test_version_prints_the_engine_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert _help(["--version"], capsys) == f"phoenix {__version__}\n"
    assert _help(["doctor", "--version"], capsys) == f"phoenix {__version__}\n"


def _parse(*argv: str) -> tuple[str, dict[str, object], list[str]]:
    call = split_argv(argv)
    parsed = build_parser(call.command, explicit=call.explicit).parse_args(call.args)
    return call.command, vars(parsed), call.train


def test_the_documented_run_invocations_parse_as_before(tmp_path: Path) -> None:
    command, args, train = _parse("--unattended", "--", "python", "train.py", "--lr", "3e-4")
    assert (command, args["unattended"]) == ("run", True)
    assert train == ["python", "train.py", "--lr", "3e-4"]
    command, args, train = _parse(
        "--unattended", "--json", "-C", str(tmp_path), "--train-cmd", "python t.py",
        "--max-retries", "3", "--dry-run", "--heartbeat-learn", "--approval=timeout:60",
    )  # fmt: skip
    assert command == "run" and train == [] and args["project"] == str(tmp_path)
    assert args["train_cmd"] == "python t.py" and args["max_retries"] == "3"
    assert args["dry_run"] == "1" and args["heartbeat_learn"] == "1"
    assert args["approval"] == "timeout:60" and args["json"] is True
    command, args, _ = _parse("run", "--unattended", "--max-restarts", "5")
    assert (command, args["max_restarts"]) == ("run", "5")


def test_a_subcommand_may_follow_the_common_options(tmp_path: Path) -> None:
    assert _parse("-C", str(tmp_path), "doctor")[0] == "doctor"
    command, args, _ = _parse("--max-retries", "2", "doctor")
    assert (command, args["max_retries"]) == ("doctor", "2")
    command, args, _ = _parse("--json", "runs")
    assert (command, args["json"]) == ("runs", True)
    command, args, _ = _parse("-C", "doctor")  # a project directory named like a command
    assert (command, args["project"]) == ("run", "doctor")
    command, args, _ = _parse("--train-cmd", "status")  # a value, not the command
    assert (command, args["train_cmd"]) == ("run", "status")


def test_the_subcommands_arguments_parse_as_before() -> None:
    assert _parse("rollback", "20261122-031500-de6e9b")[1]["backup_id"] == "20261122-031500-de6e9b"
    assert _parse("rollback")[1]["backup_id"] is None
    _, args, _ = _parse("promote", "ckpt/best", "--force")
    assert (args["candidate"], args["force"], args["rollback"]) == ("ckpt/best", True, False)
    assert _parse("promote", "--rollback")[1]["rollback"] is True
    _, args, _ = _parse("report", "r1", "-o", "night.svg", "--svg")
    assert (args["run_id"], args["output"], args["svg"]) == ("r1", "night.svg", True)
    assert _parse("review")[1]["run_id"] is None
    _, args, _ = _parse("status", "--json", "-C", "elsewhere")
    assert (args["json"], args["project"]) == (True, "elsewhere")
    _, args, _ = _parse("demo", "--unattended", "--json", "--approval", "auto")
    assert (args["unattended"], args["approval"]) == (True, "auto")


def test_an_unknown_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["frobnicate"])
    assert exited.value.code == 2
    assert "unrecognized arguments: frobnicate" in capsys.readouterr().err
