"""PyTorch, eager, on the CPU, written as a PyTorch user would: ``nn.Sequential``,
``F.cross_entropy``, ``torch.optim.SGD``; ``torch.func`` for Jacobians and Hessians.

As "torch-compile" (``configure(compile=True)``): W1, W1b, W1s with the model
under ``torch.compile`` (forward and backward compiled; the optimizer eager, as
the PyTorch tutorials do it) and W2 as ``torch.compile(torch.func.grad(...))``;
compiled in the warm-up (Inductor needs a C++ compiler)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

NOTES: list[str] = []


COMPILE = False


def configure(compile: bool = False) -> None:
    global COMPILE
    COMPILE = compile


def applies(workload: str) -> bool:
    return not COMPILE or workload in ("W1", "W1b", "W1s", "W2")


def version() -> str:
    mode = ", torch.compile" if COMPILE else ""
    return f"{torch.__version__} ({torch.get_num_threads()} threads{mode})"


# --- W1 ----------------------------------------------------------------------------------------

class MLPTrainer:
    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        layers = []
        pairs = list(zip(params[0::2], params[1::2]))
        for i, (w, b) in enumerate(pairs):
            linear = nn.Linear(*w.shape)
            with torch.no_grad():                        # nn.Linear keeps Wᵀ: y = x Wᵀ + b
                linear.weight.copy_(torch.from_numpy(w.T.copy()))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if i < len(pairs) - 1:
                layers.append(nn.ReLU() if activation == "relu" else nn.Sigmoid())
        self.model = nn.Sequential(*layers)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        if COMPILE:
            self.model = torch.compile(self.model)

    def step(self, x: np.ndarray, y: np.ndarray) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(self.model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        self.optimizer.step()
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.model(torch.from_numpy(x)).numpy()

    def sync(self) -> None:
        pass


def mlp_trainer(params: list[np.ndarray], activation: str, lr: float) -> MLPTrainer:
    return MLPTrainer(params, activation, lr)


# --- W2 ------------------------------------------------------------------------------------------

def chain_grad(x: np.ndarray, cycles: int, scale: float):
    if COMPILE:
        def chain(v):
            for _ in range(cycles):
                v = v + torch.tanh(torch.sin(v) * scale)
            return v.sum()
        compiled = torch.compile(torch.func.grad(chain))
        tx = torch.from_numpy(x)
        return lambda: compiled(tx).numpy()

    def gradient() -> np.ndarray:
        leaf = v = torch.tensor(x, requires_grad=True)
        for _ in range(cycles):
            v = v + torch.tanh(torch.sin(v) * scale)
        v.sum().backward()
        return leaf.grad.numpy()
    return gradient


# --- W3 ------------------------------------------------------------------------------------------

def small_mlp_grad(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    leaves = [torch.tensor(p, requires_grad=True) for p in params]
    w1, b1, w2, b2, w3, b3 = leaves
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def gradients() -> list[np.ndarray]:
        for p in leaves:
            p.grad = None
        h = torch.tanh(tx @ w1 + b1)
        h = torch.tanh(h @ w2 + b2)
        loss = ((h @ w3 + b3 - ty) ** 2).mean()
        loss.backward()
        return [p.grad.numpy() for p in leaves]
    return gradients


# --- W4 ------------------------------------------------------------------------------------------

def jacobians(w: np.ndarray, x: np.ndarray) -> dict:
    from torch.func import hessian, jacfwd, jacrev

    tw, tx = torch.from_numpy(w), torch.from_numpy(x)

    def f(v):
        return torch.tanh(tw @ v).sum()

    def g(v):
        return torch.tanh(tw @ v)

    h, jf, jr = hessian(f), jacfwd(g), jacrev(g)
    return {"hessian": lambda: h(tx).numpy(), "jacfwd": lambda: jf(tx).numpy(),
            "jacrev": lambda: jr(tx).numpy()}


# --- W5 ------------------------------------------------------------------------------------------

def matrix_losses(a: np.ndarray, b: np.ndarray, gamma: float, alpha: float, beta: float) -> dict:
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    eye = torch.eye(len(a), dtype=ta.dtype)

    def kernel(a_):
        return alpha * (a_ @ a_.T) + eye / beta

    def logdet() -> np.ndarray:
        leaf = ta.detach().requires_grad_()
        loss = -gamma / 2 * torch.linalg.slogdet(kernel(leaf))[1]
        return torch.autograd.grad(loss, leaf)[0].numpy()

    def trace() -> np.ndarray:
        leaf = ta.detach().requires_grad_()
        loss = -0.5 * torch.trace(torch.linalg.solve(kernel(leaf), tb @ tb.T))
        return torch.autograd.grad(loss, leaf)[0].numpy()

    return {"logdet": logdet, "trace": trace}


# --- Limit and fast path ---------------------------------------------------------------------------

def matmul(a: np.ndarray, b: np.ndarray):
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)   # same strides (transposed views) as NumPy's
    return lambda: ta @ tb


def fastpath(arrays: dict) -> dict:
    namespace = {"torch": torch, **{"t" + k: torch.from_numpy(v) for k, v in arrays.items()}}
    return {
        "mul": ("tx * ty", namespace),
        "tanh": ("torch.tanh(tx)", namespace),
        "matmul 16x16": ("tm @ tm", namespace),
        "sum": ("tx.sum()", namespace),
        "mul 1024": ("txk * tyk", namespace),
        "tanh 1024": ("torch.tanh(txk)", namespace),
    }
