"""Comparisons and other piecewise-constant functions: results, no derivatives.

Every transformation treats their inputs as constants (the derivative is zero
almost everywhere and undefined at the jumps).
"""

from chainrule.backend import xp
from chainrule.ops._primitive import nondifferentiable

less = nondifferentiable(xp.less, "less")
less_equal = nondifferentiable(xp.less_equal, "less_equal")
greater = nondifferentiable(xp.greater, "greater")
greater_equal = nondifferentiable(xp.greater_equal, "greater_equal")
equal = nondifferentiable(xp.equal, "equal")
not_equal = nondifferentiable(xp.not_equal, "not_equal")
logical_and = nondifferentiable(xp.logical_and, "logical_and")
logical_or = nondifferentiable(xp.logical_or, "logical_or")
logical_not = nondifferentiable(xp.logical_not, "logical_not")
isfinite = nondifferentiable(xp.isfinite, "isfinite")
isnan = nondifferentiable(xp.isnan, "isnan")
floor = nondifferentiable(xp.floor, "floor")
ceil = nondifferentiable(xp.ceil, "ceil")
round = nondifferentiable(lambda x, decimals=0: xp.round(x, decimals), "round")
argmax = nondifferentiable(lambda x, axis=None: xp.argmax(x, axis=axis), "argmax")
argmin = nondifferentiable(lambda x, axis=None: xp.argmin(x, axis=axis), "argmin")
