"""Train/test and train/validation/test splits, and k-fold cross-validation.

All splits work on indices, are reproducible from ``seed`` (an int or a
``numpy.random.Generator``), and by default are *stratified*: every class is
spread over the parts in proportion to its size, each class's count in a part
within one sample of its exact share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike

from ._random import Seed, as_generator
from .labels import class_ids

__all__ = ["kfold", "split_indices", "train_test_split", "train_val_test_split"]


def _count(size: float, n: int, caller: str, what: str) -> int:
    """Number of samples meant by ``size``: a fraction of ``n`` (rounded up) or a count."""
    if isinstance(size, Integral) and not isinstance(size, bool):
        count = int(size)
    elif isinstance(size, float) and 0.0 < size < 1.0:
        count = math.ceil(size * n)
    else:
        raise ValueError(f"{caller}: {what} must be a fraction in (0, 1) or a count, got {size!r}")
    if not 0 < count < n:
        raise ValueError(
            f"{caller}: {what}={size!r} gives {count} of {n} samples; each part needs at least one"
        )
    return count


def _stratified_take(labels: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask choosing ``count`` samples, each class in proportion to its size.

    Each class gets the floor of its exact share; the samples left over go to
    the classes with the largest remainders (ties broken at random).
    """
    classes, members = np.unique(labels, return_inverse=True)
    sizes = np.bincount(members, minlength=len(classes))
    shares = sizes * count / len(labels)
    taken = np.floor(shares).astype(np.int64)
    order = rng.permutation(len(classes))
    by_remainder = order[np.argsort(-(shares - taken)[order], kind="stable")]
    taken[by_remainder[: count - int(taken.sum())]] += 1
    mask = np.zeros(len(labels), dtype=bool)
    for index in range(len(classes)):
        chosen = rng.permutation(np.flatnonzero(members == index))[: taken[index]]
        mask[chosen] = True
    return mask


def split_indices(
    y: ArrayLike | int, test_size: float = 0.2, stratify: bool = True, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled ``(train_index, test_index)`` arrays splitting ``len(y)`` samples.

    ``test_size`` is a fraction of the samples (rounded up) or a count. ``y``
    may also be a sample count (int), which leaves nothing to stratify on.

    >>> train, test = split_indices([0, 0, 0, 0, 1, 1, 1, 1], test_size=0.5, seed=1)
    >>> sorted(len(part) for part in (train, test))
    [4, 4]
    """
    labels = None if isinstance(y, Integral) else class_ids(y, caller="split_indices")
    n = int(y) if labels is None else len(labels)
    count = _count(test_size, n, "split_indices", "test_size")
    rng = as_generator(seed)
    if stratify and labels is not None:
        in_test = _stratified_take(labels, count, rng)
    else:
        in_test = np.zeros(n, dtype=bool)
        in_test[rng.permutation(n)[:count]] = True
    return rng.permutation(np.flatnonzero(~in_test)), rng.permutation(np.flatnonzero(in_test))


def _check_lengths(caller: str, x: np.ndarray, y: np.ndarray) -> None:
    if len(x) != len(y):
        raise ValueError(
            f"{caller}: x and y have different numbers of samples: shapes {x.shape} and {y.shape}"
        )


def train_test_split(
    x: ArrayLike, y: ArrayLike, test_size: float = 0.2, stratify: bool = True, seed: Seed = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``(x_train, x_test, y_train, y_test)``, in scikit-learn's order.

    >>> import numpy as np
    >>> x, y = np.arange(20).reshape(10, 2), np.array([0] * 5 + [1] * 5)
    >>> x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4)
    >>> x_test.shape, np.bincount(y_test).tolist()
    ((4, 2), [2, 2])
    """
    x, y = np.asarray(x), np.asarray(y)
    _check_lengths("train_test_split", x, y)
    train, test = split_indices(y, test_size, stratify, seed)
    return x[train], x[test], y[train], y[test]


def train_val_test_split(
    x: ArrayLike,
    y: ArrayLike,
    val_size: float = 0.1,
    test_size: float = 0.2,
    stratify: bool = True,
    seed: Seed = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split into ``(x_train, x_val, x_test, y_train, y_val, y_test)``.

    ``val_size`` and ``test_size`` are fractions of *all* samples (or counts).

    >>> import numpy as np
    >>> x, y = np.zeros((100, 3)), np.arange(100) % 4
    >>> parts = train_val_test_split(x, y, val_size=0.2, test_size=0.2)
    >>> [len(part) for part in parts[:3]]
    [60, 20, 20]
    """
    x, y = np.asarray(x), np.asarray(y)
    _check_lengths("train_val_test_split", x, y)
    n = len(y)
    n_test = _count(test_size, n, "train_val_test_split", "test_size")
    n_val = _count(val_size, n, "train_val_test_split", "val_size")
    if n_test + n_val >= n:
        raise ValueError(
            f"train_val_test_split: val_size={val_size!r} and test_size={test_size!r} "
            f"leave no training samples out of {n}"
        )
    rng = as_generator(seed)
    rest, test = split_indices(y, n_test, stratify, rng)
    train_in_rest, val_in_rest = split_indices(y[rest], n_val, stratify, rng)
    train, val = rest[train_in_rest], rest[val_in_rest]
    return x[train], x[val], x[test], y[train], y[val], y[test]


def kfold(
    y: ArrayLike | int, k: int = 5, stratify: bool = True, shuffle: bool = True, seed: Seed = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``k`` pairs ``(train_index, val_index)`` for k-fold cross-validation.

    Every sample is in exactly one validation fold; fold sizes differ by at
    most one. Stratified (the default, needs labels), each class is dealt
    round-robin over the folds, so its count in any two folds differs by at
    most one. ``y`` may be a sample count (int) for plain k-fold. Indices in
    each pair are sorted.

    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> [np.bincount(y[val]).tolist() for _, val in kfold(y, k=3)]
    [[1, 1], [1, 1], [1, 1]]
    """
    labels = None if isinstance(y, Integral) else class_ids(y, caller="kfold")
    n = int(y) if labels is None else len(labels)
    if not isinstance(k, Integral) or not 2 <= k <= n:
        raise ValueError(f"kfold: k must be an integer between 2 and the {n} samples, got {k!r}")
    rng = as_generator(seed)
    order = rng.permutation(n) if shuffle else np.arange(n)
    fold_of = np.empty(n, dtype=np.int64)
    if stratify and labels is not None:
        dealt = order[np.argsort(labels[order], kind="stable")]  # grouped by class
        fold_of[dealt] = np.arange(n) % k
    else:
        for fold, members in enumerate(np.array_split(order, k)):
            fold_of[members] = fold
    for fold in range(k):
        yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
