"""Weight initializers: ``zeros``, ``ones``, ``constant``, Glorot (Xavier) and He.

An initializer is called as ``init(shape, rng, dtype)`` and returns a NumPy
array. For a dense kernel of shape ``(fan_in, fan_out)``:

* ``glorot_uniform``: U(−a, a), a = √(6 / (fan_in + fan_out)); ``glorot_normal``:
  N(0, σ²), σ = √(2 / (fan_in + fan_out)). Keeps the variance of activations
  and of gradients about constant through tanh/sigmoid layers.
* ``he_uniform``: U(−a, a), a = √(6 / fan_in); ``he_normal``: σ = √(2 / fan_in).
  Made for ReLU, which zeroes half its inputs.

A constant initialization (zeros included) makes every hidden unit of a layer
compute the same function and receive the same gradient, so they stay equal
forever: random initialization breaks that symmetry.

>>> import numpy as np
>>> w = get("glorot_uniform")((64, 10), np.random.default_rng(0), "float32")
>>> w.dtype, bool(np.abs(w).max() <= np.sqrt(6 / 74))
(dtype('float32'), True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Initializer = Callable[[tuple, np.random.Generator, Any], np.ndarray]


def _fans(shape: tuple) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def zeros(shape: tuple, rng: np.random.Generator | None = None, dtype: Any = "float32"):
    return np.zeros(shape, dtype=dtype)


def ones(shape: tuple, rng: np.random.Generator | None = None, dtype: Any = "float32"):
    return np.ones(shape, dtype=dtype)


class constant:
    """Every entry ``value``: ``constant(0.5)`` (for experiments such as the symmetry one)."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, shape: tuple, rng: np.random.Generator | None = None,
                 dtype: Any = "float32") -> np.ndarray:
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self) -> dict:
        return {"name": "constant", "value": self.value}

    def __repr__(self) -> str:
        return f"constant({self.value})"


def _uniform(shape, rng, dtype, limit):
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def _normal(shape, rng, dtype, std):
    return (rng.standard_normal(size=shape) * std).astype(dtype)


def glorot_uniform(shape: tuple, rng: np.random.Generator, dtype: Any = "float32"):
    fan_in, fan_out = _fans(shape)
    return _uniform(shape, rng, dtype, math.sqrt(6.0 / (fan_in + fan_out)))


def glorot_normal(shape: tuple, rng: np.random.Generator, dtype: Any = "float32"):
    fan_in, fan_out = _fans(shape)
    return _normal(shape, rng, dtype, math.sqrt(2.0 / (fan_in + fan_out)))


def he_uniform(shape: tuple, rng: np.random.Generator, dtype: Any = "float32"):
    fan_in, _ = _fans(shape)
    return _uniform(shape, rng, dtype, math.sqrt(6.0 / fan_in))


def he_normal(shape: tuple, rng: np.random.Generator, dtype: Any = "float32"):
    fan_in, _ = _fans(shape)
    return _normal(shape, rng, dtype, math.sqrt(2.0 / fan_in))


xavier_uniform, xavier_normal = glorot_uniform, glorot_normal

INITIALIZERS: dict[str, Initializer] = {
    "zeros": zeros, "ones": ones,
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal,
    "xavier_uniform": glorot_uniform, "xavier_normal": glorot_normal,
    "he_uniform": he_uniform, "he_normal": he_normal,
}


def default_for(activation: str | None) -> str:
    """He for ReLU, Glorot for everything else."""
    return "he_uniform" if activation == "relu" else "glorot_uniform"


def get(spec: Any) -> Initializer:
    """An initializer from a name, a config dict (``{"name": "constant", "value": 1}``),
    a number (a constant) or a callable ``(shape, rng, dtype) -> array``."""
    if callable(spec):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return constant(spec)
    if isinstance(spec, dict):
        if spec.get("name") == "constant":
            return constant(spec.get("value", 0.0))
        spec = spec.get("name")
    if isinstance(spec, str) and spec.lower() in INITIALIZERS:
        return INITIALIZERS[spec.lower()]
    raise ValueError(f"initializer: unknown initializer {spec!r}; known: "
                     f"{', '.join(INITIALIZERS)}, constant(value)")


def config_of(init: Any) -> Any:
    """How an initializer is written in a saved architecture (None if it cannot be)."""
    if hasattr(init, "get_config"):
        return init.get_config()
    for name, known in INITIALIZERS.items():
        if init is known:
            return name
    return None
