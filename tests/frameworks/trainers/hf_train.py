"""A tiny Hugging Face Trainer run: random-weight 2-layer GPT-2 from a config, generated data.

Nothing is downloaded. ``--lr 1e4`` makes it diverge; ``--crash_at N`` raises at step N (once:
a marker file in the output directory remembers it, so a resumed run goes on).
"""

import argparse
import os

import torch
from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainerCallback, TrainingArguments

p = argparse.ArgumentParser()
p.add_argument("--output_dir", default="out")
p.add_argument("--max_steps", type=int, default=40)
p.add_argument("--lr", type=float, default=5e-4)
p.add_argument("--save_steps", type=int, default=10)
p.add_argument("--eval_steps", type=int, default=0)
p.add_argument("--crash_at", type=int, default=0)
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--resume_from_checkpoint", default=None)
args = p.parse_args()

torch.manual_seed(0)
config = GPT2Config(n_layer=2, n_head=2, n_embd=32, vocab_size=64, n_positions=32)
model = GPT2LMHeadModel(config)


class Data(torch.utils.data.Dataset):
    def __init__(self, n):
        g = torch.Generator().manual_seed(1)
        self.x = torch.randint(0, 64, (n, 16), generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"input_ids": self.x[i], "labels": self.x[i]}


class Crash(TrainerCallback):
    def on_step_end(self, a, state, control, **kw):
        import time

        if args.sleep:
            time.sleep(args.sleep)
        marker = os.path.join(args.output_dir, "crashed-once")
        if args.crash_at and state.global_step == args.crash_at and not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError(f"simulated crash at step {state.global_step}")


training = TrainingArguments(
    output_dir=args.output_dir,
    max_steps=args.max_steps,
    learning_rate=args.lr,
    per_device_train_batch_size=8,
    logging_steps=5,
    save_steps=args.save_steps,
    eval_strategy="steps" if args.eval_steps else "no",
    eval_steps=args.eval_steps or None,
    report_to="none",
    use_cpu=True,
    seed=0,
    dataloader_num_workers=0,
)
trainer = Trainer(
    model=model,
    args=training,
    train_dataset=Data(320),
    eval_dataset=Data(48) if args.eval_steps else None,
    callbacks=[Crash()],
)
trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
print("done")
