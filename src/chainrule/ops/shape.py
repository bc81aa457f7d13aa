"""Shape operations: linear maps that move entries around without changing them.

Each is its own JVP (applied to the tangent); its VJP is the transpose map:
reshape back, transpose by the inverse permutation, sum what was broadcast,
slice what was concatenated.

``moveaxis``, ``flip``, ``tile``, ``repeat``, ``split`` and ``array_split`` are
compositions of these and of indexing (``getitem``, whose transpose adds the
gradients of repeated entries), so their derivatives need no rule of their own.
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import linear, primitive


def _ndim(x):
    return len(getattr(x, "shape", ()))


def _reshape_impl(x, shape):
    return xp.reshape(x, shape)


reshape = primitive(_reshape_impl, name="reshape", reference=_reshape_impl, cases=[
    (((2, 3),), {"shape": (3, 2)}), (((2, 3),), {"shape": (-1,)}), (((),), {"shape": (1, 1)}),
])
linear(reshape, lambda g, ans, x, shape: reshape(g, shape=x.shape if hasattr(x, "shape") else ()))


def _transpose_impl(x, axes=None):
    return x.transpose(axes) if isinstance(x, xp.ndarray) else xp.transpose(x, axes)


def _inverse_permutation(axes, ndim):
    if axes is None:
        return None
    axes = [a % ndim for a in axes]
    return tuple(sorted(range(ndim), key=axes.__getitem__))


transpose = primitive(_transpose_impl, name="transpose", reference=_transpose_impl, cases=[
    (((2, 3),), {"axes": None}), (((2, 3, 4),), {"axes": (1, 2, 0)}), (((3,),), {"axes": None}),
])
linear(transpose, lambda g, ans, x, axes=None:
       transpose(g, axes=_inverse_permutation(axes, _ndim(x))))


def swapaxes(x, axis1=-2, axis2=-1):
    """Exchange two axes (a transpose)."""
    axes = list(range(_ndim(x)))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(x, axes=tuple(axes))


def _sum_to_impl(x, shape):
    shape = tuple(shape)
    xshape = x.shape if isinstance(x, xp.ndarray) else xp.shape(x)
    lead = len(xshape) - len(shape)
    if lead < 0:
        return xp.broadcast_to(x, shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and xshape[lead + i] != 1)
    out = xp.add.reduce(x, axis=axes, keepdims=True) if axes else x
    return out.reshape(shape) if isinstance(out, xp.ndarray) else xp.reshape(out, shape)


def _broadcast_to_impl(x, shape):
    return xp.broadcast_to(x, shape)


broadcast_to = primitive(_broadcast_to_impl, name="broadcast_to", reference=_broadcast_to_impl,
                         cases=[(((3,),), {"shape": (2, 3)}), (((2, 1),), {"shape": (2, 4)}),
                                (((),), {"shape": (3,)})])
broadcast_to.shape_error = "cannot be broadcast to the requested shape"
linear(broadcast_to, lambda g, ans, x, shape: sum_to(g, shape=xp.shape(x)))

sum_to = primitive(_sum_to_impl, name="sum_to", reference=_sum_to_impl, cases=[
    (((2, 3),), {"shape": (3,)}), (((2, 3),), {"shape": (2, 1)}), (((2, 3),), {"shape": ()}),
])
linear(sum_to, lambda g, ans, x, shape: broadcast_to(g, shape=xp.shape(x)))


def _expand_dims_impl(x, axis):
    return xp.expand_dims(x, axis)


expand_dims = primitive(_expand_dims_impl, name="expand_dims", reference=_expand_dims_impl,
                        cases=[(((3,),), {"axis": 0}), (((2, 3),), {"axis": -1})])
linear(expand_dims, lambda g, ans, x, axis: reshape(g, shape=xp.shape(x)))


def _squeeze_impl(x, axis=None):
    return xp.squeeze(x, axis)


squeeze = primitive(_squeeze_impl, name="squeeze", reference=_squeeze_impl,
                    cases=[(((1, 3),), {"axis": None}), (((2, 1, 3),), {"axis": 1})])
linear(squeeze, lambda g, ans, x, axis=None: reshape(g, shape=xp.shape(x)))


# --- joining arrays: variadic, so the tangent is made in one go ---------------------------

def _concatenate_impl(*xs, axis=0):
    return xp.concatenate(xs, axis=axis)


def _concatenate_vjp(i):
    def vjp(g, ans, *xs, axis=0):
        ax = axis % _ndim(ans)
        start = sum(xp.shape(x)[ax] for x in xs[:i])
        index = (slice(None),) * ax + (slice(start, start + xp.shape(xs[i])[ax]),)
        return getitem(g, index=index)
    return vjp


def _tangents_or_zeros(tangents, xs):
    return [zeros_like(x) if t is None else t for t, x in zip(tangents, xs)]


concatenate = primitive(_concatenate_impl, name="concatenate", reference=_concatenate_impl,
                        cases=[(((2,), (3,)), {"axis": 0}), (((2, 3), (2, 1), (2, 2)), {"axis": 1}),
                               (((1, 3), (2, 3)), {"axis": -2})])
concatenate.shape_error = "cannot be concatenated"
concatenate.variadic_vjp = _concatenate_vjp
concatenate.jvp_all = lambda ts, ans, *xs, axis=0: concatenate(*_tangents_or_zeros(ts, xs), axis=axis)


def _stack_impl(*xs, axis=0):
    return xp.stack(xs, axis=axis)


def _stack_vjp(i):
    def vjp(g, ans, *xs, axis=0):
        ax = axis % _ndim(ans)
        return getitem(g, index=(slice(None),) * ax + (i,))
    return vjp


stack = primitive(_stack_impl, name="stack", reference=_stack_impl,
                  cases=[(((3,), (3,)), {"axis": 0}), (((2, 3), (2, 3), (2, 3)), {"axis": -1}),
                         (((), ()), {"axis": 0})])
stack.shape_error = "cannot be stacked (all inputs need the same shape)"
stack.variadic_vjp = _stack_vjp
stack.jvp_all = lambda ts, ans, *xs, axis=0: stack(*_tangents_or_zeros(ts, xs), axis=axis)


# --- compositions -------------------------------------------------------------------------

def _axes_of(axis, ndim):
    return [a % ndim for a in ((axis,) if isinstance(axis, int) else axis)]


def moveaxis(x, source, destination):
    """NumPy's ``moveaxis`` (ints or sequences): a transpose."""
    ndim = _ndim(x)
    source, destination = _axes_of(source, ndim), _axes_of(destination, ndim)
    if len(source) != len(destination):
        raise ValueError("moveaxis: `source` and `destination` arguments must have the same "
                         "number of elements")
    order = [n for n in range(ndim) if n not in source]
    for dest, src in sorted(zip(destination, source)):
        order.insert(dest, src)
    return transpose(x, axes=tuple(order))


