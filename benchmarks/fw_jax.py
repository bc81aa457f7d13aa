"""JAX on the CPU, with ``jax.jit`` ("jax-jit") and without it ("jax": every op
dispatched eagerly, derivatives traced afresh on every call). float64 enabled for
the float64 workloads; W1's arrays stay float32."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

NOTES: list[str] = []
JIT = False


def configure(jit: bool = False) -> None:
    global JIT
    JIT = jit


def applies(workload: str) -> bool:
    return not (JIT and workload == "fastpath")     # one jitted op is not an eager fast path


def version() -> str:
    return f"{jax.__version__} ({'jit' if JIT else 'no jit'})"


def _maybe_jit(fn, **kwargs):
    return jax.jit(fn, **kwargs) if JIT else fn


# --- W1 ----------------------------------------------------------------------------------------

def _mlp_logits(params, x, activation):
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        h = h @ params[2 * i] + params[2 * i + 1]
        if i < n_layers - 1:
            h = jax.nn.relu(h) if activation == "relu" else jax.nn.sigmoid(h)
    return h


class MLPTrainer:
    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        self.params = [jnp.asarray(p) for p in params]

        def loss_fn(params, x, y):
            logp = jax.nn.log_softmax(_mlp_logits(params, x, activation))
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        def update(params, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
            return [p - lr * g for p, g in zip(params, grads)], loss

        self._update = _maybe_jit(update)
        self._predict = _maybe_jit(lambda params, x: _mlp_logits(params, x, activation))

    def step(self, x: np.ndarray, y: np.ndarray):
        self.params, loss = self._update(self.params, x, y)
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._predict(self.params, x))

    def sync(self) -> None:
        jax.block_until_ready(self.params)


def mlp_trainer(params: list[np.ndarray], activation: str, lr: float) -> MLPTrainer:
    return MLPTrainer(params, activation, lr)


# --- W2 ------------------------------------------------------------------------------------------

def chain_grad(x: np.ndarray, cycles: int, scale: float):
    def f(v):
        for _ in range(cycles):
            v = v + jnp.tanh(jnp.sin(v) * scale)
        return jnp.sum(v)

    grad_f, jx = _maybe_jit(jax.grad(f)), jnp.asarray(x)
    return lambda: grad_f(jx).block_until_ready()


# --- W3 ------------------------------------------------------------------------------------------

def small_mlp_grad(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    def loss(params, x, y):
        w1, b1, w2, b2, w3, b3 = params
        h = jnp.tanh(x @ w1 + b1)
        h = jnp.tanh(h @ w2 + b2)
        return jnp.mean((h @ w3 + b3 - y) ** 2)

    grad_f = _maybe_jit(jax.grad(loss))
    jparams, jx, jy = [jnp.asarray(p) for p in params], jnp.asarray(x), jnp.asarray(y)
    return lambda: jax.block_until_ready(grad_f(jparams, jx, jy))


# --- W4 ------------------------------------------------------------------------------------------

def jacobians(w: np.ndarray, x: np.ndarray) -> dict:
    def f(v, w_):
        return jnp.sum(jnp.tanh(w_ @ v))

    def g(v, w_):
        return jnp.tanh(w_ @ v)

    jw, jx = jnp.asarray(w), jnp.asarray(x)
    fns = {"hessian": _maybe_jit(jax.hessian(f)), "jacfwd": _maybe_jit(jax.jacfwd(g)),
           "jacrev": _maybe_jit(jax.jacrev(g))}
    return {name: (lambda fn=fn: fn(jx, jw).block_until_ready()) for name, fn in fns.items()}


# --- W5 ------------------------------------------------------------------------------------------

def matrix_losses(a: np.ndarray, b: np.ndarray, gamma: float, alpha: float, beta: float) -> dict:
    eye = jnp.eye(len(a))

    def kernel(a_):
        return alpha * (a_ @ a_.T) + eye / beta

    def logdet_loss(a_):
        return -gamma / 2 * jnp.linalg.slogdet(kernel(a_))[1]

    def trace_loss(a_, b_):
        return -0.5 * jnp.trace(jnp.linalg.solve(kernel(a_), b_ @ b_.T))

    ja, jb = jnp.asarray(a), jnp.asarray(b)
    logdet_grad = _maybe_jit(jax.grad(logdet_loss))
    trace_grad = _maybe_jit(jax.grad(trace_loss))
    return {"logdet": lambda: logdet_grad(ja).block_until_ready(),
            "trace": lambda: trace_grad(ja, jb).block_until_ready()}


# --- fast path (eager only) --------------------------------------------------------------------------

def fastpath(arrays: dict) -> dict:
    namespace = {"jnp": jnp, **{"j" + k: jnp.asarray(v) for k, v in arrays.items()}}
    return {
        "mul": ("(jx * jy).block_until_ready()", namespace),
        "tanh": ("jnp.tanh(jx).block_until_ready()", namespace),
        "matmul 16x16": ("(jm @ jm).block_until_ready()", namespace),
        "sum": ("jx.sum().block_until_ready()", namespace),
        "mul 1024": ("(jxk * jyk).block_until_ready()", namespace),
        "tanh 1024": ("jnp.tanh(jxk).block_until_ready()", namespace),
    }
