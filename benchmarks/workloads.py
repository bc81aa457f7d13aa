"""What each workload is, and the protocol every framework is measured with.

The inputs (data, initial weights, batch order, probe vectors) are made here
with NumPy from fixed seeds and handed to the framework modules, so every
framework computes the same thing. A framework module only says *how* its
framework does the work, one function per workload:

=============  ====================================================================
function       contract
=============  ====================================================================
mlp_trainer    ``(params, activation, lr) -> trainer`` with ``trainer.step(x, y)``
               (one SGD step on a batch, returns the loss), ``trainer.predict(x)``
               (logits) and ``trainer.sync()`` (wait for queued work)
chain_grad     ``(x, cycles, scale) -> fn``; ``fn()`` returns d/dx of
               ``sum(chain(x))``, ``chain`` = ``cycles`` times
               ``x = x + tanh(sin(x) * scale)`` (4 elementwise ops a cycle; the
               residual keeps the gradient of order 1 through all 200 ops)
small_mlp_grad ``(params, x, y) -> fn``; ``fn()`` returns the gradients of the
               mean squared error of a tanh MLP (W3)
jacobians      ``(W, x) -> {"hessian": fn, "jacfwd": fn, "jacrev": fn}`` (W4)
matrix_losses  ``(A, B, gamma, alpha, beta) -> {"logdet": fn, "trace": fn}``,
               each ``fn()`` returning the gradient with respect to A (W5)
matmul         ``(a, b) -> fn`` computing ``a @ b`` (Limit)
fastpath       ``(arrays) -> {case: (statement, namespace)}`` (fast path)
=============  ====================================================================

A missing function means the framework does not take part in that workload;
a function may raise :class:`Skip` with a reason (a missing feature, say).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np

from benchmarks.timing import measure, measure_side_by_side

SEED = 20240611


class Skip(Exception):
    """This framework cannot run this workload (the message says why)."""


# --- the workloads ------------------------------------------------------------------------

@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    function: str                      # the framework module's function it needs
    defaults: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MLPTraining(Workload):
    sizes: tuple = (784, 256, 256, 10)
    activation: str = "relu"
    batch_size: int = 128
    lr: float = 0.1


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    MLPTraining("W1", "Fashion-MNIST MLP 784-256-256-10 ReLU, batch 128, float32", "mlp_trainer"),
    MLPTraining("W1b", "the same at batch 32", "mlp_trainer", batch_size=32),
    MLPTraining("W1s", "784-64-64-10 sigmoid, batch 128", "mlp_trainer",
                sizes=(784, 64, 64, 10), activation="sigmoid"),
    Workload("W2", "200 chained elementwise ops on 16 float64, forward + backward", "chain_grad"),
    Workload("W3", "2-16-16-1 tanh MLP on 100 points, forward + backward", "small_mlp_grad"),
    Workload("W4", "f(x) = sum tanh(Wx), W 128x128: Hessian, Jacobians of tanh(Wx)", "jacobians"),
    Workload("W5", "A, B 256x256: grad_A of -g/2 log|K| and -1/2 tr(K^-1 BB^T)", "matrix_losses"),
    Workload("Limit", "NumPy float32 matmuls of one W1 step; FLOP floor of an epoch", "matmul"),
    Workload("fastpath", "one op on 16 elements, nothing requires grad, vs bare NumPy", "fastpath"),
]}

# W1: a timed epoch is the median over this many epochs after one warm-up epoch;
# the test accuracy is taken after epoch 3 (the warm-up counts).
TIMED_EPOCHS = 2
ACCURACY_AFTER_EPOCH = 3
QUICK_BATCHES = 20          # --quick: an "epoch" is this many batches
MICRO_REPEATS = 7
MIN_TIME, QUICK_MIN_TIME = 0.2, 0.01

CHAIN_CYCLES, CHAIN_SCALE, CHAIN_SIZE = 50, 0.1, 16   # W2: 200 ops
W4_SIZE = 128
W5_SIZE, W5_GAMMA, W5_ALPHA, W5_BETA = 256, 2.0, 1.0, 4.0
FASTPATH_SIZE = 16
FASTPATH_LARGE = 1024   # where the wrapper's cost starts to vanish behind NumPy's


@dataclass
class Settings:
    repeats: int | None = None      # None: each workload's default
    quick: bool = False

    def micro_repeats(self) -> int:
        return self.repeats or (3 if self.quick else MICRO_REPEATS)

    def timed_epochs(self) -> int:
        return max(TIMED_EPOCHS, self.repeats or 0)

    @property
    def min_time(self) -> float:
        return QUICK_MIN_TIME if self.quick else MIN_TIME


# --- shared inputs ------------------------------------------------------------------------------

def rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([SEED, *key])


def probe_sum(arrays: Any, key: int = 0) -> float:
    """Σ a ⊙ r over the arrays, r standard normal from a fixed seed: a checksum that any
    wrong entry changes (unlike a plain sum, which errors can cancel out of)."""
    if not isinstance(arrays, (list, tuple)):
        arrays = [arrays]
    total = 0.0
    for i, a in enumerate(arrays):
        a = np.asarray(a, dtype=np.float64)
        total += float(np.sum(a * rng(99, key, i).standard_normal(a.shape)))
    return total


def init_mlp(sizes: tuple, activation: str, dtype: Any, key: int = 1) -> list[np.ndarray]:
    """[W1, b1, W2, b2, ...]: He-normal weights for ReLU, Glorot-uniform otherwise; zero biases."""
    params = []
    gen = rng(key, *sizes)
    for fan_in, fan_out in pairwise(sizes):
        if activation == "relu":
            w = gen.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
        else:
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            w = gen.uniform(-limit, limit, (fan_in, fan_out))
        params += [w.astype(dtype), np.zeros(fan_out, dtype=dtype)]
    return params


def epoch_batches(n: int, batch_size: int, epoch: int, limit: int | None = None) -> list[np.ndarray]:
    """The index arrays of one epoch's full batches (a seeded permutation; the last,
    partial batch is dropped so every step has the same shape)."""
    order = rng(2, epoch).permutation(n)
    count = n // batch_size if limit is None else min(limit, n // batch_size)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(count)]


@dataclass
class ImageData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    note: str = ""


def image_data() -> ImageData:
    """Fashion-MNIST (float32 in [0, 1], int64 labels) or, when it is not installed,
    synthetic data of the same shapes whose labels a linear model can learn."""
    try:
        from chainrule.data import fashion_mnist
        data = fashion_mnist(download=False)
        return ImageData(data.x_train, data.y_train, data.x_test, data.y_test, "fashion-mnist")
    except Exception as error:  # noqa: BLE001 (any failure: fall back, and say why)
        note = (f"Fashion-MNIST not available ({type(error).__name__}: {error}); synthetic data "
                f"of the same shapes (apt-get install -y dataset-fashion-mnist for the real one)")
    gen = rng(3)
    teacher = gen.standard_normal((784, 10)).astype(np.float32)
    x = gen.random((70000, 784), dtype=np.float32)
    y = np.argmax((x - 0.5) @ teacher, axis=1).astype(np.int64)
    return ImageData(x[:60000], y[:60000], x[60000:], y[60000:], "synthetic", note)


# --- one case's result ------------------------------------------------------------------------

@dataclass
class Case:
    """One measured figure: seconds per unit of work (one per repeat), and checks."""

    name: str
    unit: str                  # the display unit: "s/epoch", "us/op", "ms", ...
    scale: float               # display value = seconds * scale
    times: list[float]
    checks: dict = field(default_factory=dict)      # name -> value, compared across frameworks
    tolerances: dict = field(default_factory=dict)  # name -> ["rel" | "abs", tolerance]
    extra: dict = field(default_factory=dict)
    note: str = ""

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _gradient_checks(value: Any, key: int, rtol: float) -> tuple[dict, dict]:
    return {"probe_sum": probe_sum(value, key)}, {"probe_sum": ["rel", rtol]}


# --- the protocols ---------------------------------------------------------------------------

def run_mlp_training(spec: MLPTraining, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    data = image_data()
    notes = [data.note] if data.note else []
    limit = QUICK_BATCHES if settings.quick else None
    x_test, y_test = (data.x_test[:1000], data.y_test[:1000]) if settings.quick else (
        data.x_test, data.y_test)
    params = init_mlp(spec.sizes, spec.activation, np.float32)
    trainer = fw.mlp_trainer([p.copy() for p in params], spec.activation, spec.lr)
    timed = settings.timed_epochs()
    epoch_times, first_loss, accuracy = [], None, None
    for epoch in range(1 + timed):
        batches = epoch_batches(len(data.x_train), spec.batch_size, epoch, limit)
        start = time.perf_counter()
        for k, index in enumerate(batches):
            loss = trainer.step(data.x_train[index], data.y_train[index])
            if first_loss is None:
                first_loss = float(loss)     # in the untimed warm-up epoch
        trainer.sync()
        elapsed = time.perf_counter() - start
        if epoch > 0:
            epoch_times.append(elapsed)
        if epoch + 1 == ACCURACY_AFTER_EPOCH:
            logits = np.asarray(trainer.predict(x_test))
            accuracy = float(np.mean(np.argmax(logits, axis=1) == y_test))
    case = Case(spec.name, "s/epoch", 1.0, epoch_times,
                checks={"test_accuracy": accuracy, "first_loss": first_loss},
                tolerances={"test_accuracy": ["abs", 0.02], "first_loss": ["rel", 1e-4]},
                extra={"data": data.source, "batches_per_epoch": len(batches),
                       "batch_size": spec.batch_size, "epochs_trained": 1 + timed})
    return [case], notes


def run_chain(spec: Workload, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    x = rng(4).standard_normal(CHAIN_SIZE)
    fn = fw.chain_grad(x.copy(), CHAIN_CYCLES, CHAIN_SCALE)
    n_ops = 4 * CHAIN_CYCLES
    times = [t / n_ops for t in measure(fn, repeats=settings.micro_repeats(),
                                        min_time=settings.min_time)]
    checks, tolerances = _gradient_checks(fn(), 4, 1e-9)
    return [Case("W2", "us/op", 1e6, times, checks, tolerances,
                 extra={"ops": n_ops, "size": CHAIN_SIZE})], []


def small_mlp_inputs() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    gen = rng(5)
    x = gen.uniform(-2.0, 2.0, (100, 2))
    y = (np.sin(x[:, 0]) * np.cos(x[:, 1]))[:, None]
    return init_mlp((2, 16, 16, 1), "tanh", np.float64, key=5), x, y


def run_small_mlp(spec: Workload, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    params, x, y = small_mlp_inputs()
    fn = fw.small_mlp_grad([p.copy() for p in params], x, y)
    times = measure(fn, repeats=settings.micro_repeats(), min_time=settings.min_time)
    checks, tolerances = _gradient_checks(list(fn()), 5, 1e-9)
    return [Case("W3", "us", 1e6, times, checks, tolerances)], []


def run_jacobians(spec: Workload, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    gen = rng(6)
    w = gen.standard_normal((W4_SIZE, W4_SIZE)) / np.sqrt(W4_SIZE)
    x = gen.standard_normal(W4_SIZE)
    cases = []
    for name, fn in fw.jacobians(w.copy(), x.copy()).items():
        times = measure(fn, repeats=settings.micro_repeats(), min_time=settings.min_time)
        checks, tolerances = _gradient_checks(fn(), 6, 1e-9)
        cases.append(Case(f"W4 {name}", "ms", 1e3, times, checks, tolerances))
    return cases, []


def run_matrix_losses(spec: Workload, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    gen = rng(7)
    a = gen.standard_normal((W5_SIZE, W5_SIZE)) / np.sqrt(W5_SIZE)
    b = gen.standard_normal((W5_SIZE, W5_SIZE)) / np.sqrt(W5_SIZE)
    cases = []
    for name, fn in fw.matrix_losses(a.copy(), b.copy(), W5_GAMMA, W5_ALPHA, W5_BETA).items():
        times = measure(fn, repeats=settings.micro_repeats(), min_time=settings.min_time)
        checks, tolerances = _gradient_checks(fn(), 7, 1e-7)
        cases.append(Case(f"W5 {name}", "ms", 1e3, times, checks, tolerances))
    return cases, []


def w1_step_products(batch: int, sizes: tuple = (784, 256, 256, 10)) -> list[tuple[str, Any, Any]]:
    """The matrix products of one SGD step of the W1 network, in the layouts a
    hand-written step uses: (label, a, b) with the product a @ b."""
    gen = rng(8, batch)
    acts = [gen.random((batch, n), dtype=np.float32) for n in sizes]        # x, h1, h2, logits
    weights = [gen.random((m, n), dtype=np.float32) for m, n in pairwise(sizes)]
    products = []
    for i, w in enumerate(weights):                                          # forward
        products.append((f"forward {acts[i].shape}@{w.shape}", acts[i], w))
    for i in reversed(range(len(weights))):                                  # backward
        g = acts[i + 1]
        products.append((f"weight grad {acts[i].T.shape}@{g.shape}", acts[i].T, g))
        if i > 0:
            products.append((f"input grad {g.shape}@{weights[i].T.shape}", g, weights[i].T))
    return products


def run_limit(spec: Workload, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    cases = []
    n_train = 60000
    for name, batch in (("W1", 128), ("W1b", 32)):
        products = w1_step_products(batch)
        fns = [fw.matmul(a, b) for _, a, b in products]
        samples = measure_side_by_side([(fn, None) for fn in fns], repeats=settings.micro_repeats(),
                                       min_time=settings.min_time / 4)
        flops = [2 * a.shape[0] * a.shape[1] * b.shape[1] for _, a, b in products]
        throughput = {label: round(f / float(np.median(s)) / 1e9, 2)
                      for (label, _, _), f, s in zip(products, flops, samples)}
        steps = n_train // batch
        floor = [steps * sum(per_product) for per_product in zip(*samples)]
        cases.append(Case(f"Limit floor {name}", "s/epoch", 1.0, floor, extra={
            "batch_size": batch, "steps_per_epoch": steps,
            "gflop_per_epoch": round(steps * sum(flops) / 1e9, 2),
            "gflops_per_product": throughput,
            "gflops_step": round(sum(flops) / float(np.median([sum(p) for p in zip(*samples)])) / 1e9, 2),
        }, note="matmuls only: the time a perfect engine on this BLAS cannot beat"))
    return cases, []


def fastpath_inputs() -> dict[str, np.ndarray]:
    gen = rng(9)
    return {"x": gen.standard_normal(FASTPATH_SIZE), "y": gen.standard_normal(FASTPATH_SIZE),
            "m": gen.standard_normal((FASTPATH_SIZE, FASTPATH_SIZE)),
            "xk": gen.standard_normal(FASTPATH_LARGE), "yk": gen.standard_normal(FASTPATH_LARGE)}


def run_fastpath(spec: Workload, fw: Any, settings: Settings) -> tuple[list[Case], list[str]]:
    """Each framework's op and the bare NumPy call, interleaved in the same process."""
    from benchmarks import fw_numpy

    arrays = fastpath_inputs()
    baseline = fw_numpy.fastpath(arrays)
    cases = []
    for name, (stmt, namespace) in fw.fastpath(arrays).items():
        base_stmt, base_ns = baseline[name]
        ours, bare = measure_side_by_side([(stmt, namespace), (base_stmt, base_ns)],
                                          repeats=settings.micro_repeats(),
                                          min_time=settings.min_time)
        ratio = float(np.median(ours) / np.median(bare))
        cases.append(Case(f"fastpath {name}", "us", 1e6, ours, extra={
            "statement": stmt, "numpy_statement": base_stmt,
            "numpy_same_process_us": float(np.median(bare)) * 1e6,
            "ratio_same_process": round(ratio, 3)}))
    return cases, []


PROTOCOLS: dict[str, Callable[..., tuple[list[Case], list[str]]]] = {
    "W1": run_mlp_training, "W1b": run_mlp_training, "W1s": run_mlp_training,
    "W2": run_chain, "W3": run_small_mlp, "W4": run_jacobians, "W5": run_matrix_losses,
    "Limit": run_limit, "fastpath": run_fastpath,
}
