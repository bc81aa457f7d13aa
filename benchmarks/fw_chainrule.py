"""chainrule, written with the engine directly: leaf tensors, operators, ``backward()``
(imperative, for the training loops: a layer is ``cr.dense(h, w, b, activation)``, as
a PyTorch user writes ``nn.Linear`` and an activation) and ``cr.grad``/``cr.hessian``/``cr.jacfwd``/
``cr.jacrev`` (functional, for the derivatives of functions).

As "chainrule-compile" (``configure(compile=True)``) every workload is written
functionally and run through ``cr.compile``: the training step is
``cr.compile(cr.value_and_grad(loss))`` with the SGD update by ``sub_(g, alpha=lr)``,
the derivatives are ``cr.compile(cr.grad(...))`` and so on (the recording happens
in the warm-up)."""

from __future__ import annotations

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp
from benchmarks.workloads import Skip

NOTES: list[str] = []   # what this run of the module had to fall back on

try:
    from chainrule.ops.losses import softmax_cross_entropy
except ImportError:     # an engine without the fused loss: log_softmax and a gather
    softmax_cross_entropy = None


def _layers(params: list, x, activation):
    """The MLP's forward pass: fused dense layers where the engine has them."""
    h = x
    pairs = list(zip(params[0::2], params[1::2]))
    for i, (w, b) in enumerate(pairs):
        hidden = i < len(pairs) - 1
        if hasattr(cr, "dense"):
            h = cr.dense(h, w, b, activation=activation if hidden else None)
        else:           # an engine without the fused layer: the three ops
            h = h @ w + b
            h = (cr.relu if activation == "relu" else cr.sigmoid)(h) if hidden else h
    return h


COMPILE = False


def configure(compile: bool = False) -> None:
    global COMPILE
    COMPILE = compile


def applies(workload: str) -> bool:
    return not (COMPILE and workload in ("fastpath", "Limit"))


def version() -> str:
    return cr.__version__ + (" (cr.compile)" if COMPILE else "")


def _compiled(f):
    return cr.compile(f) if COMPILE else f


# --- W1: MLP training ------------------------------------------------------------------------

class MLPTrainer:
    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        self.params = [cr.tensor(p, requires_grad=True) for p in params]
        self.activation = activation
        self.lr = lr
        self.one_hot = np.eye(params[-1].shape[0], dtype=params[-1].dtype)
        if softmax_cross_entropy is None:
            NOTES.append("no chainrule.ops.losses: loss = -mean(log_softmax(logits)[rows, y])")

    def _forward(self, x: np.ndarray) -> cr.Tensor:
        return _layers(self.params, x, self.activation)

    def _loss(self, logits: cr.Tensor, y: np.ndarray) -> cr.Tensor:
        if softmax_cross_entropy is not None:
            return softmax_cross_entropy(logits, self.one_hot[y])
        return -cr.log_softmax(logits)[np.arange(len(y)), y].mean()

    def step(self, x: np.ndarray, y: np.ndarray) -> cr.Tensor:
        loss = self._loss(self._forward(x), y)
        loss.backward()
        with cr.no_grad():
            for p in reversed(self.params):   # last layer first, as NumPy by hand and cr.optim
                p.sub_(p.grad, alpha=self.lr)   # one pass, as torch.optim.SGD's add_(g, alpha=-lr)
                p.grad = None
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        with cr.no_grad():
            return self._forward(x).numpy()

    def sync(self) -> None:
        pass


class CompiledMLPTrainer:
    """The same network as a function of its parameters: one compiled value-and-gradient."""

    def __init__(self, params: list[np.ndarray], activation: str, lr: float) -> None:
        self.params = [cr.tensor(p.copy()) for p in params]   # plain tensors: updated in place
        self.activation = activation
        self.lr = lr
        self.one_hot = np.eye(params[-1].shape[0], dtype=params[-1].dtype)
        self.value_and_grad = cr.compile(cr.value_and_grad(self._loss))

    def _forward(self, params: list, x) -> object:
        return _layers(params, x, self.activation)

    def _loss(self, params: list, x, onehot):
        return softmax_cross_entropy(self._forward(params, x), onehot)

    def step(self, x: np.ndarray, y: np.ndarray):
        loss, grads = self.value_and_grad(self.params, x, self.one_hot[y])
        for p, g in reversed(list(zip(self.params, grads))):   # last layer first, as above
            p.sub_(g, alpha=self.lr)
        return loss

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._forward(self.params, x))

    def sync(self) -> None:
        pass


