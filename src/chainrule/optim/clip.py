"""Gradient clipping by global norm.

If ‖g‖ = √(Σ_p Σ g_p²) over all parameters exceeds ``max_norm``, every
gradient is scaled by ``max_norm / ‖g‖``: the direction is kept, the step is
bounded.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

import chainrule as cr


def global_norm(params: Iterable[cr.Tensor]) -> float:
    """√(Σ ‖p.grad‖²) over the parameters that have a gradient."""
    total = 0.0
    for p in params:
        if p.grad is not None:
            g = p.grad.numpy().ravel()
            total += float(np.dot(g, g))
    return math.sqrt(total)


def clip_grad_norm(params: Iterable[cr.Tensor], max_norm: float) -> float:
    """Scale the gradients in place so their global norm is at most ``max_norm``.

    Returns the norm before clipping.

    >>> import chainrule as cr
    >>> w = cr.tensor([3.0, 4.0], requires_grad=True)
    >>> w.grad = cr.tensor([3.0, 4.0])
    >>> clip_grad_norm([w], 1.0), w.grad.tolist()
    (5.0, [0.6000000000000001, 0.8])
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm}")
    params = list(params)
    norm = global_norm(params)
    if norm > max_norm:
        scale = max_norm / norm
        with cr.no_grad():
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(scale)
    return norm
