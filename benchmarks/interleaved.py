"""Two of the suite's ratios timed again in one process, the contenders interleaved.

On a shared host whose speed drifts by 1.5x within a minute, two figures taken in
two worker processes minutes apart can disagree by more than the gap they are
meant to measure. This times each contender in turn, round after round, in one
process, and prints the median of each and the median of the per-round ratios
to NumPy by hand:

    python -m benchmarks.interleaved              # W1's step, batch 128, 10 rounds of 40 steps
    python -m benchmarks.interleaved --batch 32 --rounds 20
    python -m benchmarks.interleaved --workload W5 --rounds 20   # 10 calls a round

W1: the training step of NumPy by hand, chainrule and ``cr.nn``, on random data
of W1's shapes (float32) from W1's weights. W5: the two matrix losses' gradients,
W5's matrices, by the closed form, chainrule and chainrule under ``cr.compile``.
Nothing here is a figure of the suite's tables, only a second look at a ratio.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np

from benchmarks import fw_chainrule, fw_chainrule_nn, fw_numpy, workloads
from benchmarks.workloads import init_mlp

TRAINERS = {"numpy": fw_numpy, "chainrule": fw_chainrule, "chainrule-nn": fw_chainrule_nn}


Contenders = dict[tuple[str, str], Callable]   # (case, framework) -> one round's work


def w1_contenders(args: argparse.Namespace) -> tuple[Contenders, str]:
    """One stretch of ``args.steps`` training steps per trainer."""
    gen = np.random.default_rng(0)
    x = gen.random((args.batch * args.steps, 784), dtype=np.float32)
    y = gen.integers(0, 10, args.batch * args.steps)
    params = init_mlp((784, 256, 256, 10), "relu", np.float32)

    def stretch(trainer) -> Callable:
        def run() -> None:
            for i in range(args.steps):
                rows = slice(i * args.batch, (i + 1) * args.batch)
                trainer.step(x[rows], y[rows])
            trainer.sync()
        return run

    contenders = {("step", name): stretch(module.mlp_trainer([p.copy() for p in params],
                                                             "relu", 0.1))
                  for name, module in TRAINERS.items()}
    return contenders, f"W1 step, batch {args.batch}, {args.rounds} rounds of {args.steps} steps"


def w5_contenders(args: argparse.Namespace) -> tuple[Contenders, str]:
    """``args.calls`` gradient calls per contender and loss."""
    gen = workloads.rng(7)      # W5's matrices, as the suite draws them
    n = workloads.W5_SIZE
    a, b = (gen.standard_normal((n, n)) / np.sqrt(n) for _ in range(2))
    constants = (workloads.W5_GAMMA, workloads.W5_ALPHA, workloads.W5_BETA)

    def made(module, compile: bool = False) -> dict:
        if module is fw_chainrule:
            fw_chainrule.configure(compile=compile)
        try:
            return module.matrix_losses(a.copy(), b.copy(), *constants)
        finally:
            fw_chainrule.configure(compile=False)

    sources = {"numpy": made(fw_numpy), "chainrule": made(fw_chainrule),
               "chainrule-compile": made(fw_chainrule, compile=True)}

    def calls(fn: Callable) -> Callable:
        def run() -> None:
            for _ in range(args.calls):
                fn()
        return run

    contenders = {(loss, name): calls(losses[loss])
                  for loss in ("logdet", "trace") for name, losses in sources.items()}
    return contenders, f"W5 gradients, {args.rounds} rounds of {args.calls} calls"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.interleaved", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=["W1", "W5"], default="W1")
    parser.add_argument("--batch", type=int, default=128, help="W1's batch size")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="W1: steps per trainer per round")
    parser.add_argument("--calls", type=int, default=10, help="W5: calls per contender per round")
    args = parser.parse_args(argv)
    make = w1_contenders if args.workload == "W1" else w5_contenders
    contenders, title = make(args)
    per_call = args.steps if args.workload == "W1" else args.calls
    unit = "ms/step" if args.workload == "W1" else "ms/call"

    def timed(run: Callable) -> float:
        start = time.perf_counter()
        run()
        return (time.perf_counter() - start) / per_call

    for run in contenders.values():   # warm-up round (cr.compile records here), not timed
        run()
    times: dict[tuple[str, str], list[float]] = {key: [] for key in contenders}
    for _ in range(args.rounds):
        for key, run in contenders.items():
            times[key].append(timed(run))
    print(title)
    for (case, name), values in times.items():
        ratio = float(np.median(np.array(values) / np.array(times[case, "numpy"])))
        print(f"  {case:7s} {name:18s} {np.median(values) * 1e3:7.3f} {unit}   × NumPy {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
