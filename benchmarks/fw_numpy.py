"""Hand-written vectorized NumPy: forward and backward formulas by hand, no autodiff.

The floor an engine built on NumPy can approach: the same array calls an
engine would make, with none of the bookkeeping, and the same memory settings as
chainrule's (``chainrule/_memory.py``: glibc keeps freed memory for reuse, and NumPy
arrays start on 64-byte boundaries where chainrule's C extension is built), so that
the ratio measures the engine, not the allocator. They are process-wide settings
made when ``chainrule._memory`` is imported, which this module does (W1's data
loader imports chainrule in every worker anyway).
"""

from __future__ import annotations

import numpy as np

import chainrule._memory  # noqa: F401  (chainrule's memory settings, for NumPy by hand too)


def version() -> str:
    return np.__version__


# --- W1: MLP training ------------------------------------------------------------------------

class MLPTrainer:
    """Dense layers with ReLU or sigmoid, softmax cross-entropy, plain SGD."""

    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        self.params = params
        self.activation = activation
        self.lr = np.float32(lr)

    def _act(self, z: np.ndarray) -> np.ndarray:
        if self.activation == "relu":
            return np.maximum(z, 0, out=z)
        with np.errstate(over="ignore"):            # exp(-z) = inf gives σ = 0, as it should
            return np.reciprocal(np.exp(-z, out=z) + 1, out=z)

    def _act_backward(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        if self.activation == "relu":                # d relu = [h > 0] dz
            return np.multiply(g, h > 0, out=g)
        return g * h * (1 - h)                       # d σ = σ (1 − σ) dz

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        activations = [x]
        pairs = list(zip(self.params[0::2], self.params[1::2]))
        for i, (w, b) in enumerate(pairs):
            z = activations[-1] @ w
            z += b
            activations.append(z if i == len(pairs) - 1 else self._act(z))
        return activations

    def step(self, x: np.ndarray, y: np.ndarray) -> float:
        activations = self._forward(x)
        logits = activations.pop()
        n = len(y)
        rows = np.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exps = np.exp(shifted)
        totals = exps.sum(axis=1, keepdims=True)
        loss = np.mean(np.log(totals[:, 0]) - shifted[rows, y])
        g = exps / totals                             # softmax; d loss/d logits = (ŷ − y) / n
        g[rows, y] -= 1
        g /= n
        grads = []
        for i in reversed(range(len(activations))):
            w = self.params[2 * i]
            grads += [g.sum(axis=0), activations[i].T @ g]      # b̄ = Σ ḡ, W̄ = hᵀ ḡ
            if i > 0:
                g = self._act_backward(g @ w.T, activations[i])  # h̄ = ḡ Wᵀ
        for p, dp in zip(self.params[::-1], grads):
            p -= self.lr * dp
        return float(loss)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)[-1]

    def sync(self) -> None:
        pass


def mlp_trainer(params: list[np.ndarray], activation: str, lr: float) -> MLPTrainer:
    return MLPTrainer(params, activation, lr)


# --- W2: a chain of elementwise ops -----------------------------------------------------------

def chain_grad(x: np.ndarray, cycles: int, scale: float):
    def gradient() -> np.ndarray:
        saved = []
        v = x
        for _ in range(cycles):                      # v ← v + tanh(sin(v) · scale)
            t = np.tanh(np.sin(v) * scale)
            saved.append((v, t))
            v = v + t
        g = np.ones_like(v)                          # d sum
        for v, t in reversed(saved):                 # both uses of v: the residual and sin
            g = g + g * (1 - t * t) * scale * np.cos(v)
        return g
    return gradient


# --- W3: a small tanh MLP, mean squared error --------------------------------------------------

def small_mlp_grad(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    w1, b1, w2, b2, w3, b3 = params

    def gradients() -> list[np.ndarray]:
        h1 = np.tanh(x @ w1 + b1)
        h2 = np.tanh(h1 @ w2 + b2)
        out = h2 @ w3 + b3
        g = 2 * (out - y) / out.size                 # d mean((out − y)²)
        gw3, gb3 = h2.T @ g, g.sum(axis=0)
        g = (g @ w3.T) * (1 - h2 * h2)
        gw2, gb2 = h1.T @ g, g.sum(axis=0)
        g = (g @ w2.T) * (1 - h1 * h1)
        gw1, gb1 = x.T @ g, g.sum(axis=0)
        return [gw1, gb1, gw2, gb2, gw3, gb3]
    return gradients


# --- W4: Hessian and Jacobians, closed forms ---------------------------------------------------

def jacobians(w: np.ndarray, x: np.ndarray) -> dict:
    def hessian() -> np.ndarray:
        t = np.tanh(w @ x)                           # ∇²f = Wᵀ diag(−2t(1 − t²)) W
        return (w.T * (-2 * t * (1 - t * t))) @ w

    def jacobian() -> np.ndarray:
        t = np.tanh(w @ x)                           # J = diag(1 − t²) W
        return (1 - t * t)[:, None] * w

    return {"hessian": hessian, "jacfwd": jacobian, "jacrev": jacobian}


# --- W5: gradients of the matrix losses, closed forms ------------------------------------------

def matrix_losses(a: np.ndarray, b: np.ndarray, gamma: float, alpha: float, beta: float) -> dict:
    eye = np.eye(len(a))

    def logdet() -> np.ndarray:
        k = alpha * (a @ a.T) + eye / beta           # ∇_A −γ/2 log|K| = −γα K⁻¹A
        return -gamma * alpha * np.linalg.solve(k, a)

    def trace() -> np.ndarray:
        k = alpha * (a @ a.T) + eye / beta           # ∇_A −½ tr(K⁻¹BBᵀ) = α K⁻¹BBᵀK⁻¹A
        kb = np.linalg.solve(k, b)
        return alpha * (kb @ (kb.T @ a))

    return {"logdet": logdet, "trace": trace}


# --- Limit and fast path -------------------------------------------------------------------------

def matmul(a: np.ndarray, b: np.ndarray):
    return lambda: a @ b


def fastpath(arrays: dict) -> dict:
    namespace = {"np": np, **arrays}
    return {
        "mul": ("x * y", namespace),
        "tanh": ("np.tanh(x)", namespace),
        "matmul 16x16": ("m @ m", namespace),
        "sum": ("x.sum()", namespace),
        "mul 1024": ("xk * yk", namespace),
        "tanh 1024": ("np.tanh(xk)", namespace),
        "facade mul (ndarrays)": ("np.multiply(x, y)", namespace),
    }
