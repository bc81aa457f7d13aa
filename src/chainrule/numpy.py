"""NumPy's names over chainrule's primitives: ``import chainrule.numpy as cnp``.

Change ``import numpy as np`` to ``import chainrule.numpy as np`` and the code
becomes differentiable, forward and reverse, to any order. Every function takes
NumPy's arguments (``axis`` as an int, a tuple or None, negative axes,
``keepdims``, broadcasting) and Python numbers, NumPy arrays and Tensors, mixed;
a (nested) list holding Tensors is stacked first, differentiably.

With no Tensor among the inputs (so, outside any transformation, or on values
that do not depend on what is differentiated), a function here *is* NumPy's:
the call goes straight to NumPy and returns exactly what NumPy returns.

Every public name is one of (see ``docs/ops.md``, generated from this table):

* ``primitive``: one chainrule primitive with its own derivative rules;
* ``composite``: made of primitives, so its derivatives follow from theirs;
* ``nondifferentiable``: comparisons, ``sign``, ``floor``, ``argmax``, ...:
  piecewise constant, their inputs are constants for every transformation;
* ``passthrough``: NumPy's own object (constants, dtypes, ``zeros``, ``eye``,
  ``arange``, ``random``, ...): arrays made from shapes, nothing to differentiate.

Any other NumPy function is reached too, but only for plain arrays: given a
Tensor it raises ``NotImplementedError`` naming the function.

Derivatives at the awkward points (the policy, written once):

* ``abs`` at 0 and ``relu`` at 0: 0. ``sign``: 0 everywhere.
* ``max``/``min`` with ties, ``maximum``/``minimum`` at a tie: the gradient is
  split evenly among the tied entries (as autograd does).
* ``sqrt`` at 0: +inf (the one-sided derivative); ``linalg.norm`` at 0: 0.
* ``clip`` at its bounds: 1 (the bounds belong to the range).
* ``where`` picks, it never multiplies; and in the rules of the ops whose
  derivative can be infinite or NaN (``sqrt``, ``log``, ``divide``, ``power``,
  ``arcsin``, ...) a zero cotangent times that derivative is 0. So
  ``where(x > 0, sqrt(x), 0.0)`` has gradient 0 at ``x <= 0``, to every order:
  the branch ``where`` did not take cannot poison the result.
* ``cholesky``, ``eigh``, ``eigvalsh`` read one triangle, as NumPy does: the
  gradient goes to that triangle. ``eigh``'s eigenvectors need distinct
  eigenvalues; ``inv``, ``det``, ``solve`` a non-singular matrix.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> float(cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(0.5))  # doctest: +ELLIPSIS
0.7...
"""

import builtins as _builtins
import functools as _functools
import sys as _sys
from typing import Any as _Any, Callable as _Callable, NamedTuple as _NamedTuple

import numpy as _np

from chainrule._native import FAST as _FAST
from chainrule.core.tensor import PLAIN as _PLAIN
from chainrule.core.tensor import Tensor as _Tensor
from chainrule.core.tensor import binary_operator as _binary_operator
from chainrule.core.tensor import unary_operator as _unary_operator
from chainrule.ops import compare as _cmp
from chainrule.ops import creation as _creation
from chainrule.ops import cumulative as _cum
from chainrule.ops import einsum as _einsum
from chainrule.ops import elementwise as _ew
from chainrule.ops import indexing as _idx
from chainrule.ops import linalg as _la
from chainrule.ops import reductions as _red
from chainrule.ops import shape as _shape


# --- the catalog and the NumPy-first dispatch --------------------------------------------------

class _Entry(_NamedTuple):
    kind: str                    # "primitive", "composite", "nondifferentiable", "passthrough"
    primitives: tuple = ()       # the primitives it is made of (their names)


_CATALOG: dict[str, _Entry] = {}


def _holds_tensor(x: _Any) -> bool:
    if isinstance(x, _Tensor):
        return True
    if x.__class__ in (list, tuple):
        return _builtins.any(_holds_tensor(item) for item in x)
    return False


def _facade(kind: str, *primitives: str, numpy_fn: _Callable | None = None,
            name: str | None = None) -> _Callable:
    """Register ``fn`` in the catalog; call NumPy's function instead when no Tensor is given."""
    def wrap(fn: _Callable) -> _Callable:
        key = name or fn.__name__
        target = numpy_fn if numpy_fn is not None else getattr(_np, key)

        @_functools.wraps(fn)
        def facade(*args: _Any, **kwargs: _Any) -> _Any:
            for a in args:
                if _holds_tensor(a):
                    return fn(*args, **kwargs)
            for a in kwargs.values():
                if _holds_tensor(a):
                    return fn(*args, **kwargs)
            return target(*args, **kwargs)

        _CATALOG[key] = _Entry(kind, primitives)
        return facade
    return wrap


def _passthrough(names: str) -> None:
    for key in names.split():
        assert globals()[key] is getattr(_np, key), key
        _CATALOG[key] = _Entry("passthrough")


def _alias(new: str, old: str) -> None:
    globals()[new] = globals()[old]
    _CATALOG[new] = _CATALOG[old]