def flip(x, axis=None):
    """NumPy's ``flip``: reverse the order along ``axis`` (all axes if None)."""
    ndim = _ndim(x)
    axes = range(ndim) if axis is None else _axes_of(axis, ndim)
    return getitem(x, index=tuple(slice(None, None, -1) if i in axes else slice(None)
                                  for i in range(ndim)))


def tile(x, reps):
    """NumPy's ``tile``: the whole array repeated ``reps`` times along each axis.

    A reshape to (1, s₁, 1, s₂, ...), a broadcast to (r₁, s₁, r₂, s₂, ...), a reshape.
    """
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    shape = tuple(xp.shape(x))
    ndim = max(len(shape), len(reps))
    shape = (1,) * (ndim - len(shape)) + shape
    reps = (1,) * (ndim - len(reps)) + reps
    spread_out = tuple(n for pair in zip((1,) * ndim, shape) for n in pair)
    tiled = tuple(n for pair in zip(reps, shape) for n in pair)
    out = broadcast_to(reshape(x, shape=spread_out), shape=tiled)
    return reshape(out, shape=tuple(r * n for r, n in zip(reps, shape)))


def repeat(x, repeats, axis=None):
    """NumPy's ``repeat``: each entry repeated ``repeats`` times (an int or one count each)."""
    if axis is None:
        x, axis = reshape(x, shape=(-1,)), 0
    shape = tuple(xp.shape(x))
    axis = axis % len(shape)
    if isinstance(repeats, int) or xp.ndim(repeats) == 0 and xp.size(repeats) == 1:
        r = int(repeats)
        expanded = broadcast_to(expand_dims(x, axis=axis + 1),
                                shape=shape[:axis + 1] + (r,) + shape[axis + 1:])
        return reshape(expanded, shape=shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])
    picks = xp.repeat(xp.arange(shape[axis]), repeats)
    return getitem(x, index=(slice(None),) * axis + (picks,))


def array_split(x, indices_or_sections, axis=0):
    """NumPy's ``array_split``: a list of slices along ``axis`` (sections may differ by one)."""
    n = xp.shape(x)[axis]
    if isinstance(indices_or_sections, int):
        sections = indices_or_sections
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        size, extra = divmod(n, sections)
        bounds = [0]
        for k in range(sections):
            bounds.append(bounds[-1] + size + (1 if k < extra else 0))
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    lead = (slice(None),) * (axis % _ndim(x))
    return [getitem(x, index=lead + (slice(start, stop),))
            for start, stop in zip(bounds[:-1], bounds[1:])]


def split(x, indices_or_sections, axis=0):
    """NumPy's ``split``: like ``array_split``, but equal sections or a ``ValueError``."""
    if isinstance(indices_or_sections, int) and xp.shape(x)[axis] % indices_or_sections:
        raise ValueError("array split does not result in an equal division")
    return array_split(x, indices_or_sections, axis)


from chainrule.ops.creation import zeros_like  # noqa: E402
from chainrule.ops.indexing import getitem  # noqa: E402
