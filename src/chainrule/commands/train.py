"""``chainrule train``: train a multilayer perceptron and show how well it classifies.

With no options it trains on scikit-learn's digits (offline), printing each
epoch's loss and accuracy (training and validation), then the test accuracy,
the confusion matrix (rows: true class) and a per-class report, and writes to
``--out`` (default: a new folder under ``runs/``):

* ``model.npz``: the trained model (``cr.nn.load_model``), loadable without pickle;
* ``checkpoint.npz``: model, optimizer state and history after the last epoch
  (``--resume`` continues from it, up to ``--epochs`` in total);
* ``history.png`` and ``confusion_matrix.png`` (when matplotlib is installed);
* ``results.json``: what ``--json`` prints as the last line of standard output.

``--kfold K`` trains K models instead, each validated on one fold of the
training set, and reports mean ± std over the folds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

DEFAULTS = {"dataset": "digits", "layers": "128,64", "activation": "relu", "epochs": 40,
            "batch_size": 32, "optimizer": "adam", "seed": 0, "val_split": 0.1}
DEFAULT_LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adam": 1e-3, "adamw": 1e-3}
ACTIVATIONS = ("sigmoid", "tanh", "relu")
DATASETS = ("digits", "mnist", "fashion-mnist")
RUNS = Path("runs")
CHECKPOINT, MODEL, RESULTS = "checkpoint.npz", "model.npz", "results.json"


# --- options --------------------------------------------------------------------------------

def _number(kind: type, accept: Any, expected: str) -> Any:
    """An argparse type: ``kind(text)`` that ``accept`` allows, else "expected ..."."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__name__ = expected  # argparse names the type in its messages
    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_non_negative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _number(float, lambda v: v > 0 and np.isfinite(v), "a positive number")
_fraction = _number(float, lambda v: 0 <= v < 1, "a fraction in [0, 1)")


