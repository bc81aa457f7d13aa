"""NumPy's names over chainrule's primitives: ``import chainrule.numpy as cnp``.

Change ``import numpy as np`` to ``import chainrule.numpy as np`` and the code
becomes differentiable. Given no Tensor (and no traced value), every function
here returns exactly what NumPy returns.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> float(cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(0.5))  # doctest: +ELLIPSIS
0.7...
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as _np

from chainrule.core.tensor import Tensor
from chainrule.ops import compare as _cmp
from chainrule.ops import creation as _creation
from chainrule.ops import elementwise as _ew
from chainrule.ops import indexing as _idx
from chainrule.ops import linalg as _la
from chainrule.ops import reductions as _red
from chainrule.ops import shape as _shape

# --- constants, dtypes and NumPy's own helpers (nothing to differentiate) ---------------
pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float16, float32, float64, int32, int64, bool_ = (
    _np.float16, _np.float32, _np.float64, _np.int32, _np.int64, _np.bool_)
ndarray, dtype, random = _np.ndarray, _np.dtype, _np.random
zeros, ones, empty, full, eye, identity = _np.zeros, _np.ones, _np.empty, _np.full, _np.eye, _np.identity
arange, linspace, logspace, meshgrid = _np.arange, _np.linspace, _np.logspace, _np.meshgrid
allclose, isclose, array_equal, shape, ndim, size = (
    _np.allclose, _np.isclose, _np.array_equal, _np.shape, _np.ndim, _np.size)
zeros_like = _creation.zeros_like
ones_like = _creation.ones_like
full_like = _creation.full_like

# --- elementwise ---------------------------------------------------------------------------
add, subtract, multiply, divide = _ew.add, _ew.subtract, _ew.multiply, _ew.divide
true_divide, negative, power, square, sqrt = _ew.divide, _ew.negative, _ew.power, _ew.square, _ew.sqrt
exp, expm1, log, log1p, log2, log10 = _ew.exp, _ew.expm1, _ew.log, _ew.log1p, _ew.log2, _ew.log10
sin, cos, tan, arcsin, arccos, arctan = _ew.sin, _ew.cos, _ew.tan, _ew.arcsin, _ew.arccos, _ew.arctan
sinh, cosh, tanh = _ew.sinh, _ew.cosh, _ew.tanh
abs, absolute, sign = _ew.abs, _ew.abs, _ew.sign
maximum, minimum = _ew.maximum, _ew.minimum
less, less_equal, greater, greater_equal = _cmp.less, _cmp.less_equal, _cmp.greater, _cmp.greater_equal
equal, not_equal, isfinite, isnan = _cmp.equal, _cmp.not_equal, _cmp.isfinite, _cmp.isnan
logical_and, logical_or, logical_not = _cmp.logical_and, _cmp.logical_or, _cmp.logical_not
floor, ceil = _cmp.floor, _cmp.ceil


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Any:
    """Limit values to [a_min, a_max]; the derivative is 1 inside, bounds included."""
    return _ew.clip(a, a_min, a_max)


def where(condition: Any, x: Any, y: Any) -> Any:
    """Pick from ``x`` where ``condition`` holds, else from ``y`` (no NaN leaks across)."""
    return _ew.where(condition, x, y)


def round(a: Any, decimals: int = 0) -> Any:
    return _cmp.round(a, decimals=decimals)


def argmax(a: Any, axis: int | None = None) -> Any:
    return _cmp.argmax(a, axis=axis)


def argmin(a: Any, axis: int | None = None) -> Any:
    return _cmp.argmin(a, axis=axis)


# --- reductions --------------------------------------------------------------------------------

def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, list) else axis


def sum(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _red.sum(a, axis=_axis(axis), keepdims=keepdims)


def mean(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _red.mean(a, axis=_axis(axis), keepdims=keepdims)


def prod(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _red.prod(a, axis=_axis(axis), keepdims=keepdims)


def max(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _red.max(a, axis=_axis(axis), keepdims=keepdims)


def min(a: Any, axis: Any = None, keepdims: bool = False) -> Any:
    return _red.min(a, axis=_axis(axis), keepdims=keepdims)


amax, amin = max, min


def var(a: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return _red.var(a, axis=_axis(axis), ddof=ddof, keepdims=keepdims)


def std(a: Any, axis: Any = None, ddof: int = 0, keepdims: bool = False) -> Any:
    return _red.std(a, axis=_axis(axis), ddof=ddof, keepdims=keepdims)


# --- products ------------------------------------------------------------------------------------
matmul = _la.matmul
dot = _la.dot


# --- shapes ----------------------------------------------------------------------------------------

def reshape(a: Any, newshape: Any) -> Any:
    return _shape.reshape(a, shape=(newshape,) if isinstance(newshape, int) else tuple(newshape))


def ravel(a: Any) -> Any:
    return _shape.reshape(a, shape=(-1,))


def transpose(a: Any, axes: Any = None) -> Any:
    return _shape.transpose(a, axes=None if axes is None else tuple(axes))


def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
    return _shape.swapaxes(a, axis1, axis2)


def moveaxis(a: Any, source: int, destination: int) -> Any:
    order = [i for i in builtins.range(_np.ndim(a)) if i != source % _np.ndim(a)]
    order.insert(destination % _np.ndim(a), source % _np.ndim(a))
    return _shape.transpose(a, axes=tuple(order))


def expand_dims(a: Any, axis: Any) -> Any:
    return _shape.expand_dims(a, axis=axis)


def squeeze(a: Any, axis: Any = None) -> Any:
    return _shape.squeeze(a, axis=axis)


def broadcast_to(a: Any, shape: Any) -> Any:
    return _shape.broadcast_to(a, shape=(shape,) if isinstance(shape, int) else tuple(shape))


def concatenate(arrays: Any, axis: int = 0) -> Any:
    return _shape.concatenate(*arrays, axis=axis)


def stack(arrays: Any, axis: int = 0) -> Any:
    return _shape.stack(*[asarray(a) for a in arrays], axis=axis)


# --- arrays from data ----------------------------------------------------------------------------

def _has_tensor(data: Any) -> bool:
    if isinstance(data, Tensor):
        return True
    if isinstance(data, (list, tuple)):
        return builtins.any(_has_tensor(d) for d in data)
    return False


def array(data: Any, dtype: Any = None) -> Any:
    """NumPy's ``array``; a (nested) list holding Tensors is stacked, differentiably."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.astype(dtype)
    if isinstance(data, (list, tuple)) and _has_tensor(data):
        out = _shape.stack(*[array(d) for d in data], axis=0)
        return out if dtype is None else out.astype(dtype)
    return _np.array(data, dtype=dtype)


def asarray(data: Any, dtype: Any = None) -> Any:
    if isinstance(data, Tensor) or (isinstance(data, (list, tuple)) and _has_tensor(data)):
        return array(data, dtype)
    return _np.asarray(data, dtype=dtype)


index_update = _idx.index_update
