"""A stand-in for the ``gemini`` CLI, run through a ``gemini`` shell wrapper put first on PATH.

It records its argv, cwd, the cwd's contents, stdin and selected environment variables as JSON
to ``$GEMINI_FAKE_LOG``, then behaves as ``$GEMINI_FAKE_MODE`` says: ``json`` (default),
``noisy`` (a notice line before the JSON), ``text``, ``fail`` (a JSON error on stderr, exit
1), ``hang`` (start a child that sleeps, record its pid, sleep) or ``flood`` (3 MB of output).
The variables are named GEMINI_* so that the provider's filtered environment lets them through.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

REPLY = os.environ.get("GEMINI_FAKE_REPLY", '{"patches": []}')


def record(extra: dict[str, object]) -> None:
    log = os.environ["GEMINI_FAKE_LOG"]
    entry = {
        "argv": sys.argv[1:],
        "cwd": os.getcwd(),
        "cwd_entries": os.listdir("."),
        "env": sorted(os.environ),
        "gemini_api_key": os.environ.get("GEMINI_API_KEY", ""),
        **extra,
    }
    with open(log, "w", encoding="utf-8") as fh:
        json.dump(entry, fh)


def main() -> int:
    stdin = sys.stdin.read()
    mode = os.environ.get("GEMINI_FAKE_MODE", "json")
    if mode == "hang":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        record({"stdin": stdin, "child_pid": child.pid})
        time.sleep(60)
        return 0
    record({"stdin": stdin})
    if mode == "fail":
        error = {"error": {"type": "ApiError", "message": "quota exhausted", "code": 1}}
        print(json.dumps(error, indent=2), file=sys.stderr)
        return 1
    if mode == "flood":
        sys.stdout.write("x" * (3 * 1024 * 1024))
        return 0
    if mode == "text":
        print(REPLY)
        return 0
    if mode == "noisy":
        print("Loaded cached credentials.")
    print(json.dumps({"response": REPLY, "stats": {"models": {}}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