def _arr(x: _Any) -> _Any:
    """A (nested) list or tuple becomes an array (a Tensor if it holds one); others stay."""
    if x.__class__ in (list, tuple):
        return array(x) if _holds_tensor(x) else _np.asarray(x)
    return x


def _no_out(name: str, out: _Any) -> None:
    if out is not None:
        raise TypeError(f"{name}: out= is not supported with Tensors (a Tensor in a graph "
                        f"cannot be written in place); use the returned value")


def _cast(x: _Any, dtype: _Any) -> _Any:
    if dtype is None:
        return x
    if isinstance(x, _Tensor):
        return x.astype(dtype)
    return _np.asarray(x, dtype=dtype)


def _prepare(name: str, a: _Any, dtype: _Any = None, out: _Any = None) -> _Any:
    _no_out(name, out)
    return _cast(_arr(a), dtype)


def _axis(axis: _Any) -> _Any:
    return tuple(axis) if isinstance(axis, list) else axis


def _ndim(x: _Any) -> int:
    return len(getattr(x, "shape", ()))


# --- constants, dtypes and NumPy's own helpers (nothing to differentiate) -----------------------

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, _np.newaxis
float16, float32, float64, int32, int64, bool_ = (
    _np.float16, _np.float32, _np.float64, _np.int32, _np.int64, _np.bool_)
ndarray, dtype, finfo, iinfo, result_type = _np.ndarray, _np.dtype, _np.finfo, _np.iinfo, _np.result_type
random = _np.random
zeros, ones, empty, full, eye, identity, tri = (
    _np.zeros, _np.ones, _np.empty, _np.full, _np.eye, _np.identity, _np.tri)
arange, linspace, logspace, meshgrid, indices = (
    _np.arange, _np.linspace, _np.logspace, _np.meshgrid, _np.indices)
triu_indices, tril_indices = _np.triu_indices, _np.tril_indices
allclose, isclose, array_equal, shape, ndim, size = (
    _np.allclose, _np.isclose, _np.array_equal, _np.shape, _np.ndim, _np.size)
_passthrough("""pi e inf nan newaxis float16 float32 float64 int32 int64 bool_ ndarray dtype
                finfo iinfo result_type random zeros ones empty full eye identity tri arange
                linspace logspace meshgrid indices triu_indices tril_indices allclose isclose
                array_equal shape ndim size""")


# --- elementwise ------------------------------------------------------------------------------------

_NOTHING = object()   # an argument not given


def _ufunc(name: str, prim: _Any, nin: int, kind: str = "primitive", note: str = "") -> _Callable:
    def general(*args: _Any, out: _Any = None, dtype: _Any = None) -> _Any:
        if len(args) != nin:
            raise TypeError(f"{name}() takes {nin} positional argument{'s' * (nin > 1)} "
                            f"but {len(args)} were given")
        _no_out(name, out)
        return prim(*[_cast(_arr(a), dtype) for a in args])

    general.__name__ = general.__qualname__ = name
    slow = _facade(kind, *(() if kind == "nondifferentiable" else (prim.name,)))(general)

    def dispatch(args: tuple, kwargs: dict) -> _Any:
        # arrays and Tensors and numbers only: straight to the primitive
        if not kwargs and len(args) == nin:
            for a in args:
                if a.__class__ in (list, tuple):
                    break
            else:
                return prim(*args)
        return slow(*args, **kwargs)

    # The hot path: plain arrays and numbers go to NumPy's own ufunc at once, so the facade
    # costs one Python call on them (the arguments are positional-only, as NumPy's are);
    # a tensor nothing tracks (no transformation, no gradient) goes to the implementation.
    target, plain = getattr(_np, name), _PLAIN
    if nin == 1:
        unary = _unary_operator(prim)

        def fn(x: _Any = _NOTHING, /, *rest: _Any, **kwargs: _Any) -> _Any:
            if not rest and not kwargs:
                if x.__class__ in plain:
                    return target(x)
                if x.__class__ is _Tensor:
                    return unary(x)
            return dispatch(rest if x is _NOTHING else (x, *rest), kwargs)
    else:
        left, right = _binary_operator(prim), _binary_operator(prim, reflected=True)

        def fn(x1: _Any = _NOTHING, x2: _Any = _NOTHING, /, *rest: _Any, **kwargs: _Any) -> _Any:
            if not rest and not kwargs:
                c1, c2 = x1.__class__, x2.__class__
                if c1 in plain and c2 in plain:
                    return target(x1, x2)
                if c1 is _Tensor and (c2 in plain or c2 is _Tensor):
                    return left(x1, x2)
                if c2 is _Tensor and c1 in plain:
                    return right(x2, x1)
            return dispatch(tuple(a for a in (x1, x2) if a is not _NOTHING) + rest, kwargs)

    fn.__name__ = fn.__qualname__ = name
    what = "piecewise constant: no gradient" if kind == "nondifferentiable" else "differentiable"
    fn.__doc__ = f"NumPy's ``{name}``, {what}.{' ' + note if note else ''}"
    fn.__wrapped__ = general
    if _FAST:   # the same function, its hot path in C (see chainrule/_fast.c)
        return _FAST.Ufunc(fn, target, prim.impl, unary) if nin == 1 else \
            _FAST.Ufunc(fn, target, prim.impl, left, right)
    return fn


