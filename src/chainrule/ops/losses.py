"""Losses fused with the function that makes their input: one op each, stable from logits.

Cross-entropy after a softmax (or a sigmoid) is one primitive, so that it never
takes the log of a rounded probability and its gradient is the course's
``ŷ − y`` in one step instead of a chain through ``exp``, a division and a log.

``softmax_cross_entropy(logits, labels, axis=-1, reduction="mean")``, per row::

    ℓ = −Σ_k y_k log softmax(x)_k = Σ_k y_k (lse(x) − x_k)
    ∂ℓ/∂x = softmax(x) · Σ_k y_k − y        (= ŷ − y when the labels sum to 1)
    ∂ℓ/∂y = lse(x) − x = −log softmax(x)

``binary_cross_entropy(logits, labels, reduction="mean")``, per entry::

    ℓ = −y log σ(x) − (1 − y) log(1 − σ(x)) = max(x, 0) − x y + log(1 + e^−|x|)
    ∂ℓ/∂x = σ(x) − y
    ∂ℓ/∂y = −x

``labels`` are probability rows (one-hot for class ids) of the logits' shape.
``reduction``: ``"mean"`` over rows (softmax) or entries (binary), ``"sum"``,
or ``"none"`` (one loss per row / entry). Both arguments are differentiable,
the labels too (soft targets, distillation), to any order.
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import primitive, rules
from chainrule.ops.nnops import _logsumexp_impl

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {', '.join(REDUCTIONS)}, "
                         f"got {reduction!r}")


def _reduce_impl(losses, reduction):
    if reduction == "mean":
        return losses.sum() / max(losses.size, 1) if isinstance(losses, xp.ndarray) else losses
    if reduction == "sum":
        return losses.sum() if isinstance(losses, xp.ndarray) else losses
    return losses


def _rows(x, axis):
    """How many rows (softmax groups) ``x`` holds along ``axis``."""
    shape = tuple(getattr(x, "shape", ()))
    return max(1, _size(shape) // shape[axis]) if shape else 1


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


# --- softmax cross-entropy ------------------------------------------------------------

def _softmax_cross_entropy_impl(logits, labels, axis=-1, reduction="mean"):
    _check_reduction("softmax_cross_entropy", reduction)
    lse = _logsumexp_impl(logits, axis=axis, keepdims=True)
    per_entry = lse - logits
    per_entry *= labels
    return _reduce_impl(per_entry.sum(axis=axis), reduction)


def _row_cotangent(g, x, axis, reduction):
    """The output cotangent, per row, shaped to broadcast against the logits."""
    if reduction == "none":
        return expand_dims(g, axis=axis)
    if reduction == "mean":
        return multiply(g, 1.0 / _rows(x, axis))
    return g


def _row_tangent(t_entries, x, axis, reduction):
    """Sum per-entry tangent contributions over the rows, then reduce like the loss."""
    if reduction == "none":
        return sum(t_entries, axis=axis)
    total = sum(t_entries)
    return multiply(total, 1.0 / _rows(x, axis)) if reduction == "mean" else total


def _dce_dlogits(x, y, axis):
    """softmax(x) Σ y − y: the course's ŷ − y, exact for labels of any sum."""
    return subtract(multiply(softmax(x, axis=axis), sum(y, axis=axis, keepdims=True)), y)


def _dce_dlabels(x, axis):
    return negative(log_softmax(x, axis=axis))


def _log_softmax_np(x, axis):
    return x - _logsumexp_impl(x, axis=axis, keepdims=True)


def _softmax_cross_entropy_reference(logits, labels, axis=-1, reduction="mean"):
    return _reduce_impl(-(labels * _log_softmax_np(logits, axis)).sum(axis=axis), reduction)


def _probability_rows(rng, shapes):
    logits_shape, labels_shape = shapes
    labels = rng.dirichlet(xp.ones(labels_shape[-1]), size=labels_shape[:-1])
    return [rng.normal(scale=2.0, size=logits_shape), labels.reshape(labels_shape)]


