"""Losses: cross-entropy (softmax and binary, fused from logits) and mean squared error.

Every loss object turns labels into targets once per ``fit``
(``loss.targets(y, outputs)``: class ids become one-hot rows) and computes a
scalar mean loss from the model's outputs. Cross-entropy takes *logits*: a
model whose last layer has ``activation="softmax"`` hands the loss the values
before the softmax, so the fused primitive computes ``−Σ y log softmax(z)``
stably and its gradient is ``ŷ − y`` (divided by the batch size).

Function forms, for hand-written loops:

>>> import numpy as np
>>> logits = np.array([[2.0, 0.0, -1.0]])
>>> round(float(softmax_cross_entropy(logits, [0])), 4)
0.1698
>>> float(mean_squared_error(np.array([[1.0], [3.0]]), np.zeros((2, 1)), half=True))  # (½·1 + ½·9) / 2
2.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.data import class_ids, one_hot
from chainrule.ops import losses as fused

EPSILON = 1e-7  # probabilities are clipped to [ε, 1 − ε] when a loss must take their log


def _as_targets(labels: Any, like: Any) -> Any:
    """Class ids -> one-hot rows the width of ``like``; rows stay as they are."""
    if isinstance(labels, cr.Tensor):
        return labels
    labels = np.asarray(labels)
    shape = np.shape(like)
    if labels.ndim == len(shape) - 1 and labels.dtype.kind in "iub":
        return one_hot(labels, shape[-1], dtype=_dtype_of(like))
    return labels.astype(_dtype_of(like), copy=False)


def _dtype_of(x: Any) -> Any:
    dtype = np.dtype(getattr(x, "dtype", np.float64))
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def softmax_cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Any:
    """−Σ_k y_k log softmax(logits)_k per row, then the mean (or ``"sum"``/``"none"``).

    ``labels``: class ids (shape ``(n,)``) or one-hot / probability rows. The
    gradient with respect to the logits is ``(softmax(logits) − y) / n``.
    """
    return fused.softmax_cross_entropy(logits, _as_targets(labels, logits), reduction=reduction)


def binary_cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Any:
    """−y log σ(z) − (1 − y) log(1 − σ(z)) per entry, from logits ``z``; then the mean."""
    labels = labels if isinstance(labels, cr.Tensor) else \
        np.asarray(labels).astype(_dtype_of(logits), copy=False).reshape(np.shape(logits))
    return fused.binary_cross_entropy(logits, labels, reduction=reduction)


def mean_squared_error(outputs: Any, targets: Any, half: bool = False) -> Any:
    """Mean squared error.

    ``half=False``: the mean of ``(ŷ − y)²`` over every entry (Keras's ``mse``).
    ``half=True``: the course's cost ``J = (1/N) Σ_i ½ ‖ŷ_i − y_i‖²`` (sum over
    the outputs of a sample, mean over samples), whose gradient with respect to
    ``ŷ_i`` is ``(ŷ_i − y_i) / N``.
    """
    diff = outputs - targets
    if not half:
        return cnp.mean(cnp.square(diff))
    rows = int(np.prod(np.shape(diff)[:-1])) if np.ndim(diff) > 1 else 1
    return cnp.sum(cnp.square(diff)) * (0.5 / rows)


class Loss:
    """A training loss: prepares targets from labels and maps (outputs, targets) to a scalar.

    ``fused_activation`` names the output activation the loss absorbs: when the
    model's last layer has it (or none), the model gives the loss its logits.
    """

    name = "loss"
    fused_activation: str | None = None
    classification = False

    def __call__(self, outputs: Any, targets: Any) -> Any:
        raise NotImplementedError

    def from_probabilities(self, outputs: Any, targets: Any) -> Any:
        """The loss from activated outputs (when the model's activation is not fused)."""
        return self(outputs, targets)

    def targets(self, y: Any, num_outputs: int) -> np.ndarray:
        """Labels as the float32 array ``__call__`` takes, made once per ``fit``."""
        y = np.asarray(y)
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        return y.astype(np.float32, copy=False)

    def get_config(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class CrossEntropy(Loss):
    """Softmax cross-entropy for classes; labels are class ids or one-hot rows.

    Takes logits (fused and stable, gradient ``ŷ − y``). Also called
    ``"categorical_crossentropy"`` and ``"sparse_categorical_crossentropy"``.
    """

    name = "cross_entropy"
    fused_activation = "softmax"
    classification = True

    def __call__(self, logits: Any, targets: Any) -> Any:
        return fused.softmax_cross_entropy(logits, targets)

    def from_probabilities(self, probabilities: Any, targets: Any) -> Any:
        p = cnp.clip(probabilities, EPSILON, 1.0 - EPSILON)
        return -cnp.mean(cnp.sum(targets * cnp.log(p), axis=-1))

    def targets(self, y: Any, num_outputs: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == num_outputs and num_outputs > 1:
            return y.astype(np.float32, copy=False)
        return one_hot(class_ids(y, caller="cross_entropy"), num_outputs, dtype=np.float32)


class BinaryCrossEntropy(Loss):
    """Sigmoid cross-entropy for yes/no outputs (one unit, or one per label); takes logits."""

    name = "binary_cross_entropy"
    fused_activation = "sigmoid"
    classification = True

    def __call__(self, logits: Any, targets: Any) -> Any:
        return fused.binary_cross_entropy(logits, targets)

    def from_probabilities(self, probabilities: Any, targets: Any) -> Any:
        p = cnp.clip(probabilities, EPSILON, 1.0 - EPSILON)
        return -cnp.mean(targets * cnp.log(p) + (1.0 - targets) * cnp.log(1.0 - p))


class MeanSquaredError(Loss):
    """Mean squared error; ``half=True`` is the course's ``(1/N) Σ ½‖ŷ − y‖²``.

    Class ids are turned into one-hot rows when the model has several outputs
    (the course's square loss on a classifier).
    """

    name = "mean_squared_error"

    def __init__(self, half: bool = False) -> None:
        self.half = bool(half)

    def __call__(self, outputs: Any, targets: Any) -> Any:
        return mean_squared_error(outputs, targets, half=self.half)

    def targets(self, y: Any, num_outputs: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 1 and num_outputs > 1 and y.dtype.kind in "iu":
            return one_hot(y, num_outputs, dtype=np.float32)
        return super().targets(y, num_outputs)

    def get_config(self) -> dict:
        return {"name": self.name, "half": self.half}

    def __repr__(self) -> str:
        return f"MeanSquaredError(half={self.half})"


class FunctionLoss(Loss):
    """A user's ``loss(outputs, targets) -> scalar`` (cannot be saved by name)."""

    def __init__(self, fn: Callable[[Any, Any], Any]) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", "custom")

    def __call__(self, outputs: Any, targets: Any) -> Any:
        return self.fn(outputs, targets)

    def get_config(self) -> dict:
        return {"name": self.name, "custom": True}


_NAMES: dict[str, Callable[[], Loss]] = {
    "cross_entropy": CrossEntropy, "crossentropy": CrossEntropy, "ce": CrossEntropy,
    "categorical_crossentropy": CrossEntropy, "sparse_categorical_crossentropy": CrossEntropy,
    "softmax_cross_entropy": CrossEntropy,
    "binary_cross_entropy": BinaryCrossEntropy, "binary_crossentropy": BinaryCrossEntropy,
    "bce": BinaryCrossEntropy,
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "half_mse": lambda: MeanSquaredError(half=True),
}


def get(spec: Any) -> Loss:
    """A loss from a name, a config dict, a ``Loss`` or a function ``(outputs, targets)``."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, dict):
        if spec.get("custom"):
            raise ValueError(f"loss: {spec.get('name')!r} was a custom function; pass it "
                             f"again with compile(loss=...)")
        loss = get(spec.get("name"))
        if isinstance(loss, MeanSquaredError):
            loss.half = bool(spec.get("half", False))
        return loss
    if isinstance(spec, str):
        key = spec.strip().lower().replace("-", "_")
        if key in _NAMES:
            return _NAMES[key]()
        raise ValueError(f"loss: unknown loss {spec!r}; known: {', '.join(_NAMES)}")
    if callable(spec):
        return FunctionLoss(spec)
    raise ValueError(f"loss: expected a name, a Loss or a function, got {spec!r}")
