"""Optimizers: SGD (momentum, Nesterov, weight decay), Adam and AdamW.

An optimizer holds a list of parameters (leaf tensors with ``requires_grad``)
and, on ``step()``, moves each by its ``.grad`` in place: the arrays the model
uses are updated where they are (``p.sub_(update)`` under ``cr.no_grad()``),
and the update is computed in buffers allocated on the first step, so a step
allocates no new arrays. ``zero_grad()`` sets every ``.grad`` to ``None``.

Update rules (g the gradient, lr the learning rate; PyTorch's conventions):

* SGD: ``d = g + wd·w``; with momentum μ: ``v ← μ v + d``, then ``d = v``
  (Nesterov: ``d = d + μ v``); ``w ← w − lr·d``.
* Adam: ``d = g + wd·w``; ``m ← β₁m + (1−β₁)d``, ``v ← β₂v + (1−β₂)d²``;
  ``w ← w − lr·(m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)``.
* AdamW: Adam without ``wd`` in ``d``, and ``w ← w·(1 − lr·wd)`` first (decoupled decay).

>>> import chainrule as cr
>>> w = cr.tensor([1.0, 2.0], requires_grad=True)
>>> opt = SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step()
>>> w.tolist()
[0.8, 1.6]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

import chainrule as cr

from .clip import clip_grad_norm


class Optimizer:
    """What every optimizer has: parameters, ``lr``, ``step()``, ``zero_grad()``, state.

    ``params`` may be left out and given later with ``bind`` (``model.compile``
    does that). ``clipnorm`` clips the gradients by their global norm before
    each step.
    """

    name = "optimizer"

    def __init__(self, params: Iterable[cr.Tensor] | None = None, lr: float = 0.01,
                 clipnorm: float | None = None) -> None:
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be positive, got {lr}")
        self.lr = float(lr)
        self.initial_lr = self.lr
        self.clipnorm = clipnorm
        self.iterations = 0
        self.params: list[cr.Tensor] = []
        self.state: list[dict[str, np.ndarray]] = []
        self._module: Any = None
        if params is not None:
            self.bind(params)

    def bind(self, params: Iterable[cr.Tensor]) -> Optimizer:
        """Take charge of ``params`` (a list of leaf tensors that require grad).

        Given ``model.parameters()`` (or a model), it follows the model: weights its
        layers create at their first call are included from the first ``step()`` on.
        """
        self._module = getattr(params, "module", None) or (
            params if callable(getattr(params, "parameters", None)) else None)
        if self._module is not None and not isinstance(params, list):
            params = self._module.parameters()
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, cr.Tensor) or not p.requires_grad or not p.is_leaf:
                raise ValueError(f"{type(self).__name__}: parameter {i} is not a leaf tensor "
                                 f"with requires_grad=True")
        self.params = params
        self.state = [{} for _ in params]
        return self

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to ``None`` (the next backward starts afresh)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        if self._module is not None:
            self._follow_module()
        if not self.params:
            raise ValueError(f"{type(self).__name__}: no parameters; pass model.parameters() "
                             f"when making the optimizer (or compile a model with it)")
        with cr.no_grad():
            if self.clipnorm is not None:
                clip_grad_norm(self.params, self.clipnorm)
            self.iterations += 1
            # last layer first: the first layer's weights, updated last, are still in cache
            # when the next forward pass starts with them (about 1 % of a W1 step)
            for p, state in reversed(list(zip(self.params, self.state))):
                g = p.grad
                if g is None:
                    continue
                self._update(p, p.numpy(), g.numpy(), state)

    def _follow_module(self) -> None:
        """Pick up weights the model created since ``bind`` (lazy input sizes), once."""
        current = self._module.parameters()
        if len(current) != len(self.params):
            states = dict(zip(map(id, self.params), self.state))
            self.params = list(current)
            self.state = [states.get(id(p), {}) for p in self.params]
        elif self.params:
            self._module = None  # every layer is built: nothing more will appear

    def _update(self, p: cr.Tensor, w: np.ndarray, g: np.ndarray, state: dict) -> None:
        raise NotImplementedError

    @staticmethod
    def _buffer(state: dict, key: str, like: np.ndarray) -> np.ndarray:
        buffer = state.get(key)
        if buffer is None:
            buffer = state[key] = np.empty_like(like)
        return buffer

    # --- saving and restoring ---------------------------------------------------------
    def get_config(self) -> dict:
        return {"name": self.name, "lr": self.lr, "clipnorm": self.clipnorm}

    def state_dict(self) -> dict:
        """``{"iterations", "lr", "slots": [{name: array}]}``; scratch buffers are left out."""
        slots = [{key: value.copy() for key, value in state.items() if key in self.SLOTS}
                 for state in self.state]
        return {"iterations": self.iterations, "lr": self.lr, "slots": slots}

    def load_state_dict(self, saved: dict) -> None:
        slots = saved.get("slots", [])
        if len(slots) != len(self.params):
            raise ValueError(f"{type(self).__name__}.load_state_dict: state for {len(slots)} "
                             f"parameters, the optimizer has {len(self.params)}")
        for i, (p, slot) in enumerate(zip(self.params, slots)):
            for key, value in slot.items():
                if tuple(np.shape(value)) != p.shape:
                    raise ValueError(f"{type(self).__name__}.load_state_dict: {key} of parameter "
                                     f"{i} has shape {np.shape(value)}, the parameter {p.shape}")
        self.state = [{key: np.array(value, dtype=p.dtype) for key, value in slot.items()}
                      for p, slot in zip(self.params, slots)]
        self.iterations = int(saved.get("iterations", 0))
        self.lr = float(saved.get("lr", self.lr))

    SLOTS: tuple[str, ...] = ()

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({options})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, Nesterov momentum and weight decay.

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)   # v1 = 2, w = 0.8; v2 = 0.9·2 + 1.6 = 3.4, w = 0.46
    0.46
    """

    name = "sgd"
    SLOTS = ("velocity",)

    def __init__(self, params: Iterable[cr.Tensor] | None = None, lr: float = 0.01,
                 momentum: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
                 clipnorm: float | None = None) -> None:
        if momentum < 0 or weight_decay < 0:
            raise ValueError("SGD: momentum and weight_decay must be >= 0")
        if nesterov and momentum == 0:
            raise ValueError("SGD: Nesterov momentum needs momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        super().__init__(params, lr, clipnorm)

    def _update(self, p, w, g, state):
        d = g
        if self.weight_decay:
            d = self._buffer(state, "decayed", w)
            np.multiply(w, self.weight_decay, out=d)
            d += g
        if self.momentum:
            velocity = state.get("velocity")
            if velocity is None:
                velocity = state["velocity"] = d.copy()
            else:
                velocity *= self.momentum
                velocity += d
            if self.nesterov:
                ahead = self._buffer(state, "ahead", w)
                np.multiply(velocity, self.momentum, out=ahead)
                ahead += d
                d = ahead
            else:
                d = velocity
        p.sub_(d, alpha=self.lr)      # w -= lr·d in one pass over w

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}


