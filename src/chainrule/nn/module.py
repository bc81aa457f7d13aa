"""``Module``: something with parameters that maps inputs to outputs.

A parameter is a leaf :class:`chainrule.Tensor` with ``requires_grad=True``,
held as an attribute of a module (directly, in a child module, or in a list of
modules). ``parameters()`` finds them in a fixed order: attribute order, depth
first, so the same architecture always lists its parameters the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import chainrule as cr


def parameter(value: Any, dtype: Any = "float32") -> cr.Tensor:
    """A new trainable leaf tensor holding a copy of ``value`` (float32 by default).

    >>> w = parameter([[1.0, 2.0]])
    >>> w.requires_grad, w.dtype, w.is_leaf
    (True, dtype('float32'), True)
    """
    return cr.tensor(np.asarray(value, dtype=dtype), requires_grad=True)


class ParameterList(list):
    """A module's parameters, with a reference to the module they came from."""

    def __init__(self, tensors: list, module: Module) -> None:
        super().__init__(tensors)
        self.module = module


class Module:
    """Base class of layers and models: parameters, ``zero_grad``, state and functional calls.

    Subclasses set their parameters as attributes and define ``forward``.

    >>> import chainrule as cr
    >>> class Scale(Module):
    ...     def __init__(self):
    ...         self.w = parameter([2.0])
    ...     def forward(self, x):
    ...         return x * self.w
    >>> m = Scale()
    >>> loss = m(cr.tensor([3.0])).sum()
    >>> loss.backward()
    >>> [(name, p.grad.tolist()) for name, p in m.named_parameters()]
    [('w', [3.0])]
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    # --- finding the parameters ---------------------------------------------------------
    def _slots(self, prefix: str = "") -> Iterator[tuple[str, Module, str, cr.Tensor]]:
        """(full name, owner module, attribute, tensor) for every parameter, in order."""
        for attribute, value in vars(self).items():
            if attribute.startswith("_"):
                continue
            if isinstance(value, cr.Tensor) and value.requires_grad:
                yield prefix + attribute, self, attribute, value
            elif isinstance(value, Module):
                yield from value._slots(f"{prefix}{attribute}.")
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, Module):
                        yield from item._slots(f"{prefix}{attribute}.{i}.")

    def named_parameters(self) -> list[tuple[str, cr.Tensor]]:
        """``[(name, tensor), ...]``, e.g. ``("layers.0.kernel", W)``."""
        return [(name, tensor) for name, _, _, tensor in self._slots()]

    def parameters(self) -> list[cr.Tensor]:
        """The trainable tensors, in a fixed order (what optimizers take).

        The list remembers its module: an optimizer made before the first call (when
        layers that take their input size from the first batch have no weights yet)
        picks the weights up at its first step.
        """
        return ParameterList([tensor for _, _, _, tensor in self._slots()], self)

    def count_params(self) -> int:
        """How many numbers the parameters hold."""
        return int(sum(p.size for p in self.parameters()))

    def zero_grad(self) -> None:
        """Forget the gradients of the last ``backward()`` (``.grad = None``)."""
        for p in self.parameters():
            p.grad = None

    # --- state: the parameter values as arrays ------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Name -> a copy of the parameter's values."""
        return {name: p.numpy().copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy values into the parameters in place; names and shapes must match."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise ValueError(f"load_state_dict: parameter names differ: missing {missing}, "
                             f"unexpected {unexpected}")
        with cr.no_grad():
            for name, p in own.items():
                value = np.asarray(state[name])
                if value.shape != p.shape:
                    raise ValueError(f"load_state_dict: {name} has shape {p.shape}, "
                                     f"the state holds shape {value.shape}")
                p.copy_(value.astype(p.dtype, copy=False))

    # --- the model as a function of its parameters --------------------------------------
    @contextlib.contextmanager
    def substituted(self, params: Sequence[Any]) -> Iterator[Module]:
        """Inside the block, ``params`` stand in for ``self.parameters()`` (same order).

        The values may be arrays or traced tensors (inside ``cr.grad``); the
        parameters are put back when the block ends.
        """
        slots = list(self._slots())
        if len(params) != len(slots):
            raise ValueError(f"substituted: {len(params)} values for {len(slots)} "
                             f"parameters ({', '.join(name for name, *_ in slots)})")
        try:
            for (_, owner, attribute, _), value in zip(slots, params):
                setattr(owner, attribute, value)
            yield self
        finally:
            for _, owner, attribute, original in slots:
                setattr(owner, attribute, original)

    def functional_call(self, params: Sequence[Any], *args: Any, **kwargs: Any) -> Any:
        """``self(*args, **kwargs)`` computed with ``params`` in place of the parameters.

        This makes the model a function of its parameter list, for the
        transformations and gradient checks:

        >>> import chainrule as cr, numpy as np
        >>> from chainrule.nn import Dense
        >>> layer = Dense(2, activation="tanh", input_dim=3, seed=0)
        >>> x = np.ones((4, 3))
        >>> loss = lambda params: layer.functional_call(params, x).sum()
        >>> cr.check_grads(loss, [p.numpy() for p in layer.parameters()])
        """
        with self.substituted(params):
            return self(*args, **kwargs)