add = _ufunc("add", _ew.add, 2)
subtract = _ufunc("subtract", _ew.subtract, 2)
multiply = _ufunc("multiply", _ew.multiply, 2)
divide = _ufunc("divide", _ew.divide, 2)
power = _ufunc("power", _ew.power, 2)
arctan2 = _ufunc("arctan2", _ew.arctan2, 2)
negative = _ufunc("negative", _ew.negative, 1)
square = _ufunc("square", _ew.square, 1)
exp = _ufunc("exp", _ew.exp, 1)
expm1 = _ufunc("expm1", _ew.expm1, 1)
log = _ufunc("log", _ew.log, 1)
log1p = _ufunc("log1p", _ew.log1p, 1)
log2 = _ufunc("log2", _ew.log2, 1)
log10 = _ufunc("log10", _ew.log10, 1)
sin = _ufunc("sin", _ew.sin, 1)
cos = _ufunc("cos", _ew.cos, 1)
tan = _ufunc("tan", _ew.tan, 1)
arcsin = _ufunc("arcsin", _ew.arcsin, 1)
arccos = _ufunc("arccos", _ew.arccos, 1)
arctan = _ufunc("arctan", _ew.arctan, 1)
sinh = _ufunc("sinh", _ew.sinh, 1)
cosh = _ufunc("cosh", _ew.cosh, 1)
tanh = _ufunc("tanh", _ew.tanh, 1)
sqrt = _ufunc("sqrt", _ew.sqrt, 1, note="Its derivative at 0 is +inf (one-sided).")
abs = _ufunc("abs", _ew.abs, 1, note="Its derivative at 0 is 0.")
maximum = _ufunc("maximum", _ew.maximum, 2, note="At a tie the gradient is split evenly.")
minimum = _ufunc("minimum", _ew.minimum, 2, note="At a tie the gradient is split evenly.")
_alias("true_divide", "divide")
_alias("absolute", "abs")

_constant = "nondifferentiable"
sign = _ufunc("sign", _ew.sign, 1, _constant)
floor = _ufunc("floor", _cmp.floor, 1, _constant)
ceil = _ufunc("ceil", _cmp.ceil, 1, _constant)
isfinite = _ufunc("isfinite", _cmp.isfinite, 1, _constant)
isnan = _ufunc("isnan", _cmp.isnan, 1, _constant)
less = _ufunc("less", _cmp.less, 2, _constant)
less_equal = _ufunc("less_equal", _cmp.less_equal, 2, _constant)
greater = _ufunc("greater", _cmp.greater, 2, _constant)
greater_equal = _ufunc("greater_equal", _cmp.greater_equal, 2, _constant)
equal = _ufunc("equal", _cmp.equal, 2, _constant)
not_equal = _ufunc("not_equal", _cmp.not_equal, 2, _constant)
logical_and = _ufunc("logical_and", _cmp.logical_and, 2, _constant)
logical_or = _ufunc("logical_or", _cmp.logical_or, 2, _constant)
logical_not = _ufunc("logical_not", _cmp.logical_not, 1, _constant)


@_facade("composite", "divide")
def reciprocal(x: _Any, out: _Any = None) -> _Any:
    """NumPy's ``reciprocal``: 1 / x."""
    return _ew.divide(1.0, _prepare("reciprocal", x, out=out))


@_facade("composite", "maximum", "subtract", "abs", "negative", "exp", "log1p", "add")
def logaddexp(x1: _Any, x2: _Any, out: _Any = None) -> _Any:
    """NumPy's ``logaddexp``: log(eˣ¹ + eˣ²) = max + log1p(e^−|x1 − x2|), stable for any size."""
    _no_out("logaddexp", out)
    x1, x2 = _arr(x1), _arr(x2)
    gap = _ew.negative(_ew.abs(_ew.subtract(x1, x2)))
    return _ew.add(_ew.maximum(x1, x2), _ew.log1p(_ew.exp(gap)))


@_facade("primitive", "clip", "where")
def clip(a: _Any, a_min: _Any = None, a_max: _Any = None, out: _Any = None, *,
         min: _Any = None, max: _Any = None) -> _Any:
    """NumPy's ``clip``: values limited to [a_min, a_max].

    The derivative in ``a`` is 1 inside the range, bounds included, and 0
    outside; Tensor bounds get the gradient of the entries clipped to them.
    """
    _no_out("clip", out)
    lo = a_min if min is None else min
    hi = a_max if max is None else max
    a, lo, hi = _arr(a), _arr(lo), _arr(hi)
    if not isinstance(lo, _Tensor) and not isinstance(hi, _Tensor):
        return _ew.clip(a, lo, hi)
    out_ = a if lo is None else _ew.where(_cmp.less(a, lo), lo, a)       # as maximum(a, lo) ...
    return out_ if hi is None else _ew.where(_cmp.greater(out_, hi), hi, out_)  # ... then minimum


