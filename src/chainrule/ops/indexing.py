"""Indexing: reading entries (``x[index]``) and writing them functionally.

``x[index]`` is linear in ``x``; its transpose scatters the gradient back into
zeros, *adding* where an integer index repeats (``x[[0, 0]]`` sends both
gradients to entry 0).
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import linear, primitive, rules


def _is_basic(index):
    """True when ``index`` selects without repeats (slices, ints, None, ...)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (slice, int)) for p in parts)


def _getitem_impl(x, index):
    return x[index]


def _untake_impl(g, index, shape):
    out = xp.zeros(shape, dtype=xp.result_type(g))
    if _is_basic(index):
        out[index] = g
    else:
        xp.add.at(out, index, g)
    return out


def _shape(x):
    return tuple(getattr(x, "shape", ()))


getitem = primitive(_getitem_impl, name="getitem", reference=_getitem_impl, cases=[
    (((4,),), {"index": slice(1, 3)}),
    (((4,),), {"index": slice(None, None, -2)}),
    (((3, 4),), {"index": (1, slice(None))}),
    (((3, 4),), {"index": (Ellipsis, None, 2)}),
    (((4,),), {"index": ([0, 2, 0, 3],)}),           # repeated integer indices
    (((3, 4),), {"index": ([2, 0, 2], [1, 1, 3])}),
])
getitem.shape_error = "index is out of range or does not fit"
linear(getitem, lambda g, ans, x, index: untake(g, index=index, shape=_shape(x)))

untake = primitive(_untake_impl, name="untake", reference=_untake_impl, cases=[
    (((2,),), {"index": slice(1, 3), "shape": (4,)}),
    (((4,),), {"index": ([0, 2, 0, 3],), "shape": (4,)}),
])
linear(untake, lambda g, ans, x, index, shape: getitem(g, index=index))


def _index_update_impl(x, value, index):
    out = xp.array(x, copy=True)
    out[index] = value
    return out


def _without_index(g, index):
    return index_update(g, 0.0, index=index)


index_update = primitive(_index_update_impl, name="index_update", reference=_index_update_impl,
                         cases=[(((4,), ()), {"index": 1}), (((3, 4), (4,)), {"index": 0}),
                                (((3, 4), (2, 2)), {"index": (slice(0, 2), slice(1, 3))})])
rules(index_update,
      vjp=[lambda g, ans, x, v, index: _without_index(g, index),
           lambda g, ans, x, v, index: getitem(g, index=index)])
index_update.jvp_all = lambda ts, ans, x, v, index: index_update(
    zeros_like(x) if ts[0] is None else ts[0], 0.0 if ts[1] is None else ts[1], index=index)


from chainrule.ops.creation import zeros_like  # noqa: E402
