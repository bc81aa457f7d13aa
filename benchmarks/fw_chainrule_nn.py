"""chainrule's neural-network toolkit, in a hand-written loop as its docs show it:
``cr.nn.Sequential`` of ``cr.nn.Dense`` layers, the fused softmax cross-entropy from
logits, ``cr.optim.SGD``. W1, W1b and W1s only."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from benchmarks.workloads import Skip

NOTES: list[str] = []


def version() -> str:
    return cr.__version__


def _toolkit():
    """``(nn, optim, loss function)``, or Skip when the toolkit is not there yet."""
    try:
        from chainrule import nn, optim
        from chainrule.nn.losses import softmax_cross_entropy
    except ImportError as error:
        raise Skip(f"chainrule.nn is not importable: {error}") from None
    missing = [name for name, module in (("nn.Sequential", nn), ("nn.Dense", nn),
                                         ("optim.SGD", optim))
               if not hasattr(module, name.split(".")[1])]
    if missing:
        raise Skip(f"chainrule has no {', '.join(missing)} yet")
    return nn, optim, softmax_cross_entropy


class MLPTrainer:
    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        nn, optim, self.loss = _toolkit()
        pairs = list(zip(params[0::2], params[1::2]))
        layers = [nn.Dense(w.shape[1], activation=activation if i < len(pairs) - 1 else None,
                           input_dim=w.shape[0])
                  for i, (w, _) in enumerate(pairs)]
        with cr.no_grad():                       # the suite's initial weights, not the layers'
            for layer, (w, b) in zip(layers, pairs):
                layer.kernel.copy_(w)
                layer.bias.copy_(b)
        self.model = nn.Sequential(layers)
        self.optimizer = optim.SGD(self.model.parameters(), lr=lr)

    def step(self, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        self.optimizer.zero_grad()
        loss = self.loss(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        with cr.no_grad():
            return np.asarray(self.model(x))

    def sync(self) -> None:
        pass


def mlp_trainer(params: list[np.ndarray], activation: str, lr: float) -> MLPTrainer:
    return MLPTrainer(params, activation, lr)
