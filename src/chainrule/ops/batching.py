"""How each op maps over a leading batch axis: the rules behind ``cr.vmap``.

``cr.vmap`` (and so ``jacfwd``, ``jacrev`` and ``hessian``, which push a whole
basis of tangents or cotangents through in one pass) needs, for each op, its
result for every entry of a batch at once. A batching rule receives the op's
arguments, those flagged in ``batched`` carrying an extra *leading* axis of
length ``size``, and returns the stacked results, batch axis leading.

Most ops fall into a few families, declared below in one table each:

* elementwise ops broadcast: line the batch axis up in front of the result's
  axes (insert length-1 axes after it) and apply the op as it is;
* ops with an ``axis`` parameter: shift non-negative axes by one, and read
  ``axis=None`` as "every axis but the batch";
* shape ops and ``matmul``: their own short rules.

An op without a rule is mapped by a loop over the batch (correct, slower).
"""

from __future__ import annotations

from typing import Any, Callable

from chainrule.ops import compare, creation, elementwise, indexing, linalg, nnops, reductions
from chainrule.ops import shape as shapes
from chainrule.ops._primitive import REGISTRY, Primitive


def _shape(x: Any) -> tuple:
    return tuple(getattr(x, "shape", ()))


def loop(prim: Primitive, args: list, batched: list, size: int, params: dict) -> Any:
    """The fallback: apply the op to each batch entry and stack the results."""
    results = []
    for b in range(size):
        entry = [indexing.getitem(a, index=b) if is_batched else a
                 for a, is_batched in zip(args, batched)]
        results.append(prim(*entry, **params))
    return shapes.stack(*results, axis=0)


def apply_batched(prim: Primitive, args: list, batched: list, size: int, params: dict) -> Any:
    """The op's result for every batch entry, batch axis leading."""
    rule = prim.batch
    if rule is None:
        return loop(prim, args, batched, size, params)
    return rule(args, batched, size, **params)


# --- elementwise: align the batch axis in front of the broadcast result ------------------------

def _aligned(args: list, batched: list) -> list:
    rank = max(len(_shape(a)) - is_batched for a, is_batched in zip(args, batched))
    out = []
    for a, is_batched in zip(args, batched):
        s = _shape(a)
        missing = rank - (len(s) - 1)
        if is_batched and missing > 0:
            a = shapes.reshape(a, shape=(s[0],) + (1,) * missing + s[1:])
        out.append(a)
    return out


def _elementwise_rule(prim: Primitive) -> Callable:
    def rule(args: list, batched: list, size: int, **params: Any) -> Any:
        return prim(*_aligned(args, batched), **params)
    return rule


# --- an ``axis`` parameter counts axes of one example: shift it past the batch axis -----------

def _shift(axis: Any, ndim: int) -> Any:
    if axis is None:
        return tuple(range(1, ndim + 1))
    if isinstance(axis, tuple):
        return tuple(a % ndim + 1 for a in axis)
    return axis % ndim + 1 if ndim else axis


def _axis_rule(prim: Primitive, default: Any = None) -> Callable:
    def rule(args: list, batched: list, size: int, **params: Any) -> Any:
        (x,) = args
        params["axis"] = _shift(params.get("axis", default), len(_shape(x)) - 1)
        return prim(x, **params)
    return rule


def _arg_extreme_rule(prim: Primitive) -> Callable:
    def rule(args: list, batched: list, size: int, axis: Any = None) -> Any:
        (x,) = args
        if axis is None:  # the index into each flattened example
            return prim(shapes.reshape(x, shape=(size, -1)), axis=1)
        return prim(x, axis=_shift(axis, len(_shape(x)) - 1))
    return rule


# --- shape ops ------------------------------------------------------------------------------------

def _reshape(args, batched, size, shape):
    return shapes.reshape(args[0], shape=(size,) + tuple(shape))


def _transpose(args, batched, size, axes=None):
    n = len(_shape(args[0])) - 1
    axes = tuple(reversed(range(n))) if axes is None else tuple(a % n for a in axes)
    return shapes.transpose(args[0], axes=(0,) + tuple(a + 1 for a in axes))


def _broadcast_to(args, batched, size, shape):
    (x,) = _aligned_to(args[0], len(shape))
    return shapes.broadcast_to(x, shape=(size,) + tuple(shape))


def _aligned_to(x: Any, rank: int) -> tuple:
    s = _shape(x)
    missing = rank - (len(s) - 1)
    return (shapes.reshape(x, shape=(s[0],) + (1,) * missing + s[1:]) if missing > 0 else x,)


def _sum_to(args, batched, size, shape):
    x = args[0]
    s = _shape(x)[1:]
    shape = tuple(shape)
    lead = len(s) - len(shape)
    axes = tuple(1 + i for i in range(lead)) + tuple(
        1 + lead + i for i, n in enumerate(shape) if n == 1 and s[lead + i] != 1)
    if axes:
        x = reductions.sum(x, axis=axes, keepdims=True)
    return shapes.reshape(x, shape=(size,) + shape)


def _expand_dims(args, batched, size, axis):
    n = len(_shape(args[0]))  # the result has n + 1 axes with the batch axis; n without
    return shapes.expand_dims(args[0], axis=axis % n + 1)


