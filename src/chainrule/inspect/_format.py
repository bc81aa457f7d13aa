"""How values look in traces and drawings: numbers in full, arrays as shape and summary."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import numpy as np

from chainrule.core.tensor import Tensor

SMALL = 4  # arrays with at most this many entries are shown entry by entry


def as_array(value: Any) -> np.ndarray:
    """A NumPy array of ``value`` (under any tensor levels)."""
    if isinstance(value, Tensor):
        value = value.raw()
    return np.asarray(value)


def plain(value: Any) -> Any:
    """A 0-d value as a Python number, anything else as a NumPy array."""
    array = as_array(value)
    return array.item() if array.ndim == 0 else array


def number(x: Any, digits: int = 6) -> str:
    """``x`` with ``digits`` significant digits, no ``-0`` and no trailing zeros."""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, complex):
        return f"{x:.{digits}g}"
    x = float(x)
    if x == 0:
        return "0"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


def summary(value: Any, digits: int = 6) -> str:
    """A scalar as a number; a small array entry by entry; a big one as shape and range."""
    if value is None:
        return ""
    array = as_array(value)
    if array.ndim == 0:
        return number(array.item(), digits)
    if array.size <= SMALL:
        return _nested(array, min(digits, 4))
    if array.dtype.kind not in "biuf" or array.size == 0:
        return f"{shape_text(array.shape)} {array.dtype}"
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array
    if finite.size == 0:
        return f"{shape_text(array.shape)} all {number(array.flat[0])}"
    low, high = number(finite.min(), 3), number(finite.max(), 3)
    mean = number(finite.mean(), 3)
    return f"{shape_text(array.shape)} mean {mean} in [{low}, {high}]"


def short(value: Any) -> str:
    """The shortest useful text: numbers for small values, the shape for big arrays."""
    array = as_array(value)
    if array.ndim == 0 or array.size <= SMALL:
        return summary(array, 4)
    return shape_text(array.shape)


def _nested(array: np.ndarray, digits: int) -> str:
    if array.ndim == 0:
        return number(array.item(), digits)
    return "[" + ", ".join(_nested(part, digits) for part in array) + "]"


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (combining accents such as v̇ take none)."""
    return sum(0 if unicodedata.combining(ch) else 1 for ch in text)


def pad(text: str, columns: int) -> str:
    return text + " " * (columns - width(text))


def jsonable(value: Any) -> Any:
    """Numbers and nested lists for JSON; a non-finite float becomes "inf", "-inf" or "nan"."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: jsonable(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)) and not isinstance(value, np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, str):
        return value
    array = as_array(value)
    if array.ndim > 0:
        return [jsonable(part) for part in array]
    item = array.item()
    if isinstance(item, float) and not math.isfinite(item):
        return number(item)
    return item
