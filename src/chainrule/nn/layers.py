"""Layers: ``Dense``, the fully connected layer of a multilayer perceptron.

A dense layer computes ``a = g(x W + b)`` for a batch ``x`` of shape
``(batch, fan_in)``: one matmul, one broadcast bias addition and one
activation, each a single chainrule primitive. ``W`` has shape
``(fan_in, units)`` (rows are inputs: the course's ``W·a`` transposed, which
suits row-major batches).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import chainrule as cr
from chainrule.ops.nnops import DENSE_ACTIVATIONS, dense

from . import activations, initializers, regularizers
from .module import Module, parameter


class Dense(Module):
    """``Dense(units, activation=None, input_dim=None)``: ``activation(x @ kernel + bias)``.

    The input size is taken from the first batch when ``input_dim`` is not
    given (lazy build). The kernel starts with He-uniform values for ``relu``
    and Glorot-uniform otherwise, the bias with zeros; both float32.

    >>> import numpy as np
    >>> layer = Dense(3, activation="relu", seed=0)
    >>> layer.built
    False
    >>> layer(np.ones((2, 5))).shape
    (2, 3)
    >>> [(name, p.shape) for name, p in layer.named_parameters()]
    [('kernel', (5, 3)), ('bias', (3,))]
    """

    def __init__(self, units: int, activation: str | None = None, input_dim: int | None = None,
                 *, use_bias: bool = True, kernel_initializer: Any = None,
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 dtype: Any = "float32", seed: int | None = None, name: str | None = None) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation = activations.canonical(activation)
        self.use_bias = bool(use_bias)
        self.dtype = np.dtype(dtype)
        self.seed = seed
        self.name = name or "dense"
        self.kernel_initializer = initializers.get(
            kernel_initializer or initializers.default_for(self.activation))
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.input_dim: int | None = None
        self.kernel: Any = None
        self.bias: Any = None
        self._activate = activations.get(self.activation)
        if input_dim is not None:
            self.build(input_dim)

    @property
    def built(self) -> bool:
        return self.kernel is not None

    def build(self, input_dim: int, rng: np.random.Generator | None = None) -> None:
        """Create the parameters for inputs of size ``input_dim``.

        ``rng`` (a model's generator) is used unless the layer has its own ``seed``.
        """
        if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)) \
                or input_dim < 1:
            raise ValueError(f"Dense: input_dim must be a positive integer, got {input_dim!r}")
        # a layer that drew its weights from fresh entropy (no seed, no model generator)
        # may have them redrawn by the seeded model it is added to (see Sequential.build)
        self._unseeded = self.seed is None and rng is None
        if self.seed is not None or rng is None:
            rng = np.random.default_rng(self.seed)
        self.input_dim = int(input_dim)
        shape = (self.input_dim, self.units)
        self.kernel = parameter(self.kernel_initializer(shape, rng, self.dtype), self.dtype)
        if self.use_bias:
            self.bias = parameter(self.bias_initializer((self.units,), rng, self.dtype), self.dtype)

    def forward(self, x: Any, activate: bool = True) -> Any:
        """``activation(x @ kernel + bias)``; ``activate=False`` stops before the activation."""
        if self.kernel is None:
            self.build(int(np.shape(x)[-1]))
        self._unseeded = False  # it has run: its weights are its own now
        if not isinstance(x, cr.Tensor):
            x = np.asarray(x, dtype=self.kernel.dtype)  # no copy when already right
        activation = self.activation if activate else None
        if self.bias is not None and x.ndim == 2 and activation in DENSE_ACTIVATIONS:
            return dense(x, self.kernel, self.bias, activation=activation)   # one graph node
        z = x @ self.kernel
        if self.bias is not None:
            z = z + self.bias
        return self._activate(z) if activate else z

    def penalty(self) -> Any:
        """The regularization term of this layer's loss (None without one)."""
        if self.kernel_regularizer is None or self.kernel is None:
            return None
        return self.kernel_regularizer(self.kernel)

    def get_config(self) -> dict:
        kernel_init = initializers.config_of(self.kernel_initializer)
        bias_init = initializers.config_of(self.bias_initializer)
        return {
            "class": "Dense", "units": self.units, "activation": self.activation,
            "input_dim": self.input_dim, "use_bias": self.use_bias, "dtype": self.dtype.name,
            "kernel_initializer": kernel_init, "bias_initializer": bias_init,
            "kernel_regularizer": None if self.kernel_regularizer is None
            else self.kernel_regularizer.get_config(),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict) -> Dense:
        return cls(config["units"], activation=config.get("activation"),
                   input_dim=config.get("input_dim"), use_bias=config.get("use_bias", True),
                   kernel_initializer=config.get("kernel_initializer"),
                   bias_initializer=config.get("bias_initializer") or "zeros",
                   kernel_regularizer=config.get("kernel_regularizer"),
                   dtype=config.get("dtype", "float32"), name=config.get("name"))

    def __repr__(self) -> str:
        inputs = "?" if self.input_dim is None else self.input_dim
        return f"Dense({inputs} -> {self.units}, activation={self.activation!r})"


LAYERS = {"Dense": Dense}