@_facade("primitive", "where")
def where(condition: _Any, x: _Any = None, y: _Any = None) -> _Any:
    """NumPy's ``where``: ``x`` where ``condition`` holds, else ``y``.

    It picks, it never multiplies: a NaN or an infinite derivative in the branch
    not taken does not reach the result or its gradient. ``where(condition)``
    alone gives the indices, as NumPy's does.
    """
    if x is None and y is None:
        return _np.where(_np.asarray(condition))
    return _ew.where(_arr(condition), _arr(x), _arr(y))


@_facade("nondifferentiable")
def round(a: _Any, decimals: int = 0, out: _Any = None) -> _Any:
    """NumPy's ``round``: piecewise constant, no gradient."""
    _no_out("round", out)
    return _cmp.round(_arr(a), decimals=decimals)


_alias("around", "round")


def _keep_argmax(name: str, fn: _Any) -> _Callable:
    def arg(a: _Any, axis: _Any = None, out: _Any = None, *, keepdims: bool = False) -> _Any:
        _no_out(name, out)
        a = _arr(a)
        result = fn(a, axis=axis)
        if keepdims:
            shape = [1] * _ndim(a) if axis is None else list(a.shape)
            if axis is not None:
                shape[axis % _ndim(a)] = 1
            result = _shape.reshape(result, shape=tuple(shape))
        return result
    arg.__name__ = arg.__qualname__ = name
    arg.__doc__ = f"NumPy's ``{name}``: an index, no gradient."
    return _facade("nondifferentiable")(arg)


argmax = _keep_argmax("argmax", _cmp.argmax)
argmin = _keep_argmax("argmin", _cmp.argmin)


# --- reductions -----------------------------------------------------------------------------------

@_facade("primitive", "sum")
def sum(a: _Any, axis: _Any = None, dtype: _Any = None, out: _Any = None,
        keepdims: bool = False) -> _Any:
    """NumPy's ``sum``; its gradient is the incoming one broadcast back."""
    return _red.sum(_prepare("sum", a, dtype, out), axis=_axis(axis), keepdims=keepdims)


@_facade("primitive", "mean")
def mean(a: _Any, axis: _Any = None, dtype: _Any = None, out: _Any = None,
         keepdims: bool = False) -> _Any:
    """NumPy's ``mean``."""
    return _red.mean(_prepare("mean", a, dtype, out), axis=_axis(axis), keepdims=keepdims)


@_facade("primitive", "prod")
def prod(a: _Any, axis: _Any = None, dtype: _Any = None, out: _Any = None,
         keepdims: bool = False) -> _Any:
    """NumPy's ``prod``; exact where entries are zero (the product of the others)."""
    return _red.prod(_prepare("prod", a, dtype, out), axis=_axis(axis), keepdims=keepdims)


@_facade("primitive", "max")
def max(a: _Any, axis: _Any = None, out: _Any = None, keepdims: bool = False) -> _Any:
    """NumPy's ``max``; the gradient is split evenly among tied maxima."""
    return _red.max(_prepare("max", a, out=out), axis=_axis(axis), keepdims=keepdims)


@_facade("primitive", "min")
def min(a: _Any, axis: _Any = None, out: _Any = None, keepdims: bool = False) -> _Any:
    """NumPy's ``min``; the gradient is split evenly among tied minima."""
    return _red.min(_prepare("min", a, out=out), axis=_axis(axis), keepdims=keepdims)


_alias("amax", "max")
_alias("amin", "min")


@_facade("primitive", "var")
def var(a: _Any, axis: _Any = None, dtype: _Any = None, out: _Any = None, ddof: int = 0,
        keepdims: bool = False) -> _Any:
    """NumPy's ``var``."""
    return _red.var(_prepare("var", a, dtype, out), axis=_axis(axis), ddof=ddof,
                    keepdims=keepdims)


@_facade("primitive", "std")
def std(a: _Any, axis: _Any = None, dtype: _Any = None, out: _Any = None, ddof: int = 0,
        keepdims: bool = False) -> _Any:
    """NumPy's ``std``; needs a non-zero spread (its derivative at 0 is infinite)."""
    return _red.std(_prepare("std", a, dtype, out), axis=_axis(axis), ddof=ddof,
                    keepdims=keepdims)


@_facade("primitive", "cumsum", "reshape")
def cumsum(a: _Any, axis: _Any = None, dtype: _Any = None, out: _Any = None) -> _Any:
    """NumPy's ``cumsum``; its gradient is the running sum from the other end."""
    a = _prepare("cumsum", a, dtype, out)
    if axis is None:
        a, axis = _shape.reshape(a, shape=(-1,)), 0
    return _cum.cumsum(a, axis=axis)


class _NoValue:
    """Stands for an argument not given (NumPy's ``<no value>``)."""


