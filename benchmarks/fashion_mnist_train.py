"""Fashion-MNIST with chainrule's Keras-style toolkit: the issue's accuracy target, timed.

    python -m benchmarks.fashion_mnist_train                 # 784-256-256-10 ReLU, batch 128, 10 epochs
    python -m benchmarks.fashion_mnist_train --course        # the course's 784-64-64-10 sigmoid net
    python -m benchmarks.fashion_mnist_train --json          # last line: one JSON object

The data comes from Debian's ``dataset-fashion-mnist`` package
(``apt-get install -y dataset-fashion-mnist``, files in
``/usr/share/datasets/fashion-mnist``) or ``--data-dir``. Softmax cross-entropy
(fused, from logits), float32, mini-batches by index, test accuracy on the
10,000 test images after the last epoch; prints seconds per epoch (the
median, and each), and the peak resident memory of the process. With
``--torch`` (and PyTorch installed) the same recipe runs in PyTorch, eager,
on the CPU, after chainrule's, for comparison.

One run on the 2-core development machine (OpenBLAS, idle), test accuracy
after 10 epochs, median seconds per epoch, peak RSS:

    default (Adam 1e-3, cosine)            0.8992   1.00 s/epoch   280 MiB
    --optimizer sgd --lr 0.1 --schedule none   0.8716   0.74 s/epoch   278 MiB
    --course (784-64-64-10 sigmoid, Adam)      0.8655   0.41 s/epoch   267 MiB

(seeds 1 and 2 of the default: 0.8959, 0.8944). The first epoch is often
slower (fresh allocations being paged in).
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import sys
import time

import numpy as np


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fashion_mnist_train",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="folder with the four Fashion-MNIST IDX files")
    parser.add_argument("--course", action="store_true",
                        help="the course's 784-64-64-10 sigmoid network instead")
    parser.add_argument("--layers", default=None, help="hidden sizes (default 256,256)")
    parser.add_argument("--activation", default=None, help="hidden activation (default relu)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--optimizer", default="adam", help="sgd, momentum or adam (default)")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--schedule", choices=("cosine", "none"), default="cosine",
                        help="learning rate: cosine decay to 0 over the epochs (default) or "
                             "constant")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch", action="store_true", help="also run the recipe in PyTorch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.course:
        args.layers = args.layers or "64,64"
        args.activation = args.activation or "sigmoid"
    args.layers = [int(n) for n in (args.layers or "256,256").split(",")]
    args.activation = args.activation or "relu"
    if args.lr is None:
        args.lr = {"sgd": 0.1, "momentum": 0.05}.get(args.optimizer, 1e-3)
    return args


def run_chainrule(args: argparse.Namespace, data) -> dict:
    from chainrule import nn, optim

    layers = [nn.Dense(n, args.activation, input_dim=784 if i == 0 else None)
              for i, n in enumerate(args.layers)] + [nn.Dense(10, "softmax")]
    model = nn.Sequential(layers, seed=args.seed)
    model.compile(loss="cross_entropy", optimizer=optim.get(args.optimizer, lr=args.lr),
                  metrics=["accuracy"])
    callbacks = [optim.CosineAnnealingLR(model.optimizer, args.epochs)] \
        if args.schedule == "cosine" else []
    history = model.fit(data.x_train, data.y_train, epochs=args.epochs,
                        batch_size=args.batch_size, verbose=0 if args.json else 2,
                        seed=args.seed, callbacks=callbacks)
    test = model.evaluate(data.x_test, data.y_test)
    return {"framework": "chainrule", "test_accuracy": test["accuracy"],
            "test_loss": test["loss"], "seconds_per_epoch": history.seconds,
            "train_accuracy": history.history["accuracy"][-1]}


def run_torch(args: argparse.Namespace, data) -> dict:
    import torch

    torch.manual_seed(args.seed)
    sizes = [784] + args.layers
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}
    modules = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        modules += [torch.nn.Linear(fan_in, fan_out), act[args.activation]()]
    model = torch.nn.Sequential(*modules, torch.nn.Linear(sizes[-1], 10))
    if args.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=args.lr,
                              momentum=0.9 if args.optimizer == "momentum" else 0.0)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs) \
        if args.schedule == "cosine" else None
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    rng = np.random.default_rng(args.seed)
    seconds = []
    for _ in range(args.epochs):
        started = time.perf_counter()
        for index in np.array_split(rng.permutation(len(x)),
                                    range(args.batch_size, len(x), args.batch_size)):
            index = torch.from_numpy(index)
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x[index]), y[index])
            loss.backward()
            opt.step()
        if schedule is not None:
            schedule.step()
        seconds.append(time.perf_counter() - started)
    with torch.no_grad():
        predicted = model(torch.from_numpy(data.x_test)).argmax(1).numpy()
    return {"framework": "torch", "test_accuracy": float(np.mean(predicted == data.y_test)),
            "seconds_per_epoch": seconds}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from chainrule.data import fashion_mnist

    data = fashion_mnist(args.data_dir, download=False)
    recipe = (f"784-{'-'.join(map(str, args.layers))}-10 {args.activation}, softmax "
              f"cross-entropy, {args.optimizer} lr {args.lr} ({args.schedule} schedule), batch {args.batch_size}, "
              f"{args.epochs} epochs, float32")
    if not args.json:
        print(f"Fashion-MNIST ({len(data.x_train)} train / {len(data.x_test)} test): {recipe}")
    results = [run_chainrule(args, data)]
    results[0]["peak_rss_mib"] = round(peak_rss_mib(), 1)
    if args.torch:
        try:
            results.append(run_torch(args, data))
            results[-1]["peak_rss_mib (whole process)"] = round(peak_rss_mib(), 1)
        except ImportError:
            print("PyTorch is not installed: skipped", file=sys.stderr)
    for result in results:
        per_epoch = result["seconds_per_epoch"]
        result["median_seconds_per_epoch"] = round(statistics.median(per_epoch), 3)
        if not args.json:
            print(f"{result['framework']:>10}: test accuracy {result['test_accuracy']:.4f}, "
                  f"{result['median_seconds_per_epoch']:.2f} s/epoch (median; "
                  f"{min(per_epoch):.2f}-{max(per_epoch):.2f}), "
                  f"peak RSS {result.get('peak_rss_mib', '-')} MiB")
    if args.json:
        print(json.dumps({"recipe": recipe, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
