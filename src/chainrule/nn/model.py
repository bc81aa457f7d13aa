"""``Sequential``: layers in a row, with Keras's ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

Training is mini-batch gradient descent exactly as a hand-written loop does
it (forward, loss, ``backward()``, optimizer step), over batches drawn by
index so the data set is never copied per epoch. When the last layer's
activation is the one the loss absorbs (softmax for cross-entropy, sigmoid
for binary cross-entropy), the model hands the loss its logits and the fused,
stable loss primitive does the rest; ``predict`` still applies the activation.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import optim
from chainrule.data import batch_indices, class_ids, split_indices

from . import losses as losses_
from .callbacks import History, as_callbacks
from .layers import LAYERS, Dense
from .module import Module
from .progress import EpochBar, format_logs

METRICS = ("accuracy",)
EVAL_BATCH = 4096  # rows per chunk in evaluate/predict: bounded memory, full BLAS speed


class Sequential(Module):
    """A stack of layers, each feeding the next.

    >>> import numpy as np
    >>> from chainrule.nn import Sequential, Dense
    >>> model = Sequential(seed=0)
    >>> model.add(Dense(16, activation="relu", input_dim=4))
    >>> model.add(Dense(3, activation="softmax"))
    >>> model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"], lr=0.01)
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(150, 4)).astype("float32"); y = np.argmax(x[:, :3], axis=1)
    >>> history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    >>> sorted(history.history), history.history["accuracy"][-1] > 0.9
    (['accuracy', 'loss'], True)
    >>> model.predict(x[:2]).shape, model.evaluate(x, y)["accuracy"] > 0.9
    ((2, 3), True)
    """

    def __init__(self, layers: Iterable[Module] | None = None, seed: int | None = None,
                 name: str = "sequential") -> None:
        self.layers: list[Module] = []
        self.seed = seed
        self.name = name
        self._rng = np.random.default_rng(seed)
        self.loss: losses_.Loss | None = None
        self.optimizer: optim.Optimizer | None = None
        self.metrics: list[str] = []
        self.history = History()
        self.stop_training = False
        self.fit_rng: np.random.Generator | None = None
        self.jit_compile = False
        self._recorded_step: Any = None   # cr.compile'd (loss, outputs) and gradients
        for layer in layers or ():
            self.add(layer)

    # --- structure ------------------------------------------------------------------------
    def add(self, layer: Module) -> None:
        """Append a layer (built at once when the size of its input is known)."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.add: expected a layer (e.g. Dense), got "
                            f"{type(layer).__name__}")
        self.layers.append(layer)
        if self.input_dim is not None:
            self.build()

    @property
    def input_dim(self) -> int | None:
        return getattr(self.layers[0], "input_dim", None) if self.layers else None

    @property
    def output_dim(self) -> int | None:
        return getattr(self.layers[-1], "units", None) if self.layers else None

    @property
    def output_activation(self) -> str | None:
        return getattr(self.layers[-1], "activation", None) if self.layers else None

    @property
    def built(self) -> bool:
        return bool(self.layers) and all(getattr(layer, "built", True) for layer in self.layers)

    def build(self, input_dim: int | None = None) -> None:
        """Create every layer's parameters, layer by layer, from the input size."""
        if not self.layers:
            raise ValueError("Sequential: the model has no layers; add some with .add(Dense(...))")
        size = input_dim if input_dim is not None else self.input_dim
        for layer in self.layers:
            if getattr(layer, "built", True) is False:
                if size is None:
                    return
                layer.build(size, rng=self._rng)
            elif self.seed is not None and _redrawable(layer):
                layer.build(layer.input_dim, rng=self._rng)  # Dense(..., input_dim=n): seeded here
            elif size is not None and getattr(layer, "input_dim", size) != size:
                raise ValueError(f"Sequential: {layer!r} takes inputs of size {layer.input_dim}, "
                                 f"but gets {size}")
            size = getattr(layer, "units", None)
        if self.optimizer is not None and not self.optimizer.params:
            self.optimizer.bind(self.parameters())

    # --- computing ------------------------------------------------------------------------
    def forward(self, x: Any) -> Any:
        """The model's output for a batch ``x`` (the last activation applied)."""
        if not self.built:
            self.build(int(np.shape(x)[-1]))
        for layer in self.layers:
            x = layer(x)
        return x

    def logits(self, x: Any) -> Any:
        """The output before the last layer's activation."""
        if not self.built:
            self.build(int(np.shape(x)[-1]))
        for layer in self.layers[:-1]:
            x = layer(x)
        last = self.layers[-1]
        return last(x, activate=False) if isinstance(last, Dense) else last(x)

    def _takes_logits(self) -> bool:
        fused = self.loss.fused_activation if self.loss is not None else None
        return fused is not None and self.output_activation in (fused, None) \
            and isinstance(self.layers[-1], Dense)

    def penalty(self) -> Any:
        """The sum of the layers' regularization terms (None without any)."""
        total = None
        for layer in self.layers:
            term = layer.penalty() if hasattr(layer, "penalty") else None
            if term is not None:
                total = term if total is None else total + term
        return total

    def compute_loss(self, x: Any, targets: Any) -> tuple[Any, Any]:
        """``(loss, outputs)`` for a batch: the compiled loss plus penalties.

        ``outputs`` are logits when the loss is fused with the last activation.
        ``targets`` come from ``self.loss.targets(labels, self.output_dim)``.
        """
        loss_fn = self._require_compiled("compute_loss")
        if self._takes_logits():
            outputs = self.logits(x)
            loss = loss_fn(outputs, targets)
        else:
            outputs = self.forward(x)
            loss = loss_fn.from_probabilities(outputs, targets)
        penalty = self.penalty()
        return (loss if penalty is None else loss + penalty), outputs

    # --- Keras-style training ---------------------------------------------------------------
    def compile(self, loss: Any = "cross_entropy", optimizer: Any = "adam",
                metrics: Sequence[str] | None = ("accuracy",), lr: float | None = None,
                jit_compile: bool = False) -> None:
        """Choose the loss, the optimizer (a name or a ``cr.optim`` optimizer) and metrics.

        Losses: ``"cross_entropy"`` (alias ``"categorical_crossentropy"``),
        ``"binary_crossentropy"``, ``"mse"``, ``"half_mse"``, a ``cr.nn`` loss or
        a function ``(outputs, targets) -> scalar``. Optimizers: ``"sgd"``,
        ``"momentum"``, ``"nesterov"``, ``"adam"``, ``"adamw"`` (``lr`` sets the
        rate of one given by name). Metrics: ``["accuracy"]`` or none.
        ``jit_compile=True`` (Keras's name) records the loss and its gradient
        once per batch shape with ``cr.compile`` and replays them in ``fit``:
        the same numbers, without the per-operation cost of the graph.
        """
        self.jit_compile, self._recorded_step = bool(jit_compile), None
        loss_fn = losses_.get(loss)
        optimizer = optim.get(optimizer, lr=lr)
        names = []
        for metric in metrics or ():
            key = str(metric).lower()
            key = "accuracy" if key in ("acc", "accuracy") else key
            if key not in METRICS:
                raise ValueError(f"compile: unknown metric {metric!r}; known: "
                                 f"{', '.join(METRICS)}")
            names.append(key)
        self.loss, self.optimizer, self.metrics = loss_fn, optimizer, names
        if self.built:
            self.optimizer.bind(self.parameters())

    def _require_compiled(self, what: str) -> losses_.Loss:
        if self.loss is None:
            raise ValueError(f"{what}: compile the model first, e.g. "
                             f"model.compile(loss='cross_entropy', optimizer='adam')")
        return self.loss

    def _inputs(self, x: Any) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2:
            raise ValueError(f"Sequential: inputs must have shape (samples, features), got "
                             f"{x.shape}; flatten images first (x.reshape(len(x), -1))")
        dtype = self.layers[0].kernel.dtype if self.built and isinstance(self.layers[0], Dense) \
            else np.float32
        return np.asarray(x, dtype=dtype)  # a copy only when the dtype differs

    def _predicted_ids(self, outputs: np.ndarray, from_logits: bool) -> np.ndarray:
        if outputs.shape[-1] == 1 or isinstance(self.loss, losses_.BinaryCrossEntropy):
            return (outputs > (0.0 if from_logits else 0.5)).astype(np.int64)
        return np.argmax(outputs, axis=-1)

    def _true_ids(self, y: np.ndarray) -> np.ndarray | None:
        """Class ids to score accuracy against (None when the task is not classification)."""
        if "accuracy" not in self.metrics:
            return None
        if isinstance(self.loss, losses_.BinaryCrossEntropy) or self.output_dim == 1:
            return np.rint(y.reshape(len(y), -1)).astype(np.int64)
        return class_ids(y, caller="accuracy")

    def _count_correct(self, outputs: Any, true_ids: np.ndarray, from_logits: bool) -> int:
        predicted = self._predicted_ids(outputs.numpy(), from_logits)
        return int(np.count_nonzero(predicted.reshape(true_ids.shape) == true_ids))

    def train_step(self, x_batch: np.ndarray, targets: np.ndarray) -> tuple[float, Any]:
        """One step of gradient descent on a batch: ``(loss value, outputs)``."""
        optimizer = self.optimizer
        optimizer.zero_grad()
        if self.jit_compile and self.built:
            return self._recorded_train_step(x_batch, targets)
        loss, outputs = self.compute_loss(x_batch, targets)
        loss.backward()
        optimizer.step()
        return float(loss), outputs

    def _recorded_train_step(self, x_batch: np.ndarray, targets: np.ndarray) -> tuple[float, Any]:
        """``train_step`` with the loss and gradients from a ``cr.compile``'d function."""
        if self._recorded_step is None:
            def loss_and_outputs(values: list, x: Any, t: Any) -> tuple[Any, Any]:
                with self.substituted(values):
                    return self.compute_loss(x, t)

            self._recorded_step = cr.compile(cr.value_and_grad(loss_and_outputs, has_aux=True))
        params = self.parameters()
        (loss, outputs), grads = self._recorded_step([p._value for p in params], x_batch, targets)
        for p, g in zip(params, grads):
            p.grad = cr.Tensor(g)
        self.optimizer.step()
        return float(loss), cr.Tensor(outputs)

    def fit(self, x: Any, y: Any, epochs: int = 1, batch_size: int = 32,
            validation_data: tuple | None = None, validation_split: float = 0.0,
            shuffle: bool = True, verbose: int = 1, callbacks: Sequence[Any] | None = None,
            early_stopping: Any = None, initial_epoch: int = 0, seed: Any = None) -> History:
        """Train for ``epochs`` epochs of mini-batches; returns the :class:`History`.

        ``validation_data=(x_val, y_val)`` or ``validation_split`` (a fraction
        of ``x`` held out, stratified by class) adds ``val_loss`` and
        ``val_accuracy``. ``verbose``: 0 silent, 1 a progress bar (on a
        terminal) and one line per epoch, 2 the lines only. ``early_stopping``:
        a patience in epochs (on ``val_loss``) or an ``EarlyStopping``.
        ``seed`` (int or Generator) fixes the shuffling. ``initial_epoch``
        resumes a run: the history is continued, not restarted.
        """
        self._require_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"fit: epochs must be a non-negative integer, got {epochs!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size < 1:
            raise ValueError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
        x, y, val = self._fit_data(x, y, validation_data, validation_split, seed)
        targets, true_ids = self.loss.targets(y, self.output_dim), self._true_ids(y)
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.fit_rng = rng
        callbacks = as_callbacks(callbacks, early_stopping)
        if initial_epoch == 0:
            self.history = History()
        self.stop_training = False
        for callback in callbacks:
            _hook(callback, "on_train_begin", self, initial_epoch)
        for epoch in range(initial_epoch, epochs):
            started = time.perf_counter()
            batches = batch_indices(len(x), batch_size, shuffle, rng)
            bar = EpochBar(-(-len(x) // batch_size), f"Epoch {epoch + 1}/{epochs}",
                           enabled=verbose == 1)
            logs = self._train_epoch(x, targets, true_ids, batches, bar)
            if val is not None:
                logs.update({f"val_{k}": v for k, v in self.evaluate(*val).items()})
            seconds = time.perf_counter() - started
            self.history.append(epoch, logs, seconds)
            for callback in callbacks:
                _hook(callback, "on_epoch_end", epoch, logs, self)
            if verbose:
                print(format_logs(epoch, epochs, logs, seconds), file=sys.stdout, flush=True)
            if self.stop_training:
                break
        for callback in callbacks:
            _hook(callback, "on_train_end", self)
        return self.history

    def _fit_data(self, x: Any, y: Any, validation_data: tuple | None, validation_split: float,
                  seed: Any) -> tuple:
        """Training inputs and labels, and the validation pair (or None); builds the model."""
        x, y = self._inputs(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"fit: x and y have different numbers of samples: {len(x)} and "
                             f"{len(y)}")
        if validation_split and validation_data is not None:
            raise ValueError("fit: give validation_data or validation_split, not both")
        if validation_split:
            stratify = self.loss.classification and (y.ndim == 1 or y.shape[1] > 1)
            keep, held = split_indices(y if stratify else len(y), validation_split,
                                       stratify=stratify, seed=0 if seed is None else seed)
            x, y, validation_data = x[keep], y[keep], (x[held], y[held])
        if not self.built:
            self.build(x.shape[1])
            x = self._inputs(x)
        if not self.optimizer.params:
            self.optimizer.bind(self.parameters())
        if validation_data is None:
            return x, y, None
        x_val, y_val = validation_data
        return x, y, (self._inputs(x_val), np.asarray(y_val))

    def _train_epoch(self, x: np.ndarray, targets: np.ndarray, true_ids: np.ndarray | None,
                     batches: Iterable[np.ndarray], bar: EpochBar) -> dict[str, float]:
        """One pass over the batches (index arrays): the epoch's mean loss and accuracy."""
        from_logits = self._takes_logits()
        total_loss, correct, seen = 0.0, 0, 0
        try:
            for step, index in enumerate(batches):
                loss_value, outputs = self.train_step(x[index], targets[index])
                total_loss += loss_value * len(index)
                seen += len(index)
                if true_ids is not None:
                    correct += self._count_correct(outputs, true_ids[index], from_logits)
                bar.update(step + 1, total_loss / seen)
        finally:
            bar.close()
        if not np.isfinite(total_loss):
            raise FloatingPointError(
                f"fit: the loss became {total_loss / max(seen, 1)}; lower the learning rate "
                f"(or clip the gradients: an optimizer with clipnorm=1.0)")
        logs = {"loss": total_loss / max(seen, 1)}
        if true_ids is not None:
            logs["accuracy"] = correct / max(true_ids.size, 1)
        return logs

    def evaluate(self, x: Any, y: Any, batch_size: int | None = None) -> dict[str, float]:
        """``{"loss": ..., "accuracy": ...}`` over ``(x, y)``, without training."""
        loss_fn = self._require_compiled("evaluate")
        x, y = self._inputs(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"evaluate: x and y have different numbers of samples: {len(x)} "
                             f"and {len(y)}")
        if not self.built:
            self.build(x.shape[1])
        targets = loss_fn.targets(y, self.output_dim)
        true_ids = self._true_ids(y)
        from_logits = self._takes_logits()
        chunk = batch_size or EVAL_BATCH
        total_loss, correct = 0.0, 0
        with cr.no_grad():
            for start in range(0, len(x), chunk):
                part = slice(start, start + chunk)
                loss, outputs = self.compute_loss(x[part], targets[part])
                total_loss += float(loss) * len(x[part])
                if true_ids is not None:
                    correct += self._count_correct(outputs, true_ids[part], from_logits)
        result = {"loss": total_loss / max(len(x), 1)}
        if true_ids is not None:
            result["accuracy"] = correct / max(true_ids.size, 1)
        return result

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """The model's outputs (probabilities after a softmax) as a NumPy array."""
        x = self._inputs(x)
        chunk = batch_size or EVAL_BATCH
        parts = []
        with cr.no_grad():
            for start in range(0, len(x), chunk):
                out = self.forward(x[start:start + chunk])
                parts.append(out.numpy() if isinstance(out, cr.Tensor) else np.asarray(out))
        if not parts:
            return np.zeros((0, self.output_dim or 0), dtype=np.float32)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def predict_classes(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """Predicted class ids (argmax, or a 0.5 threshold for one sigmoid output)."""
        ids = self._predicted_ids(self.predict(x, batch_size), from_logits=False)
        return ids[:, 0] if ids.ndim == 2 and ids.shape[1] == 1 else ids

    # --- description, saving ---------------------------------------------------------------
    def summary(self) -> str:
        """A table of the layers, their output shapes and parameter counts."""
        rows = [(f"{i} {layer!r}", str((None, getattr(layer, "units", "?"))),
                 f"{layer.count_params():,}") for i, layer in enumerate(self.layers)]
        rows.append(("total", "", f"{self.count_params():,}"))
        width = max(len(row[0]) for row in rows + [("layer",)])
        lines = [f"{'layer':<{width}}  {'output':>10}  {'params':>10}"]
        lines += [f"{name:<{width}}  {shape:>10}  {count:>10}" for name, shape, count in rows]
        return "\n".join(lines)

    def get_config(self) -> dict:
        layers = []
        for layer in self.layers:
            if not hasattr(layer, "get_config"):
                raise ValueError(f"save: layer {layer!r} cannot be described for saving")
            layers.append(layer.get_config())
        return {"class": "Sequential", "name": self.name, "seed": self.seed, "layers": layers}

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        if config.get("class") != "Sequential":
            raise ValueError(f"Sequential.from_config: not a Sequential model: "
                             f"{config.get('class')!r}")
        model = cls(seed=config.get("seed"), name=config.get("name", "sequential"))
        for layer_config in config.get("layers", []):
            kind = layer_config.get("class")
            if kind not in LAYERS:
                raise ValueError(f"Sequential.from_config: unknown layer {kind!r}; known: "
                                 f"{', '.join(LAYERS)}")
            model.add(LAYERS[kind].from_config(layer_config))
        return model

    def save(self, path: str | Path, include_optimizer: bool = True) -> Path:
        """Write architecture, weights (and optimizer state) to one file; see ``load_model``."""
        from .serialization import save_model
        return save_model(self, path, include_optimizer=include_optimizer)

    def __repr__(self) -> str:
        return f"Sequential({self.layers!r})"


def _redrawable(layer: Module) -> bool:
    """A layer whose initial weights came from fresh entropy and that has never run."""
    return getattr(layer, "_unseeded", False)


def _hook(callback: Any, name: str, *args: Any) -> None:
    method = getattr(callback, name, None)
    if method is not None:
        method(*args)
