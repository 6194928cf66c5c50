"""A tiny Lightning run on generated data: ``--bar default`` (Rich when rich is installed) or
``--bar tqdm``; ``--lr 1e4`` diverges and EarlyStopping(check_finite) says so."""

import argparse
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, TQDMProgressBar

p = argparse.ArgumentParser()
p.add_argument("--bar", default="default", choices=["default", "tqdm"])
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--lr", type=float, default=0.05)
p.add_argument("--sleep", type=float, default=0.0)
args = p.parse_args()


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1)
        )

    def training_step(self, batch, i):
        if args.sleep:
            time.sleep(args.sleep)
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=args.lr)


g = torch.Generator().manual_seed(0)
x = torch.randn(640, 8, generator=g)
y = x.sum(dim=1, keepdim=True)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
callbacks = [EarlyStopping(monitor="train_loss", check_finite=True, patience=100, verbose=True)]
if args.bar == "tqdm":
    callbacks.append(TQDMProgressBar(refresh_rate=1))
trainer = L.Trainer(
    max_epochs=args.epochs,
    accelerator="cpu",
    devices=1,
    callbacks=callbacks,
    logger=False,
    enable_checkpointing=False,
    enable_model_summary=False,
    log_every_n_steps=1,
)
trainer.fit(Tiny(), loader)
print("done")