_CE_CASES = [(((3, 4), (3, 4)), {"reduction": r}) for r in REDUCTIONS] + [
    (((4,), (4,)), {"reduction": "none"}),
    (((2, 3, 4), (2, 3, 4)), {"reduction": "mean"}),
]

softmax_cross_entropy = primitive(
    _softmax_cross_entropy_impl, name="softmax_cross_entropy", cases=_CE_CASES,
    make_args=_probability_rows, reference=_softmax_cross_entropy_reference)
rules(softmax_cross_entropy,
      vjp=[lambda g, ans, x, y, axis=-1, reduction="mean":
           multiply(_row_cotangent(g, x, axis, reduction), _dce_dlogits(x, y, axis)),
           lambda g, ans, x, y, axis=-1, reduction="mean":
           multiply(_row_cotangent(g, x, axis, reduction), _dce_dlabels(x, axis))],
      jvp=[lambda t, ans, x, y, axis=-1, reduction="mean":
           _row_tangent(multiply(t, _dce_dlogits(x, y, axis)), x, axis, reduction),
           lambda t, ans, x, y, axis=-1, reduction="mean":
           _row_tangent(multiply(t, _dce_dlabels(x, axis)), x, axis, reduction)])


# --- binary cross-entropy -----------------------------------------------------------------

def _binary_cross_entropy_impl(logits, labels, reduction="mean"):
    _check_reduction("binary_cross_entropy", reduction)
    losses = xp.maximum(logits, 0) - logits * labels + xp.log1p(xp.exp(-xp.abs(logits)))
    return _reduce_impl(losses, reduction)


def _entry_cotangent(g, x, reduction):
    """The output cotangent, per entry (``mean`` divides by the number of entries)."""
    if reduction == "mean":
        return multiply(g, 1.0 / _size(tuple(getattr(x, "shape", ()))))
    return g


def _entry_tangent(t_entries, x, reduction):
    """Per-entry tangent contributions, reduced like the loss."""
    if reduction == "none":
        return t_entries
    total = sum(t_entries)
    if reduction == "mean":
        return multiply(total, 1.0 / _size(tuple(getattr(x, "shape", ()))))
    return total


def _binary_cross_entropy_reference(logits, labels, reduction="mean"):
    p = 1.0 / (1.0 + xp.exp(-logits))
    return _reduce_impl(-(labels * xp.log(p) + (1 - labels) * xp.log(1 - p)), reduction)


def _probabilities(rng, shapes):
    logits_shape, labels_shape = shapes
    return [rng.normal(scale=2.0, size=logits_shape), rng.uniform(size=labels_shape)]


binary_cross_entropy = primitive(
    _binary_cross_entropy_impl, name="binary_cross_entropy", make_args=_probabilities,
    reference=_binary_cross_entropy_reference,
    cases=[(((3, 2), (3, 2)), {"reduction": r}) for r in REDUCTIONS]
    + [(((), ()), {"reduction": "mean"})])
rules(binary_cross_entropy,
      vjp=[lambda g, ans, x, y, reduction="mean":
           multiply(_entry_cotangent(g, x, reduction), subtract(sigmoid(x), y)),
           lambda g, ans, x, y, reduction="mean":
           multiply(_entry_cotangent(g, x, reduction), negative(x))],
      jvp=[lambda t, ans, x, y, reduction="mean":
           _entry_tangent(multiply(t, subtract(sigmoid(x), y)), x, reduction),
           lambda t, ans, x, y, reduction="mean":
           _entry_tangent(multiply(t, negative(x)), x, reduction)])


from chainrule.ops.elementwise import multiply, negative, subtract
from chainrule.ops.nnops import log_softmax, sigmoid, softmax
from chainrule.ops.reductions import sum
from chainrule.ops.shape import expand_dims
