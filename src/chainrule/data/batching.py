"""Mini-batches by index.

An epoch is a permutation of ``range(n)`` cut into batches; only the rows of
the current batch are gathered (``x[index]``), so the data set itself is never
copied or reshuffled in memory. Shuffling is reproducible from a seed or a
``numpy.random.Generator``.
"""

from __future__ import annotations

from collections.abc import Iterator
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike

from ._random import Seed, as_generator

__all__ = ["Batches", "batch_indices", "iterate_minibatches"]


def _check_batch_size(caller: str, batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"{caller}: batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def batch_indices(
    n: int, batch_size: int, shuffle: bool = True, rng: Seed = None, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """Yield index arrays covering ``range(n)`` once: one epoch of mini-batches.

    ``rng`` is a seed or a ``numpy.random.Generator`` (pass the same Generator
    every epoch to get a new, reproducible order each time); ``None`` shuffles
    unpredictably. The last batch is smaller when ``batch_size`` does not
    divide ``n``, unless ``drop_last`` drops it.

    >>> [batch.tolist() for batch in batch_indices(5, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    batch_size = _check_batch_size("batch_indices", batch_size)
    order = as_generator(rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def _as_arrays(
    caller: str, x: ArrayLike, y: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray | None]:
    x = np.asarray(x)
    if y is None:
        return x, None
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(
            f"{caller}: x and y have different numbers of samples: shapes {x.shape} and {y.shape}"
        )
    return x, y


def iterate_minibatches(
    x: ArrayLike,
    y: ArrayLike | None = None,
    batch_size: int = 32,
    shuffle: bool = True,
    rng: Seed = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
    """One epoch of ``(x_batch, y_batch)`` pairs (or ``x_batch`` alone when ``y`` is None).

    >>> import numpy as np
    >>> x, y = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [y_batch.tolist() for _, y_batch in iterate_minibatches(x, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    """
    x, y = _as_arrays("iterate_minibatches", x, y)
    for index in batch_indices(len(x), batch_size, shuffle, rng, drop_last):
        yield x[index] if y is None else (x[index], y[index])


class Batches:
    """A re-iterable source of mini-batches: each ``for`` loop over it is one epoch.

    Holds references to ``x`` and ``y`` (no copy) and one Generator made from
    ``seed``, so successive epochs have different orders and the whole
    sequence of epochs is reproducible. ``len()`` is the number of batches per
    epoch.

    >>> import numpy as np
    >>> batches = Batches(np.zeros((10, 3)), np.arange(10), batch_size=4, seed=0)
    >>> len(batches), [len(y_batch) for _, y_batch in batches]
    (3, [4, 4, 2])
    """

    def __init__(
        self,
        x: ArrayLike,
        y: ArrayLike | None = None,
        batch_size: int = 32,
        shuffle: bool = True,
        seed: Seed = None,
        drop_last: bool = False,
    ) -> None:
        self.x, self.y = _as_arrays("Batches", x, y)
        self.batch_size = _check_batch_size("Batches", batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rng = as_generator(seed)

    def __len__(self) -> int:
        full, partial = divmod(len(self.x), self.batch_size)
        return full if self.drop_last or not partial else full + 1

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray] | np.ndarray]:
        return iterate_minibatches(
            self.x, self.y, self.batch_size, self.shuffle, self.rng, self.drop_last
        )

    def __repr__(self) -> str:
        return (
            f"Batches(samples={len(self.x)}, batch_size={self.batch_size}, "
            f"batches={len(self)}, shuffle={self.shuffle})"
        )
