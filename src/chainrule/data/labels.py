"""Class labels: integer class ids and one-hot rows.

Everything that takes labels in chainrule (metrics, stratified splits, the
training loop) accepts either a 1-D array of integer class ids or a 2-D array
with one row per sample (one-hot rows or predicted probabilities), whose
argmax is the class id. :func:`class_ids` is that one conversion.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["class_ids", "one_hot"]


def class_ids(y: ArrayLike, *, caller: str = "class_ids", name: str = "y") -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of class ids.

    A 2-D array with several columns is read as one-hot rows or probability
    rows and replaced by its argmax along axis 1; a single column is read as
    class ids. Floats are accepted when they hold whole numbers. ``caller``
    and ``name`` only make error messages say where the labels came from.

    >>> class_ids([2, 0, 1]).tolist()
    [2, 0, 1]
    >>> class_ids([[0.1, 0.9], [0.8, 0.2]]).tolist()
    [1, 0]
    """
    array = np.asarray(y)
    if array.ndim == 2 and array.shape[1] > 1:
        return np.argmax(array, axis=1).astype(np.int64)
    if array.ndim == 2:
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{caller}: {name} must be class ids of shape (n,) or rows of shape (n, classes); "
            f"got shape {array.shape}"
        )
    return _integral(array, caller=caller, name=name)


def _integral(array: np.ndarray, *, caller: str, name: str) -> np.ndarray:
    """Check that a 1-D array holds non-negative whole numbers; return it as int64."""
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{caller}: {name} must hold integer class ids, got dtype {array.dtype}")
    whole = np.issubdtype(array.dtype, np.integer) or (
        np.all(np.isfinite(array)) and np.all(array == np.round(array))
    )
    if not whole:
        raise ValueError(f"{caller}: {name} holds values that are not whole class ids")
    return _non_negative(array.astype(np.int64), caller=caller, name=name)


def _non_negative(ids: np.ndarray, *, caller: str, name: str) -> np.ndarray:
    """``ids`` (integers), after checking that none is negative."""
    if ids.size and ids.min() < 0:
        raise ValueError(f"{caller}: {name} holds a negative class id ({ids.min()})")
    return ids


_IDENTITY_LIMIT = 256   # classes; the largest kept identity is 256 x 256 (512 KiB in float64)


@functools.lru_cache(maxsize=8)
def _identity(size: int, dtype: np.dtype) -> np.ndarray:
    """The identity matrix of ``size``, read-only: its rows are the one-hot rows."""
    rows = np.eye(size, dtype=dtype)
    rows.flags.writeable = False
    return rows


def one_hot(y: ArrayLike, num_classes: int | None = None, dtype: type = np.float32) -> np.ndarray:
    """Encode class ids as one-hot rows of shape ``(n, num_classes)``.

    ``num_classes`` defaults to the largest id plus one.

    >>> one_hot([0, 2], num_classes=3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    """
    ids = np.asarray(y)
    if ids.ndim != 1 or ids.dtype.kind not in "iu":      # rows, floats, bools: checked as ids
        ids = class_ids(ids, caller="one_hot")
    else:                                                # integers already: no int64 copy
        ids = _non_negative(ids, caller="one_hot", name="y")
    top = int(ids.max()) if ids.size else -1
    if num_classes is None:
        num_classes = top + 1
    if top >= num_classes:
        raise ValueError(f"one_hot: class id {top} does not fit num_classes={num_classes}")
    if num_classes <= _IDENTITY_LIMIT:                   # a training loop's per-batch call:
        return _identity(num_classes, np.dtype(dtype))[ids]   # one gather of kept rows
    rows = np.zeros((ids.size, num_classes), dtype=dtype)
    rows[np.arange(ids.size), ids] = 1
    return rows
