"""Elementwise arithmetic and math: diagonal Jacobians, one derivative each.

``elementwise(prim, d0, d1, ...)`` takes ∂out/∂arg_i and makes both rules
(VJP ``g * d``, JVP ``t * d``). Broadcasting is undone by the engine.

Policies at kinks and ties (written once, here):

* ``abs`` at 0: derivative 0 (the subgradient ``sign(0)``).
* ``maximum``/``minimum`` at a tie: the gradient is split evenly (½ each).
* ``clip`` at a bound: derivative 1 (the bounds are inside the range).
* ``power(x, y)`` w.r.t. ``y`` where ``x <= 0``: 0 (log x is undefined there).
* ``sqrt`` at 0: +inf, as the one-sided derivative is.
* a zero cotangent (or tangent) times an infinite or NaN local derivative is 0,
  and so is any product in a rule with an exact zero factor (0 · inf = 0 · NaN = 0):
  the rules of ops whose derivative can be inf or NaN (``sqrt``, ``log``,
  ``divide``, ``power``, ``arcsin``, ...: declared ``zero_safe=True``) multiply
  with :func:`zero_safe_multiply`; the others use a plain, cheaper product.
  So ``where(x > 0, sqrt(x), 0.0)`` has the finite gradient 0 at ``x <= 0``: the
  branch ``where`` did not take receives a zero cotangent, and its infinite or
  NaN derivative (``sqrt`` at 0, or of a negative number) cannot poison the result.
"""

from __future__ import annotations

import math

from chainrule.backend import xp
from chainrule.ops._primitive import elementwise, linear, nondifferentiable, primitive, rules

UNARY = [((),), ((3,),), ((2, 3),)]
BINARY = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3))]


def _unary(impl, name, domain="real", order=2):
    return primitive(impl, name=name, shapes=UNARY, domain=domain, order=order, reference=impl)


def _binary(impl, name, domain=("real", "real")):
    prim = primitive(impl, name=name, shapes=BINARY, domain=domain, reference=impl)
    prim.shape_error = "cannot be broadcast together"
    return prim


# --- the product every elementwise rule uses ------------------------------------------

def _zero_safe_multiply_impl(g, d):
    out = xp.multiply(g, d)
    if not xp.isfinite(xp.sum(out)):   # one cheap reduction; the fix-up only when needed
        out = xp.where(xp.logical_or(xp.equal(g, 0), xp.equal(d, 0)), xp.zeros_like(out), out)
    return out


zero_safe_multiply = _binary(_zero_safe_multiply_impl, "zero_safe_multiply")
zero_safe_multiply.meta.reference = xp.multiply
# g · d, except that an exact zero factor gives 0 even where the other is inf or NaN
# (0 · anything = 0 for a cotangent or tangent: if the output does not move, neither does
# anything before it; symmetric, so derivatives of the rules keep the property).
elementwise(zero_safe_multiply, lambda ans, g, d: d, lambda ans, g, d: g, zero_safe=True)

# --- arithmetic ------------------------------------------------------------------------

add = _binary(xp.add, "add")
rules(add, vjp=[lambda g, ans, x, y: g, lambda g, ans, x, y: g],
      jvp=[lambda t, ans, x, y: t, lambda t, ans, x, y: t])

subtract = _binary(xp.subtract, "subtract")
rules(subtract, vjp=[lambda g, ans, x, y: g, lambda g, ans, x, y: negative(g)],
      jvp=[lambda t, ans, x, y: t, lambda t, ans, x, y: negative(t)])

multiply = _binary(xp.multiply, "multiply")
elementwise(multiply, lambda ans, x, y: y, lambda ans, x, y: x)

divide = _binary(xp.divide, "divide", domain=("real", "nonzero"))
elementwise(divide,
            lambda ans, x, y: divide(1.0, y),
            lambda ans, x, y: negative(divide(ans, y)),        # d(x/y)/dy = -x/y²
            zero_safe=True)

negative = _unary(xp.negative, "negative")
linear(negative, lambda g, ans, x: negative(g))


def _power_dx(ans, x, y):
    return multiply(y, power(x, subtract(y, 1)))                # d xʸ/dx = y xʸ⁻¹


def _power_dy(ans, x, y):
    positive = greater(x, 0)
    safe_x = where(positive, x, 1.0)
    return where(positive, multiply(ans, log(safe_x)), 0.0)     # d xʸ/dy = xʸ log x


power = _binary(xp.power, "power", domain=("positive", "real"))
elementwise(power, _power_dx, _power_dy, zero_safe=True)

square = _unary(xp.square, "square")
elementwise(square, lambda ans, x: multiply(2.0, x))

sqrt = _unary(xp.sqrt, "sqrt", domain="positive")
elementwise(sqrt, lambda ans, x: divide(0.5, ans), zero_safe=True)

# --- exponentials and logarithms --------------------------------------------------------

exp = _unary(xp.exp, "exp")
elementwise(exp, lambda ans, x: ans)

expm1 = _unary(xp.expm1, "expm1")
elementwise(expm1, lambda ans, x: add(ans, 1.0))

log = _unary(xp.log, "log", domain="positive")
elementwise(log, lambda ans, x: divide(1.0, x), zero_safe=True)

