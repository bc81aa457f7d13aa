"""Optimizers, learning-rate schedules and gradient clipping (``cr.optim``).

Built on the public engine only. A hand-written training loop:

>>> import numpy as np, chainrule as cr
>>> from chainrule import nn, optim
>>> model = nn.Sequential([nn.Dense(8, "tanh", input_dim=2), nn.Dense(1)], seed=0)
>>> opt = optim.Adam(model.parameters(), lr=0.05)
>>> schedule = optim.ExponentialLR(opt, gamma=0.97)
>>> x = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
>>> y = np.sin(x[:, :1]) + x[:, 1:] ** 2
>>> losses = []
>>> for epoch in range(50):
...     opt.zero_grad()
...     loss = nn.mean_squared_error(model(x), y)
...     loss.backward()
...     opt.step()
...     _ = schedule.step()
...     losses.append(float(loss))
>>> losses[-1] < losses[0] / 2
True
"""

from .clip import clip_grad_norm, global_norm
from .optimizers import OPTIMIZERS, SGD, Adam, AdamW, Optimizer, get
from .schedules import CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, StepLR

__all__ = [
    "OPTIMIZERS", "SGD", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
    "LambdaLR", "Optimizer", "StepLR", "clip_grad_norm", "get", "global_norm",
]
