"""Functions neural networks are made of, stable for inputs of any magnitude.

* ``sigmoid(x) = 1 / (1 + e^-x)``, computed from ``e^-|x|`` so it never overflows;
  ``dσ = σ (1 − σ) dx``.
* ``relu(x) = max(x, 0)``; its derivative at 0 is taken as 0.
* ``logsumexp`` subtracts the maximum first; ``d lse = softmax(x) · dx``.
* ``softmax`` and ``log_softmax`` along ``axis``: s̄ = s ⊙ (ḡ − ⟨ḡ, s⟩).
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import elementwise, primitive, rules

UNARY = [((),), ((3,),), ((2, 3),)]
AXIS_CASES = [(((4,),), {"axis": -1}), (((2, 3),), {"axis": -1}), (((2, 3),), {"axis": 0})]


def _sigmoid_impl(x):
    if not isinstance(x, xp.ndarray) or x.dtype.kind != "f" or x.ndim == 0:
        e = xp.exp(-xp.abs(x))
        return xp.where(xp.greater_equal(x, 0), 1.0 / (1.0 + e), e / (1.0 + e))
    out = xp.multiply(x, 0.5)            # σ(x) = ½ tanh(x/2) + ½: no overflow, four passes
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    tail = x < -9.0                      # far left, where ½ + ½ tanh loses relative precision,
    if tail.any():                       # use eˣ / (1 + eˣ), exact there
        e = xp.exp(x[tail])
        out[tail] = e / (1.0 + e)
    return out


sigmoid = primitive(_sigmoid_impl, name="sigmoid", shapes=UNARY,
                    reference=lambda x: 1.0 / (1.0 + xp.exp(-x)))
elementwise(sigmoid, lambda ans, x: multiply(ans, subtract(1.0, ans)))


def _relu_impl(x):
    return xp.maximum(x, 0)


relu = primitive(_relu_impl, name="relu", shapes=UNARY, domain="nonzero", reference=_relu_impl)
elementwise(relu, lambda ans, x: greater(x, 0))   # a mask keeps the dtype: g · [x > 0]


def _logsumexp_impl(x, axis=None, keepdims=False):
    x = xp.asarray(x)
    peak = x.max(axis=axis, keepdims=True)
    if not xp.isfinite(peak).all():
        peak = xp.where(xp.isfinite(peak), peak, 0)
    shifted = x - peak
    xp.exp(shifted, out=shifted)
    out = xp.log(shifted.sum(axis=axis, keepdims=True))
    out += peak
    return out if keepdims else xp.squeeze(out, axis=axis)


def _softmax_of(ans, x, axis, keepdims):
    """exp(x − lse(x)): the derivative of logsumexp, from its output."""
    return exp(subtract(x, _keep(ans, x, axis, keepdims)))


logsumexp = primitive(_logsumexp_impl, name="logsumexp", cases=[
    (((4,),), {"axis": None, "keepdims": False}), (((2, 3),), {"axis": -1, "keepdims": False}),
    (((2, 3),), {"axis": 0, "keepdims": True}), (((2, 3, 2),), {"axis": (0, 2), "keepdims": False}),
], reference=_logsumexp_impl)
rules(logsumexp,
      vjp=[lambda g, ans, x, axis=None, keepdims=False:
           multiply(spread(g, x, axis, keepdims), _softmax_of(ans, x, axis, keepdims))],
      jvp=[lambda t, ans, x, axis=None, keepdims=False:
           sum(multiply(t, _softmax_of(ans, x, axis, keepdims)), axis=axis, keepdims=keepdims)])


def _softmax_impl(x, axis=-1):
    x = xp.asarray(x)
    e = x - x.max(axis=axis, keepdims=True)
    xp.exp(e, out=e)
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax_impl(x, axis=-1):
    return x - _logsumexp_impl(x, axis=axis, keepdims=True)


def _softmax_linearized(s, v, axis):
    """s ⊙ (v − ⟨v, s⟩): the softmax Jacobian (symmetric) applied to v."""
    return multiply(s, subtract(v, sum(multiply(v, s), axis=axis, keepdims=True)))


softmax = primitive(_softmax_impl, name="softmax", cases=AXIS_CASES, reference=_softmax_impl)
rules(softmax, vjp=[lambda g, ans, x, axis=-1: _softmax_linearized(ans, g, axis)],
      jvp=[lambda t, ans, x, axis=-1: _softmax_linearized(ans, t, axis)])

log_softmax = primitive(_log_softmax_impl, name="log_softmax", cases=AXIS_CASES,
                        reference=_log_softmax_impl)
rules(log_softmax,   # d log s = dx − ⟨s, dx⟩
      vjp=[lambda g, ans, x, axis=-1:
           subtract(g, multiply(exp(ans), sum(g, axis=axis, keepdims=True)))],
      jvp=[lambda t, ans, x, axis=-1:
           subtract(t, sum(multiply(exp(ans), t), axis=axis, keepdims=True))])


# --- the dense layer's affine map, fused: one node instead of two -----------------------------

def _affine_impl(x, w, b):
    """x W + b for a batch of rows x (n, in), weights W (in, out) and a bias b (out,)."""
    if xp.ndim(x) != 2 or xp.ndim(w) != 2 or xp.ndim(b) != 1:
        raise ValueError("affine takes rows x (n, in), weights (in, out) and a bias (out,)")
    out = xp.matmul(x, w)
    if out.dtype == xp.result_type(out, b):
        out += b                          # in place: the product is a fresh array
        return out
    return out + b


affine = primitive(_affine_impl, name="affine", reference=lambda x, w, b: x @ w + b,
                   shapes=[((4, 3), (3, 2), (2,)), ((1, 3), (3, 5), (5,))])
affine.shape_error = "are not aligned (x W + b needs x: (n, in), W: (in, out), b: (out,))"
rules(affine,   # y = x W + b:  x̄ = ȳ Wᵀ,  W̄ = xᵀ ȳ,  b̄ = Σ_rows ȳ;  ẏ = ẋ W + x Ẇ + ḃ
      vjp=[lambda g, ans, x, w, b: matmul(g, w.T),
           lambda g, ans, x, w, b: matmul(x.T, g),
           lambda g, ans, x, w, b: sum(g, axis=0)],
      jvp=[lambda t, ans, x, w, b: matmul(t, w),
           lambda t, ans, x, w, b: matmul(x, t),
           lambda t, ans, x, w, b: t])


from chainrule.ops.compare import greater  # noqa: E402
from chainrule.ops.linalg import matmul  # noqa: E402
from chainrule.ops.elementwise import exp, multiply, subtract  # noqa: E402
from chainrule.ops.reductions import _keep, spread, sum  # noqa: E402
