"""The demo's test command: the model and the schedule still import and behave."""

import train
from model import Model

m = Model()
loss = m.sgd_step([0.5, -0.5], [2.0, -1.0], 0.1)
assert loss > 0, loss
assert train.lr_at(0) > 0
assert train.lr_at(train.TOTAL_STEPS - 1) >= 0
print("check_model: ok")
