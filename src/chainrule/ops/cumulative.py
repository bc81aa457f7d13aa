"""Running sums and differences along an axis.

``cumsum`` is linear: its JVP is the cumsum of the tangent, and its transpose
(the VJP) is the running sum taken from the other end,
x̄_i = Σ_{j ≥ i} ḡ_j = flip(cumsum(flip(ḡ))). ``diff`` is a difference of two
slices, so a composition of ``getitem`` and ``subtract``.
"""

from __future__ import annotations

from chainrule.backend import xp
from chainrule.ops._primitive import linear, primitive


def _cumsum_impl(x, axis):
    return xp.cumsum(x, axis=axis)


def _reversed(x, axis):
    ndim = len(getattr(x, "shape", ()))
    return getitem(x, index=(slice(None),) * (axis % ndim) + (slice(None, None, -1),))


cumsum = primitive(_cumsum_impl, name="cumsum", reference=_cumsum_impl, cases=[
    (((4,),), {"axis": 0}), (((2, 3),), {"axis": 1}), (((2, 3, 2),), {"axis": -3}),
])
linear(cumsum, lambda g, ans, x, axis: _reversed(cumsum(_reversed(g, axis), axis=axis), axis))


def diff(x, n=1, axis=-1):
    """NumPy's ``diff``: the ``n``-th difference out[i] = x[i + 1] − x[i] along ``axis``."""
    ndim = len(getattr(x, "shape", ()))
    if ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    lead = (slice(None),) * (axis % ndim)
    for _ in range(n):
        x = subtract(getitem(x, index=lead + (slice(1, None),)),
                     getitem(x, index=lead + (slice(None, -1),)))
    return x


from chainrule.ops.elementwise import subtract  # noqa: E402
from chainrule.ops.indexing import getitem  # noqa: E402