@_facade("composite", "getitem", "subtract", "concatenate", "broadcast_to")
def diff(a: _Any, n: int = 1, axis: int = -1, prepend: _Any = _NoValue,
         append: _Any = _NoValue) -> _Any:
    """NumPy's ``diff``: out[i] = a[i + 1] − a[i], ``n`` times, along ``axis``."""
    a = _arr(a)
    if prepend is not _NoValue or append is not _NoValue:
        axis_ = axis % _ndim(a)
        parts = []
        for extra in (prepend, None, append):
            if extra is None:
                parts.append(a)
            elif extra is not _NoValue:
                extra = _arr(extra)
                if _ndim(extra) == 0:
                    size = list(a.shape)
                    size[axis_] = 1
                    extra = _shape.broadcast_to(extra, shape=tuple(size))
                parts.append(extra)
        a = _shape.concatenate(*parts, axis=axis_)
    return _cum.diff(a, n=n, axis=axis)


# --- products --------------------------------------------------------------------------------------

@_facade("primitive", "matmul")
def matmul(x1: _Any, x2: _Any, out: _Any = None) -> _Any:
    """NumPy's ``matmul`` (``@``): Ā = Ḡ Bᵀ, B̄ = Aᵀ Ḡ, batched over leading axes."""
    _no_out("matmul", out)
    return _la.product(_arr(x1), _arr(x2))


@_facade("composite", "matmul", "multiply", "transpose", "reshape")
def dot(a: _Any, b: _Any, out: _Any = None) -> _Any:
    """NumPy's ``dot``, for arrays of any number of axes."""
    _no_out("dot", out)
    return _la.dot(_arr(a), _arr(b))


@_facade("composite", "matmul", "multiply", "transpose", "reshape")
def inner(a: _Any, b: _Any) -> _Any:
    """NumPy's ``inner``: the sum over the last axes."""
    return _la.inner(_arr(a), _arr(b))


@_facade("composite", "matmul", "reshape")
def vdot(a: _Any, b: _Any) -> _Any:
    """NumPy's ``vdot`` (real arrays): the sum of the products of the flattened arrays."""
    return _la.vdot(_arr(a), _arr(b))


@_facade("composite", "multiply", "reshape")
def outer(a: _Any, b: _Any, out: _Any = None) -> _Any:
    """NumPy's ``outer``: out[i, j] = a[i] · b[j] (inputs flattened)."""
    _no_out("outer", out)
    return _la.outer(_arr(a), _arr(b))


@_facade("composite", "matmul", "transpose", "reshape")
def tensordot(a: _Any, b: _Any, axes: _Any = 2) -> _Any:
    """NumPy's ``tensordot``: transposes, reshapes and one ``matmul``."""
    return _la.tensordot(_arr(a), _arr(b), axes)


@_facade("primitive", "einsum")
def einsum(*operands: _Any, out: _Any = None, optimize: _Any = False, **kwargs: _Any) -> _Any:
    """NumPy's ``einsum`` (subscripts string or interleaved sublists, ``...``, implicit output).

    Its derivative in each operand is an einsum too.
    """
    _no_out("einsum", out)
    if kwargs:
        raise TypeError(f"einsum: {sorted(kwargs)} not supported with Tensors")
    return _einsum.einsum(*[_arr(x) if not isinstance(x, str) else x for x in operands])


