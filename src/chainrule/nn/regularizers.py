"""Weight penalties added to the training loss.

``L2(λ)`` adds ``λ Σ w²`` for a layer's kernel (Keras's convention): its
gradient is ``2 λ w``. Weight decay in the optimizers (``SGD(weight_decay=d)``
adds ``d w`` to the gradient) is the same thing with ``d = 2 λ``, and AdamW's
decoupled decay is the variant that works with Adam.

>>> import numpy as np
>>> float(L2(0.5)(np.array([1.0, 2.0])))
2.5
"""

from __future__ import annotations

from typing import Any

import chainrule.numpy as cnp


class L2:
    """``λ Σ w²`` for the weights it is attached to (``Dense(..., kernel_regularizer=L2(1e-4))``)."""

    def __init__(self, l2: float = 0.01) -> None:
        if l2 < 0:
            raise ValueError(f"L2: the factor must be >= 0, got {l2}")
        self.l2 = float(l2)

    def __call__(self, weights: Any) -> Any:
        return self.l2 * cnp.sum(cnp.square(weights))

    def get_config(self) -> dict:
        return {"name": "l2", "l2": self.l2}

    def __repr__(self) -> str:
        return f"L2({self.l2})"


def l2_penalty(params: Any, l2: float) -> Any:
    """``l2 · Σ_p Σ p²`` over a list of tensors (for hand-written loops)."""
    total = 0.0
    for p in params:
        total = total + cnp.sum(cnp.square(p))
    return l2 * total


def get(spec: Any) -> L2 | None:
    """A regularizer from None, a number (L2 factor), a config dict or an ``L2``."""
    if spec is None or isinstance(spec, L2):
        return spec
    if isinstance(spec, (int, float)) and not isinstance(spec, bool):
        return L2(spec)
    if isinstance(spec, dict) and spec.get("name") == "l2":
        return L2(spec.get("l2", 0.01))
    raise ValueError(f"regularizer: expected None, a number or L2(...), got {spec!r}")