def mlp_trainer(params: list[np.ndarray], activation: str, lr: float):
    if COMPILE:
        if softmax_cross_entropy is None:
            raise Skip("cr.compile needs the fused softmax cross-entropy")
        return CompiledMLPTrainer(params, activation, lr)
    return MLPTrainer(params, activation, lr)


# --- W2 ------------------------------------------------------------------------------------

def chain_grad(x: np.ndarray, cycles: int, scale: float):
    if COMPILE:
        def chain(v):
            for _ in range(cycles):
                v = v + cnp.tanh(cnp.sin(v) * scale)
            return cnp.sum(v)
        compiled = cr.compile(cr.grad(chain))
        return lambda: compiled(x)

    def gradient() -> np.ndarray:
        leaf = v = cr.tensor(x, requires_grad=True)
        for _ in range(cycles):
            v = v + cnp.tanh(cnp.sin(v) * scale)
        v.sum().backward()
        return leaf.grad.numpy()
    return gradient


# --- W3 ------------------------------------------------------------------------------------

def small_mlp_grad(params: list[np.ndarray], x: np.ndarray, y: np.ndarray):
    if COMPILE:
        def loss(ps):
            w1, b1, w2, b2, w3, b3 = ps
            h = cnp.tanh(x @ w1 + b1)
            h = cnp.tanh(h @ w2 + b2)
            return cnp.mean((h @ w3 + b3 - y) ** 2)
        compiled = cr.compile(cr.grad(loss))
        return lambda: compiled(list(params))

    leaves = [cr.tensor(p, requires_grad=True) for p in params]
    w1, b1, w2, b2, w3, b3 = leaves

    def gradients() -> list[np.ndarray]:
        for p in leaves:
            p.grad = None
        h = cnp.tanh(x @ w1 + b1)
        h = cnp.tanh(h @ w2 + b2)
        loss = ((h @ w3 + b3 - y) ** 2).mean()
        loss.backward()
        return [p.grad.numpy() for p in leaves]
    return gradients


# --- W4 ------------------------------------------------------------------------------------

def jacobians(w: np.ndarray, x: np.ndarray) -> dict:
    def f(v):
        return cnp.sum(cnp.tanh(cnp.matmul(w, v)))

    def g(v):
        return cnp.tanh(cnp.matmul(w, v))

    hessian, jacfwd, jacrev = (_compiled(cr.hessian(f)), _compiled(cr.jacfwd(g)),
                               _compiled(cr.jacrev(g)))
    return {"hessian": lambda: hessian(x), "jacfwd": lambda: jacfwd(x),
            "jacrev": lambda: jacrev(x)}


# --- W5 ------------------------------------------------------------------------------------

def matrix_losses(a: np.ndarray, b: np.ndarray, gamma: float, alpha: float, beta: float) -> dict:
    linalg = getattr(cnp, "linalg", None)
    missing = [name for name in ("slogdet", "solve") if not hasattr(linalg, name)]
    missing += [] if hasattr(cnp, "trace") else ["trace"]
    if missing:
        raise Skip(f"chainrule.numpy has no {', '.join(missing)} yet")
    eye = np.eye(len(a))

    def kernel(a_):
        return alpha * cnp.matmul(a_, cnp.transpose(a_)) + eye / beta

    def logdet_loss(a_):
        return -gamma / 2 * cnp.linalg.slogdet(kernel(a_))[1]

    def trace_loss(a_, b_):
        return -0.5 * cnp.trace(cnp.linalg.solve(kernel(a_), cnp.matmul(b_, cnp.transpose(b_))))

    logdet_grad, trace_grad = _compiled(cr.grad(logdet_loss)), _compiled(cr.grad(trace_loss))
    return {"logdet": lambda: logdet_grad(a), "trace": lambda: trace_grad(a, b)}


# --- fast path: nothing requires grad, no transformation -----------------------------------

def fastpath(arrays: dict) -> dict:
    namespace = {"cnp": cnp, **arrays,
                 **{"t" + name: cr.tensor(value) for name, value in arrays.items()}}
    return {
        "mul": ("tx * ty", namespace),
        "tanh": ("cnp.tanh(tx)", namespace),
        "matmul 16x16": ("tm @ tm", namespace),
        "sum": ("tx.sum()", namespace),
        "mul 1024": ("txk * tyk", namespace),
        "tanh 1024": ("cnp.tanh(txk)", namespace),
        "facade mul (ndarrays)": ("cnp.multiply(x, y)", namespace),
    }