@_facade("composite", "transpose", "getitem")
def diagonal(a: _Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> _Any:
    """NumPy's ``diagonal`` (a new array, not a view)."""
    return _la.diagonal(_arr(a), offset, axis1, axis2)


@_facade("composite", "transpose", "getitem", "sum")
def trace(a: _Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: _Any = None,
          out: _Any = None) -> _Any:
    """NumPy's ``trace``: the sum of a diagonal; its gradient is the identity pattern."""
    return _la.trace(_prepare("trace", a, dtype, out), offset, axis1, axis2)


@_facade("composite", "transpose", "getitem", "untake")
def diag(v: _Any, k: int = 0) -> _Any:
    """NumPy's ``diag``: a 2-D array with ``v`` on its ``k``-th diagonal, or a diagonal."""
    return _la.diag(_arr(v), k)


@_facade("composite", "where")
def triu(m: _Any, k: int = 0) -> _Any:
    """NumPy's ``triu``: zeros below the ``k``-th diagonal (no gradient flows there)."""
    return _la.triu(_arr(m), k)


@_facade("composite", "where")
def tril(m: _Any, k: int = 0) -> _Any:
    """NumPy's ``tril``: zeros above the ``k``-th diagonal (no gradient flows there)."""
    return _la.tril(_arr(m), k)


# --- shapes -------------------------------------------------------------------------------------------

@_facade("primitive", "reshape")
def reshape(a: _Any, shape: _Any = None, order: str = "C", *, newshape: _Any = None,
            copy: _Any = None) -> _Any:
    """NumPy's ``reshape`` (C order)."""
    if order != "C":
        raise NotImplementedError(f"reshape: order={order!r} is not supported with Tensors")
    shape = newshape if shape is None else shape
    return _shape.reshape(_arr(a), shape=(shape,) if isinstance(shape, int) else tuple(shape))


@_facade("primitive", "reshape")
def ravel(a: _Any, order: str = "C") -> _Any:
    """NumPy's ``ravel`` (C order)."""
    return reshape(a, (-1,), order)


@_facade("primitive", "transpose")
def transpose(a: _Any, axes: _Any = None) -> _Any:
    """NumPy's ``transpose``; its gradient is transposed back."""
    return _shape.transpose(_arr(a), axes=None if axes is None else tuple(axes))


@_facade("primitive", "transpose")
def swapaxes(a: _Any, axis1: int, axis2: int) -> _Any:
    """NumPy's ``swapaxes``."""
    return _shape.swapaxes(_arr(a), axis1, axis2)


@_facade("primitive", "transpose")
def moveaxis(a: _Any, source: _Any, destination: _Any) -> _Any:
    """NumPy's ``moveaxis`` (ints or sequences of ints)."""
    return _shape.moveaxis(_arr(a), source, destination)


@_facade("primitive", "expand_dims")
def expand_dims(a: _Any, axis: _Any) -> _Any:
    """NumPy's ``expand_dims`` (an int or a tuple of ints)."""
    return _shape.expand_dims(_arr(a), axis=_axis(axis))


@_facade("primitive", "squeeze")
def squeeze(a: _Any, axis: _Any = None) -> _Any:
    """NumPy's ``squeeze``."""
    return _shape.squeeze(_arr(a), axis=_axis(axis))


@_facade("primitive", "broadcast_to")
def broadcast_to(array: _Any, shape: _Any, subok: bool = False) -> _Any:
    """NumPy's ``broadcast_to``; its gradient is summed back to the input's shape."""
    return _shape.broadcast_to(_arr(array), shape=(shape,) if isinstance(shape, int)
                               else tuple(shape))


@_facade("primitive", "concatenate", "reshape")
def concatenate(arrays: _Any, axis: _Any = 0, out: _Any = None, *, dtype: _Any = None,
                casting: str = "same_kind") -> _Any:
    """NumPy's ``concatenate`` (``axis=None`` flattens first)."""
    _no_out("concatenate", out)
    arrays = [_cast(_arr(a), dtype) for a in arrays]
    if axis is None:
        arrays, axis = [_shape.reshape(a, shape=(-1,)) for a in arrays], 0
    return _shape.concatenate(*arrays, axis=axis)


@_facade("primitive", "stack")
def stack(arrays: _Any, axis: int = 0, out: _Any = None, *, dtype: _Any = None,
          casting: str = "same_kind") -> _Any:
    """NumPy's ``stack``."""
    _no_out("stack", out)
    return _shape.stack(*[_cast(asarray(a), dtype) for a in arrays], axis=axis)


@_facade("composite", "concatenate", "reshape")
def hstack(tup: _Any, *, dtype: _Any = None, casting: str = "same_kind") -> _Any:
    """NumPy's ``hstack``: along the first axis for 1-D arrays, else the second."""
    arrays = [_at_least(_cast(asarray(a), dtype), 1) for a in tup]
    return _shape.concatenate(*arrays, axis=0 if arrays and _ndim(arrays[0]) == 1 else 1)


@_facade("composite", "concatenate", "reshape")
def vstack(tup: _Any, *, dtype: _Any = None, casting: str = "same_kind") -> _Any:
    """NumPy's ``vstack``: 1-D arrays become rows, then along the first axis."""
    return _shape.concatenate(*[_at_least(_cast(asarray(a), dtype), 2) for a in tup], axis=0)


def _at_least(x: _Any, ndim: int) -> _Any:
    if _ndim(x) >= ndim:
        return x
    shape = tuple(getattr(x, "shape", ()))
    return _shape.reshape(x, shape=(1,) * (ndim - len(shape)) + shape)


@_facade("composite", "getitem")
def split(ary: _Any, indices_or_sections: _Any, axis: int = 0) -> _Any:
    """NumPy's ``split``: a list of pieces (equal sections, or at the given indices)."""
    return _shape.split(_arr(ary), indices_or_sections, axis)


@_facade("composite", "getitem")
def array_split(ary: _Any, indices_or_sections: _Any, axis: int = 0) -> _Any:
    """NumPy's ``array_split``: like ``split``, sections may differ in length by one."""
    return _shape.array_split(_arr(ary), indices_or_sections, axis)


@_facade("composite", "getitem")
def flip(m: _Any, axis: _Any = None) -> _Any:
    """NumPy's ``flip``: reversed along ``axis`` (all axes if None)."""
    return _shape.flip(_arr(m), axis)


@_facade("composite", "reshape", "broadcast_to")
def tile(A: _Any, reps: _Any) -> _Any:
    """NumPy's ``tile``; the gradient of each copy is summed back."""
    return _shape.tile(_arr(A), reps)


@_facade("composite", "reshape", "broadcast_to", "expand_dims", "getitem")
def repeat(a: _Any, repeats: _Any, axis: _Any = None) -> _Any:
    """NumPy's ``repeat``; the gradients of the repeats are summed back."""
    return _shape.repeat(_arr(a), repeats, axis)


# --- picking and sorting: integer indexing underneath ------------------------------------------

def _values(x: _Any) -> _Any:
    """The plain value under a Tensor (for index computations that have no derivative)."""
    return _np.asarray(x.raw()) if isinstance(x, _Tensor) else x


@_facade("composite", "getitem", "reshape")
def take(a: _Any, indices: _Any, axis: _Any = None, out: _Any = None, mode: str = "raise") -> _Any:
    """NumPy's ``take``: entries at ``indices`` along ``axis`` (of the flattened array if None);
    repeated indices add up their gradients."""
    _no_out("take", out)
    if mode != "raise":
        raise NotImplementedError(f"take: mode={mode!r} is not supported with Tensors")
    a, indices = _arr(a), _values(indices)
    if axis is None:
        return _shape.reshape(a, shape=(-1,))[indices]
    return a[(slice(None),) * (axis % _ndim(a)) + (indices,)]


@_facade("composite", "getitem", "reshape")
def take_along_axis(arr: _Any, indices: _Any, axis: _Any = -1) -> _Any:
    """NumPy's ``take_along_axis``: ``indices`` (as from ``argsort``) picked along ``axis``."""
    arr, indices = _arr(arr), _np.asarray(_values(indices))
    if axis is None:
        return _shape.reshape(arr, shape=(-1,))[indices]
    ndim = _ndim(arr)
    axis = axis % ndim
    index = []
    for i, n in enumerate(arr.shape):
        if i == axis:
            index.append(indices)
        else:
            index.append(_np.arange(n).reshape([-1 if j == i else 1 for j in range(ndim)]))
    return arr[tuple(index)]


@_facade("composite", "getitem", "reshape")
def sort(a: _Any, axis: _Any = -1, kind: _Any = None, order: _Any = None) -> _Any:
    """NumPy's ``sort``: a permutation of the entries, so the gradient is permuted back."""
    a = _arr(a)
    if axis is None:
        a, axis = _shape.reshape(a, shape=(-1,)), 0
    return take_along_axis(a, _np.argsort(_values(a), axis=axis, kind=kind), axis)


@_facade("composite", "getitem", "multiply", "subtract", "stack")
def cross(a: _Any, b: _Any, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: _Any = None) -> _Any:
    """NumPy's ``cross`` of 3-vectors along the last axis (broadcast over the others)."""
    a, b = _arr(a), _arr(b)
    if (axisa, axisb, axisc, axis) != (-1, -1, -1, None) or a.shape[-1:] != (3,) \
            or getattr(b, "shape", ())[-1:] != (3,):
        raise NotImplementedError("cross: only 3-vectors along the last axis are supported "
                                  "with Tensors")
    a0, a1, a2 = (a[..., k] for k in range(3))
    b0, b1, b2 = (b[..., k] for k in range(3))
    mul, sub = _ew.multiply, _ew.subtract
    return _shape.stack(sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)),
                        sub(mul(a0, b1), mul(a1, b0)), axis=-1)


