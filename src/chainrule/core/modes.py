"""Switches around a block of code: ``no_grad``, ``enable_grad``, ``detect_anomaly``."""

from __future__ import annotations

import contextlib
from typing import Any

from chainrule.core.trace import STATE, next_level
from chainrule.core.tensor import Tensor


class _Switch(contextlib.ContextDecorator):
    """A context manager that is also a decorator (``@no_grad()`` or ``@no_grad``), re-entrant."""

    def __new__(cls, func: Any = None) -> Any:
        switch = super().__new__(cls)
        switch._saved = []
        return switch(func) if callable(func) else switch  # bare @no_grad: decorate at once

    def __init__(self, func: Any = None) -> None:
        pass

    def __enter__(self) -> _Switch:
        self._saved.append((STATE.grad_enabled, STATE.floor, STATE.anomaly))
        self.switch()
        return self

    def __exit__(self, *exc: Any) -> None:
        STATE.grad_enabled, STATE.floor, STATE.anomaly = self._saved.pop()

    def switch(self) -> None:
        raise NotImplementedError


class no_grad(_Switch):
    """Record nothing inside: not on the tape, not for any transformation in progress.

    Transformations started inside the block work as usual (their levels are
    above the block's floor), like ``torch.func.grad`` inside ``torch.no_grad``.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    def switch(self) -> None:
        STATE.grad_enabled = False
        STATE.floor = next_level()


class enable_grad(_Switch):
    """Record again on the tape inside a ``no_grad`` block."""

    def switch(self) -> None:
        STATE.grad_enabled = True
        STATE.floor = 0


class detect_anomaly(_Switch):
    """Raise ``FloatingPointError`` at the first op, forward or backward, that makes NaN or inf.

    The message names the operation (for backward, the op whose rule produced
    it) and the user's line that created it. Checking every result costs time:
    use it to debug.
    """

    def switch(self) -> None:
        STATE.anomaly = True


def stop_gradient(x: Any) -> Any:
    """``x``'s value as a constant for every enclosing transformation and the tape."""
    if isinstance(x, Tensor):
        return Tensor(x.raw())
    return x
