"""Indexing: reading entries (``x[index]``) and writing them functionally.

``x[index]`` is linear in ``x``; its transpose scatters the gradient back into
zeros, *adding* where an integer index repeats (``x[[0, 0]]`` sends both
gradients to entry 0). Any NumPy index works: ints (negative too), slices with
steps, ``None``, ``...``, integer arrays and boolean masks.

Writing: NumPy code that says ``a[i] = v`` becomes ``a = cr.index_update(a, i, v)``
(or ``a = a.at[i].set(v)``): a new array, ``a`` with the entries at ``i``
replaced by ``v``. Its gradient is the incoming one with those entries zeroed
(for ``a``) and those entries (for ``v``, summed where ``v`` was broadcast).
``a.at[i].add(v)`` adds instead, accumulating at repeated indices like
``numpy.add.at``.
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
    (((5,),), {"index": slice(-1, 0, -2)}),           # negative start, negative step
    (((3, 4),), {"index": (-1, slice(None, None, 3))}),
    (((4,),), {"index": xp.array([True, False, True, True])}),         # a boolean mask
    (((2, 3),), {"index": xp.array([[True, False, True], [False, False, True]])}),
    (((3, 4),), {"index": (slice(1, None), [3, -1, 0])}),             # slice and array mixed
])
getitem.shape_error = "index is out of range or does not fit"
linear(getitem, lambda g, ans, x, index: untake(g, index=index, shape=_shape(x)))

untake = primitive(_untake_impl, name="untake", reference=_untake_impl, cases=[
    (((2,),), {"index": slice(1, 3), "shape": (4,)}),
    (((4,),), {"index": ([0, 2, 0, 3],), "shape": (4,)}),
    (((3,),), {"index": xp.array([True, False, True, True]), "shape": (4,)}),
])
linear(untake, lambda g, ans, x, index, shape: getitem(g, index=index))


def _index_update_impl(x, value, index):
    out = xp.array(x, copy=True)
    out[index] = value
    return out


set_at = primitive(_index_update_impl, name="index_update", reference=_index_update_impl,
                   cases=[(((4,), ()), {"index": 1}), (((3, 4), (4,)), {"index": 0}),
                          (((3, 4), (2, 2)), {"index": (slice(0, 2), slice(1, 3))}),
                          (((5,), (2,)), {"index": [-1, 1]}),
                          (((4,), ()), {"index": xp.array([True, False, False, True])})])
rules(set_at,
      vjp=[lambda g, ans, x, v, index: _without_index(g, index),
           lambda g, ans, x, v, index: getitem(g, index=index)])
set_at.jvp_all = lambda ts, ans, x, v, index: set_at(
    zeros_like(x) if ts[0] is None else ts[0], 0.0 if ts[1] is None else ts[1], index=index)


def _without_index(g, index):
    return set_at(g, 0.0, index=index)


def index_update(x, index, value):
    """``x`` with the entries at ``index`` replaced by ``value``: NumPy's ``x[index] = value``
    as a new array, differentiable in ``x`` and ``value``.

    >>> import chainrule as cr, numpy as np
    >>> cr.index_update(np.zeros(3), 1, 5.0).tolist()
    [0.0, 5.0, 0.0]
    """
    return set_at(x, value, index=index)


def index_add(x, index, value):
    """``x`` plus ``value`` at ``index``; repeated indices accumulate (``numpy.add.at``).

    >>> import chainrule as cr, numpy as np
    >>> cr.ops.indexing.index_add(np.zeros(3), [0, 0, 2], 1.0).tolist()
    [2.0, 0.0, 1.0]
    """
    shape = _shape(x)
    selected = xp.shape(xp.broadcast_to(xp.empty((), dtype=bool), shape)[index])
    return add(x, untake(broadcast_to(value, shape=selected), index=index, shape=shape))


from chainrule.ops.creation import zeros_like  # noqa: E402
from chainrule.ops.elementwise import add  # noqa: E402
from chainrule.ops.shape import broadcast_to  # noqa: E402