def _squeeze(args, batched, size, axis=None):
    s = _shape(args[0])[1:]
    if axis is None:
        axis = tuple(i for i, n in enumerate(s) if n == 1)
    return shapes.squeeze(args[0], axis=_shift(axis, len(s)) if s else None)


def _all_batched(args: list, batched: list, size: int) -> list:
    return [a if is_batched else shapes.broadcast_to(a, shape=(size,) + _shape(a))
            for a, is_batched in zip(args, batched)]


def _concatenate(args, batched, size, axis=0):
    n = len(_shape(args[0])) - batched[0]
    return shapes.concatenate(*_all_batched(args, batched, size), axis=axis % n + 1)


def _stack(args, batched, size, axis=0):
    n = len(_shape(args[0])) - batched[0] + 1  # axes of one stacked example
    return shapes.stack(*_all_batched(args, batched, size), axis=axis % n + 1)


# --- indexing: a leading full slice keeps the batch axis in front --------------------------------

def _is_advanced(part: Any) -> bool:
    return not (part is None or part is Ellipsis or isinstance(part, (slice, int)))


def _batched_index(index: Any) -> tuple | None:
    """``index`` with a full slice in front, or None when NumPy would move the batch axis
    (advanced indices that are not next to each other)."""
    parts = index if isinstance(index, tuple) else (index,)
    flags = [_is_advanced(p) for p in parts]
    if flags.count(True) > 1:
        first = flags.index(True)
        last = len(flags) - 1 - flags[::-1].index(True)
        if not all(flags[first:last + 1]):
            return None
    return (slice(None),) + parts


def _getitem(args, batched, size, index):
    batched_index = _batched_index(index)
    if batched_index is None:
        return loop(indexing.getitem, args, batched, size, {"index": index})
    return indexing.getitem(args[0], index=batched_index)


def _untake(args, batched, size, index, shape):
    batched_index = _batched_index(index)
    if batched_index is None:
        return loop(indexing.untake, args, batched, size, {"index": index, "shape": shape})
    return indexing.untake(args[0], index=batched_index, shape=(size,) + tuple(shape))


# --- matmul: the batch axis joins the stack axes, left of all of them ----------------------------

def _matmul(args, batched, size, gram=False):
    x, y = args
    bx, by = batched
    vector_x, vector_y = len(_shape(x)) - bx == 1, len(_shape(y)) - by == 1
    if vector_x:  # (k,) -> (1, k), as matmul reads it
        x = shapes.expand_dims(x, axis=1 if bx else 0)
    if vector_y:  # (k,) -> (k, 1)
        y = shapes.expand_dims(y, axis=-1)
    stack = max(len(_shape(x)) - bx, len(_shape(y)) - by) - 2
    x = _with_stack_axes(x, bx, stack)
    y = _with_stack_axes(y, by, stack)
    out = linalg.matmul(x, y)
    if vector_y:
        out = shapes.squeeze(out, axis=-1)
    if vector_x:
        out = shapes.squeeze(out, axis=-2 if not vector_y else -1)
    return out


def _with_stack_axes(a: Any, is_batched: bool, stack: int) -> Any:
    """A batched operand with length-1 stack axes after its batch axis, up to ``stack``."""
    s = _shape(a)
    missing = stack - (len(s) - is_batched - 2)
    if is_batched and missing > 0:
        a = shapes.reshape(a, shape=(s[0],) + (1,) * missing + s[1:])
    return a


# --- the table ----------------------------------------------------------------------------------

ELEMENTWISE = [
    "add", "subtract", "multiply", "zero_safe_multiply", "divide", "negative", "power", "square",
    "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "sin", "cos", "tan", "arcsin",
    "arccos", "arctan", "sinh", "cosh", "tanh", "abs", "maximum", "minimum", "clip", "where",
    "astype", "sigmoid", "relu", "mask_positive",
]
NON_DIFFERENTIABLE_ELEMENTWISE = [
    elementwise.sign, creation.zeros_like, creation.ones_like, creation.full_like,
    compare.less, compare.less_equal, compare.greater, compare.greater_equal, compare.equal,
    compare.not_equal, compare.logical_and, compare.logical_or, compare.logical_not,
    compare.isfinite, compare.isnan, compare.floor, compare.ceil, compare.round,
]
WITH_AXIS = {
    "sum": None, "mean": None, "prod": None, "max": None, "min": None, "var": None,
    "std": None, "logsumexp": None, "softmax": -1, "log_softmax": -1,
}
OWN_RULES = {
    "reshape": _reshape, "transpose": _transpose, "broadcast_to": _broadcast_to,
    "sum_to": _sum_to, "expand_dims": _expand_dims, "squeeze": _squeeze,
    "concatenate": _concatenate, "stack": _stack, "getitem": _getitem, "untake": _untake,
    "matmul": _matmul,
}


def _declare() -> None:
    named = REGISTRY
    for name in ELEMENTWISE:
        if name in named:
            named[name].batch = _elementwise_rule(named[name])
    for prim in NON_DIFFERENTIABLE_ELEMENTWISE:
        prim.batch = _elementwise_rule(prim)
    for name, default in WITH_AXIS.items():
        named[name].batch = _axis_rule(named[name], default)
    for prim in (compare.argmax, compare.argmin):
        prim.batch = _arg_extreme_rule(prim)
    for name, rule in OWN_RULES.items():
        named[name].batch = rule


_declare()
del nnops  # imported so that its primitives are registered before the table is applied
