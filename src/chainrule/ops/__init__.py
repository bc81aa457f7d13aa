"""Primitives: every operation, declared once with its forward and both rules.

One module per family. ``REGISTRY`` maps names to the differentiable primitives:
the op table the generated tests run over.
"""

from chainrule.ops._primitive import REGISTRY, Primitive, defjvp, defvjp, primitive  # noqa: F401
from chainrule.ops import (  # noqa: F401  (importing declares the ops)
    compare, creation, cumulative, einsum, elementwise, indexing, linalg, nnops, reductions,
    shape,
)
from chainrule.ops import losses  # noqa: F401,E402  (fused softmax / sigmoid cross-entropy)
