"""A plain PyTorch loop with tqdm: a datasets-style ``Map`` bar, the training bar with a loss
postfix, and an eval bar that starts at 0 each time. ``--lr 10`` diverges."""

import argparse
import time

import torch
from tqdm import tqdm

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=60)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--sleep", type=float, default=0.0)
args = p.parse_args()

torch.manual_seed(0)
for _ in tqdm(range(200), desc="Map"):  # as `datasets` shows its preprocessing
    pass
x = torch.randn(256, 8)
y = x.sum(dim=1, keepdim=True)
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=args.lr)
bar = tqdm(range(args.steps), desc="train")
for step in bar:
    if args.sleep:
        time.sleep(args.sleep)
    i = (step * 16) % 256
    loss = torch.nn.functional.mse_loss(model(x[i : i + 16]), y[i : i + 16])
    opt.zero_grad()
    loss.backward()
    opt.step()
    bar.set_postfix(loss=f"{loss.item():.4g}")
    if (step + 1) % 20 == 0:
        for _ in tqdm(range(8), desc="eval", leave=False):
            pass
print("done")