@_facade("composite", "norm2", "stack", "broadcast_to")
def hypot(x1: _Any, x2: _Any, out: _Any = None) -> _Any:
    """NumPy's ``hypot``: √(x1² + x2²); its gradient (x1, x2)/r is taken as 0 at the origin."""
    _no_out("hypot", out)
    x1, x2 = _arr(x1), _arr(x2)
    both = _np.broadcast_shapes(_np.shape(x1), _np.shape(x2))
    pair = _shape.stack(_shape.broadcast_to(x1, shape=both), _shape.broadcast_to(x2, shape=both))
    return _la.norm2(pair, axis=0)


@_facade("composite", "mean", "sum", "multiply", "divide", "reshape", "broadcast_to")
def average(a: _Any, axis: _Any = None, weights: _Any = None, returned: bool = False, *,
            keepdims: bool = False) -> _Any:
    """NumPy's ``average``: Σ w·a / Σ w along ``axis`` (the mean without weights)."""
    a, axis = _arr(a), _axis(axis)
    if weights is None:
        avg = _red.mean(a, axis=axis, keepdims=keepdims)
        if not returned:
            return avg
        count = _np.size(a) // _builtins.max(_np.size(avg), 1)
        return avg, _np.full(avg.shape, count, dtype=avg.dtype)
    weights = _arr(weights)
    if _ndim(weights) == 1 and _ndim(a) > 1:
        if not isinstance(axis, int):
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        shape = [1] * _ndim(a)
        shape[axis % _ndim(a)] = -1
        weights = _shape.reshape(weights, shape=tuple(shape))
    weights = _shape.broadcast_to(weights, shape=tuple(a.shape))
    total = _red.sum(weights, axis=axis, keepdims=keepdims)
    avg = _ew.divide(_red.sum(_ew.multiply(a, weights), axis=axis, keepdims=keepdims), total)
    return (avg, total) if returned else avg


@_facade("composite", "multiply")
def copy(a: _Any, order: str = "K", subok: bool = False) -> _Any:
    """NumPy's ``copy``: a new Tensor with the same values (the gradient passes unchanged)."""
    return _ew.multiply(_arr(a), 1)


@_facade("composite", "reshape")
def atleast_1d(*arys: _Any) -> _Any:
    """NumPy's ``atleast_1d``: scalars become 1-D arrays."""
    out = [_at_least(asarray(a), 1) for a in arys]
    return out[0] if len(out) == 1 else tuple(out)


