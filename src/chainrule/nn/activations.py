"""Activation functions by name: ``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"softmax"``, ``None``.

Each is one chainrule primitive (stable for inputs of any magnitude), so a
dense layer is one matmul, one bias addition and one activation.

>>> import numpy as np
>>> get("relu")(np.array([-1.0, 2.0])).tolist()
[0.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chainrule as cr
import chainrule.numpy as cnp


def identity(x: Any) -> Any:
    """The linear activation: ``x`` unchanged."""
    return x


def softmax(x: Any) -> Any:
    """Softmax over the last axis (the classes)."""
    return cr.softmax(x, axis=-1)


ACTIVATIONS: dict[str | None, Callable[[Any], Any]] = {
    None: identity,
    "linear": identity,
    "sigmoid": cr.sigmoid,
    "tanh": cnp.tanh,
    "relu": cr.relu,
    "softmax": softmax,
}


def canonical(name: str | None) -> str | None:
    """The name under which an activation is stored (``"linear"`` and ``"none"`` -> None)."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"activation: expected a name ({_known()}) or None, got "
                        f"{type(name).__name__}")
    key = name.strip().lower()
    if key in ("linear", "none", ""):
        return None
    if key not in ACTIVATIONS:
        raise ValueError(f"activation: unknown activation {name!r}; known: {_known()}")
    return key


def get(name: str | None) -> Callable[[Any], Any]:
    """The activation function called ``name``."""
    return ACTIVATIONS[canonical(name)]


def _known() -> str:
    return ", ".join(str(name) for name in ACTIVATIONS)
