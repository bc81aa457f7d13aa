"""Arrays made from shapes and other arrays' shapes: constants, no derivatives."""

from chainrule.backend import xp
from chainrule.ops._primitive import nondifferentiable

zeros_like = nondifferentiable(lambda x, dtype=None: xp.zeros_like(x, dtype=dtype), "zeros_like")
ones_like = nondifferentiable(lambda x, dtype=None: xp.ones_like(x, dtype=dtype), "ones_like")
full_like = nondifferentiable(lambda x, fill_value, dtype=None:
                              xp.full_like(x, fill_value, dtype=dtype), "full_like")
