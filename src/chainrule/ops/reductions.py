"""Reductions along axes, with ``axis`` (int, tuple or None) and ``keepdims``.

The VJP of a reduction spreads the gradient back over the reduced axes
(a broadcast). ``max``/``min`` split it evenly among tied entries.
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import primitive, rules

REDUCE_CASES = [
    (((3,),), {"axis": None, "keepdims": False}),
    (((2, 3),), {"axis": 0, "keepdims": False}),
    (((2, 3),), {"axis": -1, "keepdims": True}),
    (((2, 3, 2),), {"axis": (0, 2), "keepdims": False}),
    (((),), {"axis": None, "keepdims": False}),
]


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(sorted(a % ndim for a in axes)) if ndim else ()


def _shape(x):
    return tuple(getattr(x, "shape", ()))


def _kept_shape(x_shape, axis):
    axes = _axes(axis, len(x_shape))
    return tuple(1 if i in axes else n for i, n in enumerate(x_shape))


def _count(x_shape, axis):
    n = 1
    for a in _axes(axis, len(x_shape)):
        n *= x_shape[a]
    return n


def spread(g, x, axis, keepdims):
    """Broadcast a reduced gradient ``g`` back to ``x``'s shape."""
    x_shape = _shape(x)
    if not keepdims:
        g = reshape(g, shape=_kept_shape(x_shape, axis))
    return broadcast_to(g, shape=x_shape)


def _keep(ans, x, axis, keepdims):
    """``ans`` with the reduced axes kept (length 1), to broadcast against ``x``."""
    return ans if keepdims else reshape(ans, shape=_kept_shape(_shape(x), axis))


def _reduction(impl, name, cases=REDUCE_CASES):
    return primitive(impl, name=name, cases=cases, reference=impl)


# --- sum and mean: linear ---------------------------------------------------------------------

def _sum_impl(x, axis=None, keepdims=False):
    if x.__class__ is xp.ndarray:  # the array's own method: a microsecond less than xp.sum
        return x.sum(axis=axis, keepdims=keepdims)
    return xp.sum(x, axis=axis, keepdims=keepdims)


sum = _reduction(_sum_impl, "sum")
rules(sum, vjp=[lambda g, ans, x, axis=None, keepdims=False: spread(g, x, axis, keepdims)],
      jvp=[lambda t, ans, x, axis=None, keepdims=False: sum(t, axis=axis, keepdims=keepdims)])


def _mean_impl(x, axis=None, keepdims=False):
    return xp.mean(x, axis=axis, keepdims=keepdims)


mean = _reduction(_mean_impl, "mean")
rules(mean,
      vjp=[lambda g, ans, x, axis=None, keepdims=False:
           divide(spread(g, x, axis, keepdims), float(_count(_shape(x), axis)))],
      jvp=[lambda t, ans, x, axis=None, keepdims=False: mean(t, axis=axis, keepdims=keepdims)])


# --- prod: the product of the *other* entries, exact where entries are zero -------------------

def _prod_impl(x, axis=None, keepdims=False):
    return xp.prod(x, axis=axis, keepdims=keepdims)


def _others_product(x, axis):
    """∂prod/∂x_i = Π_{j≠i} x_j, computed without dividing by a zero x_i."""
    is_zero = equal(x, 0.0)
    zeros = sum(where(is_zero, 1.0, 0.0), axis=axis, keepdims=True)
    nonzero_prod = prod(where(is_zero, 1.0, x), axis=axis, keepdims=True)
    safe_x = where(is_zero, 1.0, x)
    return where(is_zero,
                 where(equal(zeros, 1.0), nonzero_prod, 0.0),
                 where(equal(zeros, 0.0), divide(nonzero_prod, safe_x), 0.0))


prod = _reduction(_prod_impl, "prod")
rules(prod,
      vjp=[lambda g, ans, x, axis=None, keepdims=False:
           multiply(spread(g, x, axis, keepdims), _others_product(x, axis))],
      jvp=[lambda t, ans, x, axis=None, keepdims=False:
           sum(multiply(t, _others_product(x, axis)), axis=axis, keepdims=keepdims)])


# --- max and min: the gradient goes to the winners, split evenly at ties ----------------------

def _max_impl(x, axis=None, keepdims=False):
    return xp.max(x, axis=axis, keepdims=keepdims)


def _min_impl(x, axis=None, keepdims=False):
    return xp.min(x, axis=axis, keepdims=keepdims)


def _winners(ans, x, axis, keepdims):
    """1/k on each of the k entries equal to the extreme value, 0 elsewhere."""
    hit = where(equal(x, _keep(ans, x, axis, keepdims)), 1.0, 0.0)
    return divide(hit, sum(hit, axis=axis, keepdims=True))


def _extreme_rules(prim):
    rules(prim,
          vjp=[lambda g, ans, x, axis=None, keepdims=False:
               multiply(spread(g, x, axis, keepdims), _winners(ans, x, axis, keepdims))],
          jvp=[lambda t, ans, x, axis=None, keepdims=False:
               sum(multiply(t, _winners(ans, x, axis, keepdims)), axis=axis, keepdims=keepdims)])


max = _reduction(_max_impl, "max")
_extreme_rules(max)
min = _reduction(_min_impl, "min")
_extreme_rules(min)


# --- var and std ---------------------------------------------------------------------------------

def _var_impl(x, axis=None, ddof=0, keepdims=False):
    return xp.var(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _std_impl(x, axis=None, ddof=0, keepdims=False):
    return xp.std(x, axis=axis, ddof=ddof, keepdims=keepdims)


def _var_dx(x, axis, ddof):
    """∂var/∂x_i = 2 (x_i − mean) / (N − ddof), kept-dims shaped."""
    centered = subtract(x, mean(x, axis=axis, keepdims=True))
    return multiply(centered, 2.0 / (_count(_shape(x), axis) - ddof))


var = _reduction(_var_impl, "var")
rules(var,
      vjp=[lambda g, ans, x, axis=None, ddof=0, keepdims=False:
           multiply(spread(g, x, axis, keepdims), _var_dx(x, axis, ddof))],
      jvp=[lambda t, ans, x, axis=None, ddof=0, keepdims=False:
           sum(multiply(t, _var_dx(x, axis, ddof)), axis=axis, keepdims=keepdims)])

std = _reduction(_std_impl, "std", cases=REDUCE_CASES[:-1])  # std of one entry: a kink at 0
rules(std,   # d std = d var / (2 std)
      vjp=[lambda g, ans, x, axis=None, ddof=0, keepdims=False:
           multiply(spread(divide(g, multiply(2.0, ans)), x, axis, keepdims),
                    _var_dx(x, axis, ddof))],
      jvp=[lambda t, ans, x, axis=None, ddof=0, keepdims=False:
           divide(sum(multiply(t, _var_dx(x, axis, ddof)), axis=axis, keepdims=keepdims),
                  multiply(2.0, ans))])


from chainrule.ops.compare import equal  # noqa: E402
from chainrule.ops.elementwise import divide, multiply, subtract, where  # noqa: E402
from chainrule.ops.shape import broadcast_to, reshape  # noqa: E402
