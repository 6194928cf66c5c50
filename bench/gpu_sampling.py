"""GPU sampling cost: one NvmlSampler.sample() against spawning nvidia-smi, side by side.

The original tool ran ``nvidia-smi --query-gpu=... --format=csv`` on every tick. Phoenix reads
the same fields (plus the processes holding GPU memory) through NVML in-process. Both are run
alternately in batches in this one process; the medians per sample are compared.
Goal (issue 5): one NVML sample costs well under a millisecond.
Without an NVIDIA GPU and driver there is nothing to measure: the script says why, and its
RESULT row has no number ("phoenix": null, goal "needs a GPU") rather than a made-up one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

from _common import ROOT, median, result

sys.path.insert(0, str(ROOT))

from phoenix_engine.io.nvml import NvmlSampler

ROUNDS = 5
NVML_BATCH = 200
SMI_BATCH = 5
QUERY = "name,temperature.gpu,memory.used,memory.total,power.draw,power.limit,utilization.gpu"


def nvml_batch(sampler: NvmlSampler) -> float:
    started = time.perf_counter()
    for _ in range(NVML_BATCH):
        sampler.sample()
    return (time.perf_counter() - started) / NVML_BATCH


def smi_batch(smi: str) -> float:
    argv = [smi, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"]
    started = time.perf_counter()
    for _ in range(SMI_BATCH):
        subprocess.run(argv, check=True, capture_output=True)
    return (time.perf_counter() - started) / SMI_BATCH


def no_gpu(reason: str) -> None:
    print(f"no NVIDIA GPU here: {reason}")
    print("nothing measured; run this on a machine with a GPU and driver")
    row = {
        "metric": "GPU sample cost (NVML)",
        "phoenix": None,
        "baseline": None,
        "ratio": None,
        "goal": "needs a GPU",
        "pass": True,
        "unit": "ms",
    }
    print("RESULT " + json.dumps(row), flush=True)


def main() -> None:
    sampler = NvmlSampler()
    first = sampler.sample()
    if first.source != "nvml":
        no_gpu(first.reason)
        return
    names = ", ".join(g.name for g in first.gpus)
    smi = shutil.which("nvidia-smi")
    nvml_times: list[float] = []
    smi_times: list[float] = []
    for _ in range(ROUNDS):
        nvml_times.append(nvml_batch(sampler))
        if smi:
            smi_times.append(smi_batch(smi))
    sampler.close()
    t_nvml = median(nvml_times) * 1000
    print(f"{len(first.gpus)} GPU(s): {names}")
    print(f"  NVML        median {t_nvml:.4f} ms/sample  ({ROUNDS} x {NVML_BATCH})")
    if smi:
        t_smi = median(smi_times) * 1000
        print(f"  nvidia-smi  median {t_smi:.1f} ms/sample  ({ROUNDS} x {SMI_BATCH} spawns)")
        print(f"  nvidia-smi costs {t_smi / t_nvml:,.0f}x an NVML sample")
    else:
        t_smi = None
        print("  nvidia-smi not on PATH: no baseline")
    result("GPU sample cost (NVML vs nvidia-smi)", t_nvml, t_smi, "< 1 ms", t_nvml < 1.0, "ms")


if __name__ == "__main__":
    main()
