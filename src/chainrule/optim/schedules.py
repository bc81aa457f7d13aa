"""Learning-rate schedules: the rate as a function of the epoch.

A schedule is tied to an optimizer and remembers the optimizer's rate when it
was made (``base_lr``). Call ``step()`` once at the end of each epoch (a
hand-written loop), or pass the schedule to ``model.fit(callbacks=[...])``,
which does it. ``lr_at(epoch)`` gives the rate for any epoch (0-based):

* ``StepLR(opt, step_size, gamma=0.1)``: ``base · γ^⌊epoch / step_size⌋``
* ``ExponentialLR(opt, gamma)``: ``base · γ^epoch``
* ``CosineAnnealingLR(opt, T_max, eta_min=0)``:
  ``eta_min + (base − eta_min)(1 + cos(π·min(epoch, T_max)/T_max)) / 2``
* ``LambdaLR(opt, fn)``: ``base · fn(epoch)``, any function of the epoch.

>>> from chainrule.optim import SGD, StepLR
>>> schedule = StepLR(SGD(lr=0.1), step_size=2, gamma=0.5)
>>> [schedule.lr_at(epoch) for epoch in range(5)]
[0.1, 0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .optimizers import Optimizer


class LRScheduler:
    """Sets ``optimizer.lr`` from the epoch; ``step()`` moves to the next epoch."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an optimizer, got "
                            f"{type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.initial_lr
        self.epoch = 0
        optimizer.lr = self.lr_at(0)

    def factor(self, epoch: int) -> float:
        raise NotImplementedError

    def lr_at(self, epoch: int) -> float:
        """The learning rate during ``epoch`` (0-based)."""
        return self.base_lr * self.factor(epoch)

    def step(self) -> float:
        """End of an epoch: set the optimizer's rate for the next one and return it."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)
        return self.optimizer.lr

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (resuming a run)."""
        self.epoch = int(epoch)
        self.optimizer.lr = self.lr_at(self.epoch)

    # as a callback of model.fit
    def on_train_begin(self, model: Any, initial_epoch: int = 0) -> None:
        self.set_epoch(initial_epoch)

    def on_epoch_end(self, epoch: int, logs: dict, model: Any) -> None:
        self.set_epoch(epoch + 1)

    def on_train_end(self, model: Any) -> None:
        pass


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from ``base_lr`` down to ``eta_min`` over ``T_max`` epochs, then flat."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be >= 1, got {T_max}")
        self.T_max, self.eta_min = int(T_max), float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        progress = min(epoch, self.T_max) / self.T_max
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2

    def factor(self, epoch: int) -> float:
        return self.lr_at(epoch) / self.base_lr


class LambdaLR(LRScheduler):
    """``base_lr · fn(epoch)`` for a function of the epoch of your own."""

    def __init__(self, optimizer: Optimizer, fn: Callable[[int], float]) -> None:
        if not callable(fn):
            raise TypeError("LambdaLR: fn must be a function of the epoch")
        self.fn = fn
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return float(self.fn(epoch))
