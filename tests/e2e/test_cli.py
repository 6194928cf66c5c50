"""The installed ``phoenix`` command: exit codes, messages, output streams, signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
from cli_support import PHOENIX, phoenix, user_env
from waiting import until_sync

PY = sys.executable


def test_completed_run_echoes_output_and_reports_on_stderr(project: Path) -> None:
    out = phoenix("--unattended", "--", PY, "train.py", cwd=project)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "step 1 loss 0.5\ndone\n"  # the training output, as tee would
    assert "phoenix: training completed" in out.stderr
    assert "\x1b[" not in out.stderr  # NO_COLOR and not a terminal
    assert (project / ".phoenix_cli" / "train.log").read_text() == out.stdout


def test_json_mode_prints_events_only(project: Path) -> None:
    out = phoenix("--unattended", "--json", "--", PY, "train.py", cwd=project)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["event"] for r in rows] == [
        "run_started",
        "process_started",
        "process_exited",
        "run_completed",
    ]
    assert rows[0]["command"].endswith("train.py")


def test_gave_up_exits_1(project: Path) -> None:
    (project / "train.py").write_text("raise ValueError('broken')\n")
    out = phoenix(
        "--unattended", "--", PY, "train.py", cwd=project, env=user_env(PHOENIX_MAX_RETRIES="1")
    )
    assert out.returncode == 1
    assert "gave up" in out.stderr
    assert "ValueError: broken" in out.stderr


def test_bad_setting_exits_2_with_one_line_naming_it(project: Path) -> None:
    out = phoenix("--unattended", cwd=project, env=user_env(PHOENIX_HEARTBEAT_MIN="soon"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "phoenix: PHOENIX_HEARTBEAT_MIN='soon' is not valid: expected a number >= 0; 0 disables"
    ]


def test_bad_flag_and_toml_values_are_named(project: Path) -> None:
    out = phoenix("--unattended", "--max-retries", "-3", cwd=project)
    assert out.returncode == 2 and "--max-retries='-3'" in out.stderr
    (project / "phoenix.toml").write_text("[phoenix]\npatch_mode = 'yolo'\n")
    out = phoenix("--unattended", cwd=project)
    assert out.returncode == 2 and "phoenix.toml: patch_mode='yolo'" in out.stderr


def test_missing_or_empty_command_exits_2_without_a_traceback(project: Path) -> None:
    out = phoenix("--unattended", "--", "no-such-trainer-xyz", "--lr", "1", cwd=project)
    assert out.returncode == 2
    assert "the command after --" in out.stderr and "not found on PATH" in out.stderr
    out = phoenix("--unattended", cwd=project, env=user_env(PHOENIX_TRAIN_CMD=" "))
    assert out.returncode == 2 and "PHOENIX_TRAIN_CMD" in out.stderr
    for result in (out,):
        assert "Traceback" not in result.stderr


def test_unreadable_project_directory_exits_2(tmp_path: Path) -> None:
    out = phoenix("--unattended", "-C", str(tmp_path / "nope"), cwd=tmp_path)
    assert out.returncode == 2
    assert "-C=" in out.stderr and "Traceback" not in out.stderr


def test_unusable_state_directory_exits_2(project: Path) -> None:
    (project / ".phoenix_cli").write_text("a file where the state directory should be")
    out = phoenix("--unattended", "--", PY, "train.py", cwd=project)
    assert out.returncode == 2
    assert "cannot create" in out.stderr and "Traceback" not in out.stderr


def start_long_run(project: Path) -> subprocess.Popen[str]:
    (project / "train.py").write_text("import time\nprint('step 1', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen(
        [PHOENIX, "--unattended", "--", PY, "train.py"],
        cwd=project,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for _ in range(100):
        if "training started" in proc.stderr.readline():
            return proc
    raise AssertionError("the training never started")


def test_second_phoenix_exits_3_naming_the_holder(project: Path) -> None:
    first = start_long_run(project)
    try:
        started = time.monotonic()
        out = phoenix("--unattended", "--", PY, "train.py", cwd=project)
        assert time.monotonic() - started < 10  # it does not wait for the lock
        assert out.returncode == 3
        assert f"PID {first.pid}" in out.stderr and "UTC" in out.stderr
        assert phoenix("reset", cwd=project).returncode == 3  # budgets are live
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)


def test_sigterm_stops_the_training_and_exits_4(project: Path) -> None:
    proc = start_long_run(project)
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 4
    for child in children:
        assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    journal = (project / ".phoenix_cli" / "run.log").read_text().splitlines()
    assert json.loads(journal[-1])["event"] == "stopped"
    assert "SIGTERM" in json.loads(journal[-1])["reason"]


def test_doctor_shows_sources_and_masks_secrets(project: Path) -> None:
    (project / "phoenix.toml").write_text("tail = 77\n")
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{PY} train.py",
        GEMINI_API_KEY="AIza-super-secret-key-123",
        PHOENIX_DISCORD_WEBHOOK_URL="https://discord.com/api/webhooks/1/secret-part",
        PHOENIX_FALLBACK_LLM_URL="https://bob:hunter2pass@127.0.0.1:9/v1",
    )
    out = phoenix("doctor", cwd=project, env=env)
    assert out.returncode == 0, out.stdout
    assert "AIza-super-secret" not in out.stdout and "secret-part" not in out.stdout
    assert "hunter2pass" not in out.stdout and "https://[REDACTED]@127.0.0.1:9/v1" in out.stdout
    assert "(set, hidden)" in out.stdout
    assert "PHOENIX_TAIL" in out.stdout and "77  [phoenix.toml]" in out.stdout
    assert "[ok  ] training command" in out.stdout
    assert "[ok  ] lock" in out.stdout


def test_doctor_fails_for_a_missing_command(project: Path) -> None:
    out = phoenix("doctor", cwd=project, env=user_env(PHOENIX_TRAIN_CMD="nope-xyz train.py"))
    assert out.returncode == 1
    assert "[FAIL] training command: `nope-xyz` was not found on PATH" in out.stdout


def test_reset_clears_budgets(project: Path) -> None:
    (project / "train.py").write_text("raise ValueError('broken')\n")
    env = user_env(PHOENIX_MAX_RETRIES="1", PHOENIX_TRAIN_CMD=f"{PY} train.py")
    assert phoenix("--unattended", cwd=project, env=env).returncode == 1
    again = phoenix("--unattended", cwd=project, env=env)
    assert again.returncode == 1 and "restarting" not in again.stderr
    assert phoenix("reset", cwd=project).returncode == 0
    third = phoenix("--unattended", cwd=project, env=env)
    assert "restarting" in third.stderr


def test_help_lists_commands() -> None:
    out = subprocess.run([PHOENIX, "--help"], capture_output=True, text=True, check=True)
    assert "--unattended" in out.stdout and "doctor" in out.stdout
    for command in ("demo", "status", "attach", "history", "rollback", "reset", "promote"):
        assert f"\n  {command}" in out.stdout
    version = subprocess.run([PHOENIX, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("phoenix ")


def test_a_subcommand_after_the_project_option(project: Path, tmp_path: Path) -> None:
    out = phoenix("-C", str(project), "history", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "phoenix: no backups yet\n"


def test_demo_unattended_repairs_both_failures_and_completes(tmp_path: Path) -> None:
    env = user_env(TMPDIR=str(tmp_path))
    out = phoenix("demo", "--unattended", "--json", cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    failures = [r for r in rows if r["event"] == "failure"]
    assert [f["kind"] for f in failures] == ["exception", "oom"]
    applied = [r for r in rows if r["event"] == "patch_applied"]
    assert len(applied) == 2 and all(r["paths"] == ["train.py"] for r in applied)
    assert rows[-1]["event"] == "run_completed"
    (project,) = tmp_path.glob("phoenix-demo-*")
    train = (project / "train.py").read_text()
    assert "lerning_rate" not in train and "batch_size = 32" in train
    (report,) = (project / ".phoenix_cli").glob("report-*.png")  # the demo draws its night
    assert report.read_bytes().startswith(b"\x89PNG") and str(report) in out.stderr


def test_status_reports_a_running_engine_and_exits_1_without_one(project: Path) -> None:
    none = phoenix("status", cwd=project)
    assert none.returncode == 1 and "no engine runs" in none.stderr
    proc = start_long_run(project)
    try:
        answers: list[subprocess.CompletedProcess[str]] = []

        def answered() -> bool:  # the socket appears right after the lock
            answers.append(phoenix("status", cwd=project))
            return answers[-1].returncode == 0

        until_sync(answered, 30, what=lambda: f"phoenix status to answer: {answers[-1].stderr}")
        out = answers[-1]
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("phase: running")
        assert "restarts: 0/20" in out.stdout
        as_json = json.loads(phoenix("status", "--json", cwd=project).stdout)  # one object
        assert as_json["running"] is True and as_json["status"].startswith("phase: running")
        assert as_json["run"]["outcome"] == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