def _layers(text: str) -> list[int]:
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError(
            f"expected hidden layer sizes like 64,64 (positive integers), got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", choices=DATASETS, default=DEFAULTS["dataset"],
                        help="data set (default: digits, offline)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="folder with the four IDX files of mnist / fashion-mnist")
    parser.add_argument("--layers", type=_layers, default=DEFAULTS["layers"], metavar="64,64",
                        help="hidden layer sizes, comma-separated (default: 128,64)")
    parser.add_argument("--activation", choices=ACTIVATIONS, default=DEFAULTS["activation"],
                        help="hidden activation (default: relu)")
    parser.add_argument("--epochs", type=_non_negative_int, default=DEFAULTS["epochs"],
                        metavar="N", help="epochs in total (default: 40)")
    parser.add_argument("--batch-size", type=_positive_int, default=DEFAULTS["batch_size"],
                        metavar="N", help="mini-batch size (default: 32)")
    parser.add_argument("--lr", type=_positive_float, metavar="X",
                        help="learning rate (default: 0.001 for adam, 0.1 for sgd, "
                             "0.05 for momentum)")
    parser.add_argument("--optimizer", choices=tuple(DEFAULT_LR), default=DEFAULTS["optimizer"],
                        help="optimizer (default: adam)")
    parser.add_argument("--seed", type=_non_negative_int, default=DEFAULTS["seed"], metavar="N",
                        help="seed of the weights, the validation split and the shuffling "
                             "(default: 0)")
    parser.add_argument("--val-split", type=_fraction, default=DEFAULTS["val_split"],
                        metavar="F", help="fraction of the training set held out for "
                                          "validation (default: 0.1)")
    parser.add_argument("--patience", type=_non_negative_int, default=0, metavar="N",
                        help="stop early after N epochs without a better validation loss "
                             "(default: 0, off)")
    parser.add_argument("--kfold", type=_positive_int, metavar="K",
                        help="K-fold cross-validation on the training set (mean ± std)")
    parser.add_argument("--out", metavar="DIR",
                        help="output folder (default: a new folder under runs/)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out (default: the latest under runs/) "
                             "from its checkpoint, up to --epochs")
    parser.add_argument("--jit-compile", action="store_true",
                        help="record each training step once (cr.compile) and replay it: the "
                             "same numbers, less time per step")
    parser.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument("--json", action="store_true",
                        help="end with one JSON line: dataset, test metrics, history, seconds")


# --- running ----------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.kfold is not None and args.kfold < 2:
        raise ValueError("--kfold: K must be at least 2")
    if args.kfold and args.resume:
        raise ValueError("--resume cannot be combined with --kfold")
    if args.patience and not args.val_split:
        raise ValueError("--patience needs a validation set: set --val-split above 0")
    checkpoint = None
    if args.resume:
        out = _resume_folder(args)
        checkpoint = _read_checkpoint(out, args)
    data = _load(args.dataset, args.data_dir)
    if not args.resume:
        out = _new_folder(args.out, args.dataset)
    if args.kfold:
        result = _cross_validate(args, data, out)
    else:
        result = _train_once(args, data, out, checkpoint)
    result["seconds"] = round(time.perf_counter() - started, 3)
    result["out"] = str(out)
    _write_json(out / RESULTS, result)
    print(f"Wrote {out}/ ({', '.join(sorted(p.name for p in out.iterdir() if p.is_file()))})")
    if args.json:
        print(json.dumps(result))
    return 0


def _load(name: str, data_dir: str | None) -> Any:
    from chainrule import data as crdata
    try:
        return crdata.load(name, data_dir=data_dir)
    except ImportError as error:
        raise ValueError(f"{name}: {error}") from None


def _new_folder(out: str | None, dataset: str) -> Path:
    if out is not None:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--out: {folder} exists and is not a folder")
    else:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        folder = RUNS / f"{dataset}-{stamp}"
        n = 1
        while folder.exists():
            n += 1
            folder = RUNS / f"{dataset}-{stamp}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _resume_folder(args: argparse.Namespace) -> Path:
    if args.out is not None:
        folder = Path(args.out)
        if not (folder / CHECKPOINT).is_file():
            raise ValueError(f"--resume: no {CHECKPOINT} in {folder}; train into it first "
                             f"(chainrule train --out {folder})")
        return folder
    runs = sorted(RUNS.glob(f"*/{CHECKPOINT}"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise ValueError(f"--resume: no checkpoint under {RUNS}/; train first, or pass "
                         f"--out DIR of a run")
    return runs[-1].parent


def _read_checkpoint(out: Path, args: argparse.Namespace) -> tuple:
    """The saved model and extras; the run's own settings replace the command line's."""
    from chainrule import nn
    model, extra = nn.load_checkpoint(out / CHECKPOINT)
    saved = extra.get("args", {})
    for key in ("dataset", "data_dir", "activation", "batch_size", "optimizer", "seed",
                "val_split", "patience"):
        if key in saved:
            setattr(args, key, saved[key])
    return model, extra


def _settings(args: argparse.Namespace) -> dict:
    keys = ("dataset", "data_dir", "layers", "activation", "epochs", "batch_size", "lr",
            "optimizer", "seed", "val_split", "patience")
    return {key: getattr(args, key) for key in keys}


def _build(args: argparse.Namespace, input_dim: int, classes: int, seed: int) -> Any:
    from chainrule import nn, optim
    sizes = args.layers
    layers = [nn.Dense(size, activation=args.activation, input_dim=input_dim if i == 0 else None)
              for i, size in enumerate(sizes)]
    layers.append(nn.Dense(classes, activation="softmax", input_dim=None if sizes else input_dim))
    model = nn.Sequential(layers, seed=seed)
    lr = args.lr if args.lr is not None else DEFAULT_LR[args.optimizer]
    model.compile(loss="cross_entropy", optimizer=optim.get(args.optimizer, lr=lr),
                  metrics=["accuracy"], jit_compile=args.jit_compile)
    return model


def _split(args: argparse.Namespace, data: Any) -> tuple:
    from chainrule.data import train_test_split
    x, y = data.train
    if not args.val_split:
        return x, y, None
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=args.val_split,
                                                      seed=args.seed)
    return x_train, y_train, (x_val, y_val)


def _train_once(args: argparse.Namespace, data: Any, out: Path, checkpoint: tuple | None) -> dict:
    from chainrule import nn
    x_train, y_train, validation = _split(args, data)
    rng = np.random.default_rng(args.seed)
    initial_epoch = 0
    if checkpoint is not None:
        model, extra = checkpoint
        initial_epoch = int(extra.get("epoch", 0))
        if "shuffle_rng" in extra:
            rng.bit_generator.state = extra["shuffle_rng"]
        args.layers = [layer.units for layer in model.layers[:-1]]
        print(f"Resuming {out} after epoch {initial_epoch} of {args.epochs}")
    else:
        model = _build(args, data.x_train.shape[1], data.num_classes, args.seed)
    if not args.quiet:
        print(f"Training {_describe(model)} on {data.name} ({len(x_train)} training, "
              f"{0 if validation is None else len(validation[0])} validation, "
              f"{len(data.x_test)} test samples); {model.optimizer!r}")
    callbacks: list = [nn.ModelCheckpoint(out / CHECKPOINT, extra={"args": _settings(args)})]
    if args.patience:
        callbacks.append(nn.EarlyStopping(patience=args.patience))
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                        validation_data=validation, verbose=0 if args.quiet else 1,
                        callbacks=callbacks, initial_epoch=initial_epoch, seed=rng)
    test = _test_report(model, data)
    model.save(out / MODEL)
    if not args.no_plots:
        _plots(out, history, test["confusion_matrix"], data)
    return {"dataset": data.name, "model": _describe(model), "epochs": len(history),
            "test": test, "history": history.to_dict()}


def _describe(model: Any) -> str:
    sizes = [model.input_dim] + [layer.units for layer in model.layers]
    activations = {layer.activation for layer in model.layers[:-1]}
    hidden = f" {', '.join(sorted(map(str, activations)))}" if activations else ""
    return "-".join(map(str, sizes)) + hidden


def _test_report(model: Any, data: Any) -> dict:
    from chainrule import metrics
    scores = model.evaluate(data.x_test, data.y_test)
    predicted = model.predict_classes(data.x_test)
    cm = metrics.confusion_matrix(data.y_test, predicted, num_classes=data.num_classes)
    names = list(data.classes)
    print(f"\nTest accuracy: {scores['accuracy']:.4f}   test loss: {scores['loss']:.4f}   "
          f"({len(data.y_test)} samples)\n")
    print("Confusion matrix (rows: true class, columns: predicted class)")
    print(metrics.format_confusion_matrix(cm, labels=names))
    print()
    print(metrics.classification_report(data.y_test, predicted, target_names=names, digits=3))
    return {"accuracy": scores["accuracy"], "loss": scores["loss"],
            "confusion_matrix": cm.tolist()}


def _plots(out: Path, history: Any, cm: Any, data: Any) -> None:
    from chainrule.nn import plots
    try:
        if len(history):
            plots.plot_history(history, out / "history.png", title=f"{data.name}: training")
        plots.plot_confusion_matrix(cm, out / "confusion_matrix.png", labels=list(data.classes),
                                    title=f"{data.name}: test confusion matrix")
    except ImportError as error:
        print(f"chainrule: plots skipped: {error}", file=sys.stderr)


def _cross_validate(args: argparse.Namespace, data: Any, out: Path) -> dict:
    from chainrule import metrics
    from chainrule.data import kfold
    x, y = data.train
    folds, histories = [], []
    total_cm = np.zeros((data.num_classes, data.num_classes), dtype=np.int64)
    for i, (train, val) in enumerate(kfold(y, k=args.kfold, seed=args.seed)):
        model = _build(args, x.shape[1], data.num_classes, args.seed + i)
        history = model.fit(x[train], y[train], epochs=args.epochs, batch_size=args.batch_size,
                            validation_data=(x[val], y[val]), verbose=0 if args.quiet else 2,
                            seed=args.seed + i)
        test = model.evaluate(data.x_test, data.y_test)
        predicted = model.predict_classes(data.x_test)
        total_cm += metrics.confusion_matrix(data.y_test, predicted, num_classes=data.num_classes)
        fold = {"fold": i + 1, "val_accuracy": history.history["val_accuracy"][-1],
                "val_loss": history.history["val_loss"][-1], "test_accuracy": test["accuracy"],
                "test_loss": test["loss"]}
        folds.append(fold)
        histories.append(history.to_dict())
        print(f"Fold {i + 1}/{args.kfold}: val_accuracy {fold['val_accuracy']:.4f}  "
              f"test_accuracy {fold['test_accuracy']:.4f}")
    summary = {key: {"mean": float(np.mean([f[key] for f in folds])),
                     "std": float(np.std([f[key] for f in folds]))}
               for key in ("val_accuracy", "val_loss", "test_accuracy", "test_loss")}
    print(f"\n{args.kfold}-fold cross-validation: val_accuracy "
          f"{summary['val_accuracy']['mean']:.4f} ± {summary['val_accuracy']['std']:.4f}, "
          f"test_accuracy {summary['test_accuracy']['mean']:.4f} ± "
          f"{summary['test_accuracy']['std']:.4f}\n")
    print("Confusion matrix on the test set, summed over the folds (rows: true class)")
    print(metrics.format_confusion_matrix(total_cm, labels=list(data.classes)))
    if not args.no_plots:
        from chainrule.nn import plots
        try:
            plots.plot_confusion_matrix(total_cm, out / "confusion_matrix.png",
                                        labels=list(data.classes),
                                        title=f"{data.name}: test, summed over folds")
        except ImportError as error:
            print(f"chainrule: plots skipped: {error}", file=sys.stderr)
    return {"dataset": data.name, "kfold": {"k": args.kfold, "folds": folds, **summary},
            "test": {"accuracy": summary["test_accuracy"]["mean"],
                     "loss": summary["test_loss"]["mean"],
                     "confusion_matrix": total_cm.tolist()},
            "history": histories}


def _write_json(path: Path, data: dict) -> None:
    from chainrule.nn._files import atomic_write
    with atomic_write(path, "w") as stream:
        json.dump(data, stream, indent=1)
