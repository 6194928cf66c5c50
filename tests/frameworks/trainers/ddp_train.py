"""torchrun --nproc_per_node 2 with gloo: ``--crash_rank R --at N`` raises on rank R at step N,
``--hang_rank R --at N`` makes rank R sleep forever (the other blocks in all_reduce)."""

import argparse
import time

import torch
import torch.distributed as dist

p = argparse.ArgumentParser()
p.add_argument("--steps", type=int, default=30)
p.add_argument("--crash_rank", type=int, default=-1)
p.add_argument("--hang_rank", type=int, default=-1)
p.add_argument("--at", type=int, default=10)
p.add_argument("--sleep", type=float, default=0.05)
args = p.parse_args()

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(rank)
model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(8, 1))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
for step in range(1, args.steps + 1):
    x = torch.randn(16, 8)
    loss = torch.nn.functional.mse_loss(model(x), x.sum(dim=1, keepdim=True))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if rank == args.crash_rank and step == args.at:
        raise ValueError(f"bad batch on rank {rank} at step {step}")
    if rank == args.hang_rank and step == args.at:
        time.sleep(3600)
    if rank == 0:
        print(f"step {step}/{args.steps} loss {loss.item():.4f}", flush=True)
    time.sleep(args.sleep)
dist.destroy_process_group()
print(f"rank {rank} done", flush=True)
