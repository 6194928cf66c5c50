"""A tiny training run: linear regression by mini-batch SGD, printed like a real trainer.

It resumes from its newest checkpoint, so a restart loses nothing. It carries a genuine bug
(a misspelt name in the learning-rate schedule, reached after warm-up) and a batch size that
does not fit the simulated GPU once long sequences arrive.
"""

import json
import math
import random
import sys
import time
from pathlib import Path

from model import Model
from simgpu import SimulatedGPU

TOTAL_STEPS = 120
WARMUP_STEPS = 30
learning_rate = 0.05
batch_size = 64
CKPT_DIR = Path("checkpoints")


def lr_at(step):
    if step < WARMUP_STEPS:
        return learning_rate * (step + 1) / WARMUP_STEPS
    progress = (step - WARMUP_STEPS) / (TOTAL_STEPS - WARMUP_STEPS)
    return 0.5 * lerning_rate * (1 + math.cos(math.pi * progress))


def batch(rng, size):
    xs = [rng.uniform(-1, 1) for _ in range(size)]
    return xs, [3.0 * x + 0.5 + rng.gauss(0, 0.05) for x in xs]


def load_checkpoint(model):
    ckpts = sorted(CKPT_DIR.glob("step-*.json"))
    if not ckpts:
        return 0
    state = json.loads(ckpts[-1].read_text())
    model.w, model.b = state["w"], state["b"]
    print(f"resuming from {ckpts[-1]} (step {state['step']})", flush=True)
    return state["step"]


def main():
    gpu = SimulatedGPU(total_gb=24.0)
    model = Model()
    rng = random.Random(0)
    start = load_checkpoint(model)
    CKPT_DIR.mkdir(exist_ok=True)
    began = time.time()
    for step in range(start, TOTAL_STEPS):
        seq_len = 2 if step >= 80 else 1  # the long-sequence bucket arrives late
        gpu.allocate(batch_size * 0.2 * seq_len + 4.0)
        xs, ys = batch(rng, batch_size)
        loss = model.sgd_step(xs, ys, lr_at(step))
        if (step + 1) % 5 == 0:
            rate = (step + 1 - start) * batch_size / max(time.time() - began, 1e-6)
            print(
                f"step {step + 1}/{TOTAL_STEPS} | loss {loss:.4f} | lr {lr_at(step):.2e} "
                f"| {rate:.1f} samples/s",
                flush=True,
            )
        if (step + 1) % 10 == 0:
            state = {"step": step + 1, "w": model.w, "b": model.b}
            (CKPT_DIR / f"step-{step + 1:05d}.json").write_text(json.dumps(state))
        time.sleep(0.04)
    print(f"training finished: w={model.w:.3f} b={model.b:.3f} (target 3.000, 0.500)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
