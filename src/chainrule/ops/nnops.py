"""Functions neural networks are made of, stable for inputs of any magnitude.

* ``sigmoid(x) = 1 / (1 + e^-x)``, computed from ``e^-|x|`` so it never overflows;
  ``dσ = σ (1 − σ) dx``.
* ``relu(x) = max(x, 0)``; its derivative at 0 is taken as 0. Its rules are one op,
  ``mask_positive(g, y) = g · [y > 0]`` (one pass in C), as are the dense layer's for relu.
* ``logsumexp`` subtracts the maximum first; ``d lse = softmax(x) · dx``.
* ``softmax`` and ``log_softmax`` along ``axis``: s̄ = s ⊙ (ḡ − ⟨ḡ, s⟩).
"""

from __future__ import annotations

from chainrule._native import FAST
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


def _sigmoid_slope(ans, x=None):
    """d σ = σ (1 − σ) dx, from the output."""
    return multiply(ans, subtract(1.0, ans))


elementwise(sigmoid, _sigmoid_slope)


def _relu_impl(x):
    return xp.maximum(x, 0)


relu = primitive(_relu_impl, name="relu", shapes=UNARY, domain="nonzero", reference=_relu_impl)


def _mask_positive_numpy(g, y):
    return xp.multiply(g, xp.greater(y, 0))


def _mask_positive_impl(g, y):
    """g · [y > 0], one pass in C for two float arrays alike (NumPy's answer to the bit)."""
    if g.__class__ is xp.ndarray and FAST is not None:
        out = xp.empty_like(g, order="C")
        if FAST.mask_positive(out, g, y):
            return out
    return _mask_positive_numpy(g, y)


mask_positive = primitive(_mask_positive_impl, name="mask_positive",
                          shapes=[((3,), (3,)), ((2, 3), (2, 3)), ((2, 3), (3,)), ((), (2, 3))],
                          domain=("real", "nonzero"),
                          reference=_mask_positive_numpy)
mask_positive.shape_error = "cannot be broadcast together"
# relu's backward: linear in g (a diagonal of 0s and 1s, its own transpose); in y, a step,
# whose derivative is 0 wherever it has one: y is a constant to every transformation.
rules(mask_positive, vjp=[lambda gbar, ans, g, y: mask_positive(gbar, y), None],
      jvp=[lambda t, ans, g, y: mask_positive(t, y), None])


def _relu_rule(g, ans, x):
    """g · [x > 0], read from the output: relu(x) > 0 exactly where x > 0 (0 at the kink)."""
    return mask_positive(g, ans)


rules(relu, vjp=[_relu_rule], jvp=[_relu_rule])


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


# --- the dense layer, fused: activation(x W + b) as one node -------------------------------------
#
# One buffer: the product is a fresh array, so the bias and the activation are applied in place
# (what hand-written NumPy does). Backward: z̄ = ȳ ⊙ act'(y), read from the output y alone, then
# x̄ = z̄ Wᵀ, W̄ = xᵀ z̄, b̄ = Σ_rows z̄; z̄ is made once for all three (a joint rule, vjp_all).

DENSE_ACTIVATIONS = (None, "relu", "sigmoid", "tanh")


def _dense_impl(x, w, b, activation=None):
    """activation(x W + b) for rows x (n, in), weights W (in, out) and a bias b (out,)."""
    if activation not in DENSE_ACTIVATIONS:
        raise ValueError(f"dense: activation must be one of {DENSE_ACTIVATIONS}, "
                         f"got {activation!r}")
    if _rank(x) != 2 or _rank(w) != 2 or _rank(b) != 1:
        raise ValueError("dense takes rows x (n, in), weights (in, out) and a bias (out,)")
    out = xp.matmul(x, w)
    if out.dtype == getattr(b, "dtype", None) or out.dtype == xp.result_type(out, b):
        out += b                          # in place: the product is a fresh array
    else:
        out = out + b
    if activation == "relu":
        xp.maximum(out, 0, out=out)
    elif activation == "tanh":
        xp.tanh(out, out=out)
    elif activation == "sigmoid":
        out = _sigmoid_impl(out)
    return out


def _rank(v):
    return v.ndim if v.__class__ is xp.ndarray else xp.ndim(v)


def _dense_reference(x, w, b, activation=None):
    z = x @ w + b
    return {None: z, "relu": xp.maximum(z, 0), "tanh": xp.tanh(z),
            "sigmoid": 1.0 / (1.0 + xp.exp(-z))}[activation]


def _times_slope(g, ans, activation):
    """g · act'(z) from y = act(z): the activations' own rules, read from their output."""
    if activation == "relu":
        return mask_positive(g, ans)
    return multiply(g, _SLOPES[activation](ans))


def _dense_vjp_all(g, ans, x, w, b, activation=None, wanted=(True, True, True)):
    gz = g if activation is None else _times_slope(g, ans, activation)
    return (matmul(gz, w.T) if wanted[0] else None,
            matmul(x.T, gz) if wanted[1] else None,
            sum(gz, axis=0) if wanted[2] else None)


def _dense_jvp_all(tangents, ans, x, w, b, activation=None):
    tx, tw, tb = tangents                 # ż = ẋ W + x Ẇ + ḃ,  ẏ = act'(z) ż
    total = None
    for term in (None if tx is None else matmul(tx, w), None if tw is None else matmul(x, tw), tb):
        if term is not None:
            total = term if total is None else add(total, term)
    if total is None or activation is None:
        return total
    return _times_slope(total, ans, activation)


_DENSE_SHAPES = [((4, 3), (3, 2), (2,)), ((1, 3), (3, 5), (5,))]
dense_p = primitive(_dense_impl, name="dense", reference=_dense_reference,
                    cases=[(shapes, {"activation": a}) for a in DENSE_ACTIVATIONS
                           for shapes in _DENSE_SHAPES])
dense_p.shape_error = "are not aligned (x W + b needs x: (n, in), W: (in, out), b: (out,))"
dense_p.vjp_all = _dense_vjp_all
dense_p.jvp_all = _dense_jvp_all


def dense(x, w, b, activation=None):
    """``activation(x @ w + b)`` as one op: a dense layer on rows ``x`` (n, in).

    ``w`` is (in, out), ``b`` is (out,), ``activation`` one of None, ``"relu"``,
    ``"sigmoid"``, ``"tanh"``. The same numbers as the three ops written out, with one
    graph node and one buffer instead of three (PyTorch's ``F.linear`` plus an activation).

    >>> import numpy as np
    >>> dense(np.array([[1.0, -2.0]]), np.eye(2), np.zeros(2), activation="relu").tolist()
    [[1.0, 0.0]]
    """
    if activation not in DENSE_ACTIVATIONS:
        raise ValueError(f"dense: activation must be one of None, 'relu', 'sigmoid', 'tanh'; "
                         f"got {activation!r} (apply any other one to dense(x, w, b))")
    return dense_p(x, w, b, activation=activation)


from chainrule.ops.linalg import matmul  # noqa: E402
from chainrule.ops.elementwise import add, exp, multiply, subtract, tanh_slope  # noqa: E402
from chainrule.ops.reductions import _keep, spread, sum  # noqa: E402

_SLOPES = {"sigmoid": _sigmoid_slope, "tanh": tanh_slope}   # _times_slope's
