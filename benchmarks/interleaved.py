"""W1's training step, NumPy by hand and chainrule, interleaved in one process.

On a shared host whose speed drifts by 1.5x within a minute, two figures taken in
two worker processes minutes apart can disagree by more than the gap they are
meant to measure. This times the same step for each trainer in turn, round after
round, in one process, and prints the median of each and the median of the
per-round ratios:

    python -m benchmarks.interleaved              # batch 128, 10 rounds of 40 steps
    python -m benchmarks.interleaved --batch 32 --rounds 20

The data are random (W1's shapes, float32), the weights W1's; nothing here is a
figure of the suite's tables, only a second look at a ratio.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import fw_chainrule, fw_chainrule_nn, fw_numpy
from benchmarks.workloads import init_mlp

TRAINERS = {"numpy": fw_numpy, "chainrule": fw_chainrule, "chainrule-nn": fw_chainrule_nn}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.interleaved", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40, help="steps per trainer per round")
    args = parser.parse_args(argv)

    gen = np.random.default_rng(0)
    x = gen.random((args.batch * args.steps, 784), dtype=np.float32)
    y = gen.integers(0, 10, args.batch * args.steps)
    params = init_mlp((784, 256, 256, 10), "relu", np.float32)
    trainers = {name: module.mlp_trainer([p.copy() for p in params], "relu", 0.1)
                for name, module in TRAINERS.items()}

    def run(trainer) -> float:
        start = time.perf_counter()
        for i in range(args.steps):
            rows = slice(i * args.batch, (i + 1) * args.batch)
            trainer.step(x[rows], y[rows])
        trainer.sync()
        return (time.perf_counter() - start) / args.steps

    for trainer in trainers.values():   # warm-up round, not timed
        run(trainer)
    times = {name: [] for name in trainers}
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            times[name].append(run(trainer))
    floor = np.array(times["numpy"])
    print(f"W1 step, batch {args.batch}, {args.rounds} rounds of {args.steps} steps")
    for name, values in times.items():
        ratio = float(np.median(np.array(values) / floor))
        print(f"  {name:13s} {np.median(values) * 1e3:7.3f} ms/step   × NumPy {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