log1p = _unary(xp.log1p, "log1p", domain="positive")
elementwise(log1p, lambda ans, x: divide(1.0, add(x, 1.0)), zero_safe=True)

log2 = _unary(xp.log2, "log2", domain="positive")
elementwise(log2, lambda ans, x: divide(1.0 / math.log(2.0), x), zero_safe=True)

log10 = _unary(xp.log10, "log10", domain="positive")
elementwise(log10, lambda ans, x: divide(1.0 / math.log(10.0), x), zero_safe=True)

# --- trigonometric and hyperbolic -------------------------------------------------------

sin = _unary(xp.sin, "sin")
elementwise(sin, lambda ans, x: cos(x))

cos = _unary(xp.cos, "cos")
elementwise(cos, lambda ans, x: negative(sin(x)))

tan = _unary(xp.tan, "tan", domain="unit")
elementwise(tan, lambda ans, x: add(1.0, square(ans)))          # d tan = (1 + tan²) dx

arcsin = _unary(xp.arcsin, "arcsin", domain="unit")
elementwise(arcsin, lambda ans, x: divide(1.0, sqrt(subtract(1.0, square(x)))), zero_safe=True)

arccos = _unary(xp.arccos, "arccos", domain="unit")
elementwise(arccos, lambda ans, x: divide(-1.0, sqrt(subtract(1.0, square(x)))), zero_safe=True)

arctan = _unary(xp.arctan, "arctan")
elementwise(arctan, lambda ans, x: divide(1.0, add(1.0, square(x))))

arctan2 = _binary(xp.arctan2, "arctan2")
elementwise(arctan2,   # d atan2(y, x) = (x dy − y dx) / (x² + y²)
            lambda ans, y, x: divide(x, add(square(x), square(y))),
            lambda ans, y, x: negative(divide(y, add(square(x), square(y)))))

sinh = _unary(xp.sinh, "sinh")
elementwise(sinh, lambda ans, x: cosh(x))

cosh = _unary(xp.cosh, "cosh")
elementwise(cosh, lambda ans, x: sinh(x))

tanh = _unary(xp.tanh, "tanh")


def tanh_slope(ans, x=None):
    """d tanh = (1 − tanh²) dx, from the output (the fused dense layer reads it too)."""
    return subtract(1.0, square(ans))


elementwise(tanh, tanh_slope)

# --- piecewise ----------------------------------------------------------------------------

sign = nondifferentiable(xp.sign, "sign")

abs = _unary(xp.abs, "abs", domain="nonzero")
elementwise(abs, lambda ans, x: sign(x))


def _winner_share(x, y):
    """1 where x wins, ½ at a tie, 0 where it loses (for maximum; swap for minimum)."""
    return where(greater(x, y), 1.0, where(equal(x, y), 0.5, 0.0))


maximum = _binary(xp.maximum, "maximum")
elementwise(maximum, lambda ans, x, y: _winner_share(x, y), lambda ans, x, y: _winner_share(y, x))

minimum = _binary(xp.minimum, "minimum")
elementwise(minimum, lambda ans, x, y: _winner_share(y, x), lambda ans, x, y: _winner_share(x, y))


def _clip_impl(x, lo, hi):
    return xp.clip(x, lo, hi)


def _inside(ans, x, lo, hi):
    inside = x
    if lo is not None:
        inside = greater_equal(x, lo)
    if hi is not None:
        below = less_equal(x, hi)
        inside = below if lo is None else logical_and(inside, below)
    return where(inside, 1.0, 0.0)


clip = primitive(_clip_impl, name="clip", shapes=[((3,),), ((2, 3),)],
                 make_args=lambda rng, shapes: (rng.normal(size=shapes[0]), -0.5, 0.5),
                 reference=_clip_impl)
elementwise(clip, _inside, None, None)


def _where_impl(condition, x, y):
    return xp.where(condition, x, y)


where = primitive(_where_impl, name="where",
                  shapes=[((3,), (3,), (3,)), ((2, 3), (3,), ()), ((2, 1), (2, 3), (1, 3))],
                  domain=("bool", "real", "real"), reference=_where_impl)
where.shape_error = "cannot be broadcast together"
rules(where,
      vjp=[None, lambda g, ans, c, x, y: where(c, g, 0.0), lambda g, ans, c, x, y: where(c, 0.0, g)],
      jvp=[None, lambda t, ans, c, x, y: where(c, t, 0.0), lambda t, ans, c, x, y: where(c, 0.0, t)])
# where() picks; it never multiplies: a NaN in the branch not taken cannot reach the result.


def _astype_impl(x, dtype):
    return x.astype(dtype, copy=False) if hasattr(x, "astype") else xp.asarray(x, dtype=dtype)


astype = primitive(_astype_impl, name="astype", shapes=UNARY, params=[{"dtype": xp.dtype("float64")}],
                   reference=_astype_impl)
rules(astype, vjp=[lambda g, ans, x, dtype: astype(g, dtype=x.dtype)],
      jvp=[lambda t, ans, x, dtype: astype(t, dtype=dtype)])


from chainrule.ops.compare import (  # noqa: E402
    equal, greater, greater_equal, less_equal, logical_and,
)
