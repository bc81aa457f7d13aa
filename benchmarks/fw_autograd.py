"""HIPS autograd: ``autograd.numpy`` and ``grad``/``value_and_grad``/``hessian``/``jacobian``.

autograd has no batched forward-mode Jacobian: W4's ``jacfwd`` is one ``make_jvp``
pass per input direction, the way a user of autograd would have to write it.
"""

from __future__ import annotations

import autograd
import autograd.numpy as anp
import numpy as np
from autograd.scipy.special import logsumexp

NOTES: list[str] = []


def version() -> str:
    from importlib.metadata import version as dist_version
    return dist_version("autograd")


# --- W1 ----------------------------------------------------------------------------------------

def _mlp_logits(params, x, activation):
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = anp.dot(h, params[2 * i]) + params[2 * i + 1]
        if i < n_layers - 1:
            h = anp.maximum(h, 0.0) if activation == "relu" else 1.0 / (1.0 + anp.exp(-h))
    return h


class MLPTrainer:
    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        self.params = params
        self.lr = np.float32(lr)
        self.activation = activation
        self.one_hot = np.eye(params[-1].shape[0], dtype=params[-1].dtype)

        def loss_fn(params, x, labels):
            logits = _mlp_logits(params, x, activation)
            logp = logits - logsumexp(logits, axis=1, keepdims=True)
            return -anp.sum(logp * labels) / len(x)

        self._value_and_grad = autograd.value_and_grad(loss_fn)

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        with np.errstate(over="ignore"):
            loss, grads = self._value_and_grad(self.params, x, self.one_hot[y])
        for p, g in zip(self.params, grads):
            p -= self.lr * g
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return _mlp_logits(self.params, x, self.activation)

    def sync(self) -> None:
        pass


def mlp_trainer(params: list[np.ndarray], activation: str, lr: float) -> MLPTrainer:
    return MLPTrainer(params, activation, lr)


# --- W2 ------------------------------------------------------------------------------------------

def chain_grad(x: np.ndarray, cycles: int, scale: float):
    def f(v):
        for _ in range(cycles):
            v = v + anp.tanh(anp.sin(v) * scale)
        return anp.sum(v)

    grad_f = autograd.grad(f)
    return lambda: grad_f(x)


# --- W3 ------------------------------------------------------------------------------------------

def small_mlp_grad(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    def loss(params):
        w1, b1, w2, b2, w3, b3 = params
        h = anp.tanh(anp.dot(x, w1) + b1)
        h = anp.tanh(anp.dot(h, w2) + b2)
        return anp.mean((anp.dot(h, w3) + b3 - y) ** 2)

    grad_f = autograd.grad(loss)
    return lambda: grad_f(params)


# --- W4 ------------------------------------------------------------------------------------------

def jacobians(w: np.ndarray, x: np.ndarray) -> dict:
    from autograd import make_jvp

    def f(v):
        return anp.sum(anp.tanh(anp.dot(w, v)))

    def g(v):
        return anp.tanh(anp.dot(w, v))

    hessian, jacrev = autograd.hessian(f), autograd.jacobian(g)

    def jacfwd() -> np.ndarray:
        push = make_jvp(g)(x)
        return np.stack([push(e)[1] for e in np.eye(len(x))], axis=-1)

    return {"hessian": lambda: hessian(x), "jacfwd": jacfwd, "jacrev": lambda: jacrev(x)}


# --- W5 ------------------------------------------------------------------------------------------

def matrix_losses(a: np.ndarray, b: np.ndarray, gamma: float, alpha: float, beta: float) -> dict:
    eye = np.eye(len(a))

    def kernel(a_):
        return alpha * anp.dot(a_, a_.T) + eye / beta

    def logdet_loss(a_):
        return -gamma / 2 * anp.linalg.slogdet(kernel(a_))[1]

    def trace_loss(a_, b_):
        return -0.5 * anp.trace(anp.linalg.solve(kernel(a_), anp.dot(b_, b_.T)))

    logdet_grad, trace_grad = autograd.grad(logdet_loss), autograd.grad(trace_loss)
    return {"logdet": lambda: logdet_grad(a), "trace": lambda: trace_grad(a, b)}


# --- fast path: autograd's wrappers with nothing traced ---------------------------------------------

def fastpath(arrays: dict) -> dict:
    namespace = {"anp": anp, **arrays}
    return {
        "mul": ("anp.multiply(x, y)", namespace),
        "tanh": ("anp.tanh(x)", namespace),
        "matmul 16x16": ("anp.matmul(m, m)", namespace),
        "sum": ("anp.sum(x)", namespace),
        "mul 1024": ("anp.multiply(xk, yk)", namespace),
        "tanh 1024": ("anp.tanh(xk)", namespace),
    }
