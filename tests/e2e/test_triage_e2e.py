"""Issue 12 through the installed ``phoenix``: a torchrun log of two ranks is classified by its
root cause, so the offline doctor (PHOENIX_PRIMARY=builtin) sees rank 0's typo and fixes it,
although torchrun's "Root Cause" block names rank 1 and its secondary gloo error."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from cli_support import phoenix, user_env

PY = sys.executable

TRAIN = """\
import sys
from pathlib import Path


class GPT:
    def state_dict(self):
        return {"w": 1}


def main():
    model = GPT()
    print("step 200 loss 0.88", flush=True)
    state = model.state_dcit()
    print("saved", state, flush=True)


if __name__ == "__main__":
    try:
        main()
    except AttributeError as exc:  # print what torchrun shows for two ranks, then fail
        here = Path(__file__).resolve()
        lines = [
            "[rank0]: Traceback (most recent call last):",
            f'[rank0]:   File "{here}", line 19, in <module>',
            "[rank0]:     main()",
            f'[rank0]:   File "{here}", line 13, in main',
            "[rank0]:     state = model.state_dcit()",
            f"[rank0]: AttributeError: {exc}. Did you mean: 'state_dict'?",  # as Python shows it
            "[rank1]: Traceback (most recent call last):",
            f'[rank1]:   File "{here}", line 19, in <module>',
            "[rank1]:     main()",
            '[rank1]:   File "/venv/lib/python3.11/site-packages/torch/distributed/c10d.py", '
            "line 2288, in all_reduce",
            "[rank1]:     work = group.allreduce([tensor], opts)",
            "[rank1]: RuntimeError: [../third_party/gloo/gloo/transport/tcp/pair.cc:534] "
            "Connection closed by peer [127.0.0.1]:29811",
            "Root Cause (first observed failure):",
            "[0]:",
            "  rank      : 1 (local_rank: 1)",
            "  exitcode  : 1 (pid: 4242)",
            "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html",
        ]
        print("\\n".join(lines), file=sys.stderr)
        sys.exit(1)
"""


def test_torchrun_root_cause_reaches_the_offline_doctor(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "train.py").write_text(TRAIN)
    env = user_env(
        PHOENIX_TRAIN_CMD=f"{PY} train.py", PHOENIX_PRIMARY="builtin", PHOENIX_MAX_RETRIES="1"
    )
    out = phoenix("--unattended", cwd=project, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "model.state_dict()" in (project / "train.py").read_text()
    rows = [json.loads(x) for x in (project / ".phoenix_cli" / "run.log").read_text().splitlines()]
    (failure,) = [r for r in rows if r["event"] == "failure"]
    assert (failure["kind"], failure["exc_type"], failure["location"]) == (
        "exception",
        "AttributeError",
        "train.py:main",
    )
    assert failure["action"] == "repair"
    assert [r["event"] for r in rows][-1] == "run_completed"
