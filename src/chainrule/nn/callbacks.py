"""What ``fit`` records and who it tells: ``History``, callbacks, early stopping, checkpoints.

A callback is any object with some of these methods (all optional):
``on_train_begin(model, initial_epoch)``, ``on_epoch_end(epoch, logs, model)``
and ``on_train_end(model)``. ``logs`` holds the epoch's numbers (``loss``,
``accuracy``, ``val_loss``, ``val_accuracy``); a callback stops training by
setting ``model.stop_training = True``. The learning-rate schedules of
``cr.optim`` are callbacks too.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


class History:
    """Per-epoch numbers of a ``fit``: ``history.history["val_loss"][-1]`` and so on.

    ``epoch`` lists the epoch numbers (0-based) and ``seconds`` the time each took.

    >>> h = History()
    >>> h.append(0, {"loss": 0.5, "accuracy": 0.8}, seconds=0.1)
    >>> h.history
    {'loss': [0.5], 'accuracy': [0.8]}
    """

    def __init__(self, history: dict | None = None, epoch: list | None = None,
                 seconds: list | None = None) -> None:
        self.history: dict[str, list[float]] = {k: list(v) for k, v in (history or {}).items()}
        self.epoch: list[int] = list(epoch or [])
        self.seconds: list[float] = list(seconds or [])

    def append(self, epoch: int, logs: dict, seconds: float = 0.0) -> None:
        self.epoch.append(int(epoch))
        self.seconds.append(float(seconds))
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict:
        """Plain JSON-ready data: the metric lists plus ``epoch`` and ``seconds``."""
        return {**self.history, "epoch": list(self.epoch), "seconds": list(self.seconds)}

    @classmethod
    def from_dict(cls, data: dict) -> History:
        data = dict(data)
        epoch, seconds = data.pop("epoch", []), data.pop("seconds", [])
        return cls(data, epoch, seconds)

    def __len__(self) -> int:
        return len(self.epoch)

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={list(self.history)})"


class Callback:
    """Base class for callbacks (every hook does nothing)."""

    def on_train_begin(self, model: Any, initial_epoch: int = 0) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, model: Any) -> None:
        pass

    def on_train_end(self, model: Any) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` (default ``val_loss``) has not improved for ``patience`` epochs.

    An improvement is a change by more than ``min_delta`` in the right
    direction (down for losses, up for accuracies). With
    ``restore_best_weights`` the model ends with the weights of its best epoch.
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best_weights: bool = True, mode: str = "auto") -> None:
        if patience < 0:
            raise ValueError(f"EarlyStopping: patience must be >= 0, got {patience}")
        if mode == "auto":
            mode = "min" if "loss" in monitor else "max"
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'min', 'max' or 'auto', got {mode!r}")
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(min_delta)
        self.restore_best_weights, self.mode = restore_best_weights, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_weights: dict | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    def on_train_begin(self, model: Any, initial_epoch: int = 0) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.best_weights, self.wait, self.stopped_epoch = None, None, 0, None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict, model: Any) -> None:
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping: fit does not report {self.monitor!r} (it reports "
                             f"{', '.join(logs)}); give fit validation_data or "
                             f"validation_split to monitor a validation number")
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            model.stop_training = True

    def on_train_end(self, model: Any) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (with its optimizer state and history) after every epoch.

    The file is written atomically, so a run killed mid-save leaves the last
    good checkpoint; ``cr.nn.load_checkpoint(path)`` resumes from it.
    ``extra`` (a dict, or a function returning one) is saved along.
    """

    def __init__(self, path: str | Path, extra: Any = None) -> None:
        self.path = Path(path)
        self.extra = extra

    def on_epoch_end(self, epoch: int, logs: dict, model: Any) -> None:
        from .serialization import save_model

        extra = self.extra() if callable(self.extra) else dict(self.extra or {})
        extra.update({"epoch": epoch + 1, "history": model.history.to_dict()})
        rng = getattr(model, "fit_rng", None)
        if rng is not None:
            extra["shuffle_rng"] = rng.bit_generator.state
        save_model(model, self.path, include_optimizer=True, extra=extra)


def as_callbacks(callbacks: Any, early_stopping: Any) -> list:
    """The callback list of a ``fit`` call (``early_stopping``: a patience or an EarlyStopping)."""
    result = list(callbacks or [])
    if early_stopping is not None and early_stopping is not False:
        if isinstance(early_stopping, EarlyStopping):
            result.append(early_stopping)
        elif isinstance(early_stopping, (int, np.integer)) and not isinstance(early_stopping, bool):
            result.append(EarlyStopping(patience=int(early_stopping)))
        else:
            raise ValueError(f"fit: early_stopping must be a patience (int) or an "
                             f"EarlyStopping, got {early_stopping!r}")
    return result