class Adam(Optimizer):
    """Adam: per-parameter steps from running means of the gradient and of its square.

    ``weight_decay`` adds ``wd·w`` to the gradient (L2, as in PyTorch's Adam);
    for decoupled weight decay use :class:`AdamW`.
    """

    name = "adam"
    SLOTS = ("m", "v")
    decoupled = False

    def __init__(self, params: Iterable[cr.Tensor] | None = None, lr: float = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, clipnorm: float | None = None) -> None:
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"{type(self).__name__}: weight_decay must be >= 0")
        self.betas = (float(beta1), float(beta2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        super().__init__(params, lr, clipnorm)

    def _update(self, p, w, g, state):
        beta1, beta2 = self.betas
        if "m" not in state:
            state["m"] = np.zeros_like(w)
            state["v"] = np.zeros_like(w)
        m, v = state["m"], state["v"]
        d = g
        if self.weight_decay and self.decoupled:
            p.mul_(1.0 - self.lr * self.weight_decay)
        elif self.weight_decay:
            d = self._buffer(state, "decayed", w)
            np.multiply(w, self.weight_decay, out=d)
            d += g
        work = self._buffer(state, "scratch", w)
        np.multiply(d, 1.0 - beta1, out=work)   # m ← β₁ m + (1 − β₁) d
        m *= beta1
        m += work
        np.square(d, out=work)                  # v ← β₂ v + (1 − β₂) d²
        work *= 1.0 - beta2
        v *= beta2
        v += work
        t = self.iterations
        bias1, bias2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
        np.sqrt(v, out=work)                    # √(v / (1 − β₂ᵗ)) + ε
        work *= 1.0 / math.sqrt(bias2)
        work += self.eps
        np.divide(m, work, out=work)            # lr · m / (1 − β₁ᵗ) / (...)
        work *= self.lr / bias1
        p.sub_(work)

    def get_config(self) -> dict:
        return {**super().get_config(), "betas": list(self.betas), "eps": self.eps,
                "weight_decay": self.weight_decay}


class AdamW(Adam):
    """Adam with decoupled weight decay: ``w ← w (1 − lr·wd)`` before each Adam step."""

    name = "adamw"
    decoupled = True

    def __init__(self, params: Iterable[cr.Tensor] | None = None, lr: float = 0.001,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.01, clipnorm: float | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, clipnorm)


OPTIMIZERS: dict[str, Any] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def get(spec: Any, lr: float | None = None, **options: Any) -> Optimizer:
    """An optimizer from a name (``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adam"``,
    ``"adamw"``), a config dict, or an :class:`Optimizer` (returned as it is)."""
    if isinstance(spec, Optimizer):
        if lr is not None or options:
            raise ValueError("optimizer: set lr and the options on the optimizer itself, "
                             f"e.g. {type(spec).__name__}(lr=...), not beside it")
        return spec
    if isinstance(spec, dict):
        config = dict(spec)
        name = config.pop("name", None)
        if "betas" in config:
            config["betas"] = tuple(config["betas"])
        return get(name, **config)
    if not isinstance(spec, str):
        raise TypeError(f"optimizer: expected a name or an Optimizer, got {spec!r}")
    key = spec.strip().lower()
    if lr is not None:
        options["lr"] = lr
    if key == "momentum":
        options.setdefault("momentum", 0.9)
        key = "sgd"
    elif key == "nesterov":
        options.setdefault("momentum", 0.9)
        options["nesterov"] = True
        key = "sgd"
    if key not in OPTIMIZERS:
        raise ValueError(f"optimizer: unknown optimizer {spec!r}; known: sgd, momentum, "
                         f"nesterov, adam, adamw")
    return OPTIMIZERS[key](**options)