@_facade("composite", "reshape")
def atleast_2d(*arys: _Any) -> _Any:
    """NumPy's ``atleast_2d``: leading axes of length 1 added up to 2-D."""
    out = [_at_least(asarray(a), 2) for a in arys]
    return out[0] if len(out) == 1 else tuple(out)


def _on_values(name: str) -> _Callable:
    """A NumPy function whose result is an index, a count or a truth value: no derivative,
    computed on the values under any Tensors (its result is NumPy's, a constant)."""
    numpy_fn = getattr(_np, name)

    def constant(*args: _Any, **kwargs: _Any) -> _Any:
        return numpy_fn(*[_values(a) for a in args],
                        **{k: _values(v) for k, v in kwargs.items()})

    constant.__name__ = constant.__qualname__ = name
    constant.__doc__ = f"NumPy's ``{name}`` (its result is a constant: no gradient)."
    return _facade("nondifferentiable")(constant)


argsort = _on_values("argsort")
argwhere = _on_values("argwhere")
nonzero = _on_values("nonzero")
flatnonzero = _on_values("flatnonzero")
count_nonzero = _on_values("count_nonzero")
searchsorted = _on_values("searchsorted")
isinf = _on_values("isinf")
isin = _on_values("isin")
any = _on_values("any")
all = _on_values("all")


# --- arrays from data ---------------------------------------------------------------------------------

@_facade("primitive", "stack")
def array(object: _Any, dtype: _Any = None, *, copy: bool = True, order: str = "K",
          subok: bool = False, ndmin: int = 0) -> _Any:
    """NumPy's ``array``; a Tensor stays one, and a (nested) list holding Tensors is
    stacked into one, differentiably."""
    if isinstance(object, _Tensor):
        return object if dtype is None else object.astype(dtype)
    if isinstance(object, (list, tuple)) and _holds_tensor(object):
        out = _shape.stack(*[array(item) for item in object], axis=0)
        return out if dtype is None else out.astype(dtype)
    return _np.array(object, dtype=dtype)


@_facade("primitive", "stack")
def asarray(a: _Any, dtype: _Any = None, order: _Any = None) -> _Any:
    """NumPy's ``asarray``; like ``array`` for Tensors and lists holding Tensors."""
    return array(a, dtype)


@_facade("nondifferentiable")
def zeros_like(a: _Any, dtype: _Any = None, order: str = "K", subok: bool = True,
               shape: _Any = None) -> _Any:
    """NumPy's ``zeros_like``: a constant (no gradient)."""
    if shape is not None:
        raise NotImplementedError("zeros_like: shape= is not supported with Tensors")
    return _creation.zeros_like(_arr(a), dtype=dtype)


@_facade("nondifferentiable")
def ones_like(a: _Any, dtype: _Any = None, order: str = "K", subok: bool = True,
              shape: _Any = None) -> _Any:
    """NumPy's ``ones_like``: a constant (no gradient)."""
    if shape is not None:
        raise NotImplementedError("ones_like: shape= is not supported with Tensors")
    return _creation.ones_like(_arr(a), dtype=dtype)


@_facade("nondifferentiable")
def full_like(a: _Any, fill_value: _Any, dtype: _Any = None, order: str = "K",
              subok: bool = True, shape: _Any = None) -> _Any:
    """NumPy's ``full_like``: a constant (no gradient)."""
    if shape is not None:
        raise NotImplementedError("full_like: shape= is not supported with Tensors")
    return _creation.full_like(_arr(a), fill_value, dtype=dtype)


# --- what NumPy has and chainrule does not differentiate ----------------------------------------------

def _unsupported(name: str, fn: _Any, where: str = "numpy") -> _Callable:
    @_functools.wraps(fn)
    def numpy_only(*args: _Any, **kwargs: _Any) -> _Any:
        if _builtins.any(_holds_tensor(a) for a in (*args, *kwargs.values())):
            raise NotImplementedError(
                f"chainrule.{where}.{name} is not differentiable in chainrule (it has no "
                f"derivative rule); it works on plain arrays only. Use a supported function "
                f"(see docs/ops.md), or {where}.{name}(t.numpy()) for a value without gradient")
        return fn(*args, **kwargs)
    return numpy_only


def __getattr__(name: str) -> _Any:
    """Other NumPy names: types and constants as they are, functions for plain arrays only."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        obj = getattr(_np, name)
    except AttributeError:
        raise AttributeError(f"module 'chainrule.numpy' has no attribute {name!r} "
                             f"(nor has numpy)") from None
    if isinstance(obj, type) or not callable(obj):
        return obj
    return _unsupported(name, obj)


from chainrule import numpy_linalg as linalg  # noqa: E402

_sys.modules[__name__ + ".linalg"] = linalg   # so `import chainrule.numpy.linalg` works too

_CATALOG["linalg"] = _Entry("namespace")
_CATALOG["index_update"] = _Entry("primitive", ("index_update",))
index_update = _idx.index_update
