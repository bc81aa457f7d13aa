"""Shape operations: linear maps that move entries around without changing them.

Each is its own JVP (applied to the tangent); its VJP is the transpose map:
reshape back, transpose by the inverse permutation, sum what was broadcast,
slice what was concatenated.
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
    return xp.transpose(x, axes)


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
    lead = _ndim(x) - len(shape)
    if lead < 0:
        return xp.broadcast_to(x, shape)
    xshape = xp.shape(x)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and xshape[lead + i] != 1)
    out = xp.sum(x, axis=axes, keepdims=True) if axes else x
    return xp.reshape(out, shape)


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


from chainrule.ops.creation import zeros_like  # noqa: E402
from chainrule.ops.indexing import getitem  # noqa: E402
