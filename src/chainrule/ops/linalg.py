"""Products of arrays: ``matmul`` (and ``dot`` built on it).

For C = A B the rules are the whiteboard ones: Ā = C̄ Bᵀ, B̄ = Aᵀ C̄, and
Ċ = Ȧ B + A Ḃ. A 1-D operand is made 2-D first, as NumPy does, so one rule
covers vectors, matrices and stacks of matrices (batch axes broadcast).
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import primitive, rules


def _ndim(x):
    return len(getattr(x, "shape", ()))


def _shape(x):
    return tuple(getattr(x, "shape", ()))


def _as_matrices(g, x, y):
    """``x``, ``y`` and the output gradient ``g`` with 1-D operands made 2-D."""
    x2 = expand_dims(x, axis=0) if _ndim(x) == 1 else x
    y2 = expand_dims(y, axis=1) if _ndim(y) == 1 else y
    if _ndim(x) == 1:
        g = expand_dims(g, axis=-1 if _ndim(y) == 1 else -2)
    if _ndim(y) == 1:
        g = expand_dims(g, axis=-1)
    return g, x2, y2


def _matmul_vjp_x(g, ans, x, y):
    g2, x2, y2 = _as_matrices(g, x, y)
    gx = sum_to(matmul(g2, swapaxes(y2)), shape=_shape(x2))
    return reshape(gx, shape=_shape(x))


def _matmul_vjp_y(g, ans, x, y):
    g2, x2, y2 = _as_matrices(g, x, y)
    gy = sum_to(matmul(swapaxes(x2), g2), shape=_shape(y2))
    return reshape(gy, shape=_shape(y))


matmul = primitive(xp.matmul, name="matmul", reference=xp.matmul, shapes=[
    ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
    ((2, 2, 3), (3, 2)), ((1, 2, 3), (2, 3, 2)),
])
matmul.shape_error = "are not aligned"
rules(matmul, vjp=[_matmul_vjp_x, _matmul_vjp_y],
      jvp=[lambda t, ans, x, y: matmul(t, y), lambda t, ans, x, y: matmul(x, t)])


def dot(x, y):
    """NumPy's ``dot`` for scalars, vectors and matrices (a product or a matmul)."""
    if _ndim(x) == 0 or _ndim(y) == 0:
        return multiply(x, y)
    if _ndim(x) <= 2 and _ndim(y) <= 2:
        return matmul(x, y)
    raise NotImplementedError(
        f"dot: shapes {_shape(x)} and {_shape(y)}: dot of arrays with more than 2 axes is not "
        f"supported; use matmul (batched) or tensordot")


from chainrule.ops.elementwise import multiply  # noqa: E402
from chainrule.ops.shape import expand_dims, reshape, sum_to, swapaxes  # noqa: E402
