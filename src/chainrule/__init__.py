"""chainrule: derivatives by the chain rule over a program's computational graph.

>>> import chainrule as cr
>>> x = cr.tensor(2.0, requires_grad=True)
>>> y = x * x + 3 * x
>>> y.backward()
>>> float(x.grad)
7.0
"""

from chainrule import _memory  # noqa: F401  (first: malloc keeps freed memory for reuse)
from chainrule.core import (  # noqa: F401
    Tensor, detect_anomaly, enable_grad, no_grad, stop_gradient, tensor,
)
from chainrule.ops import defjvp, defvjp, primitive  # noqa: F401
from chainrule.ops.indexing import index_update  # noqa: F401
from chainrule.ops.nnops import dense, log_softmax, logsumexp, relu, sigmoid, softmax  # noqa: F401
from chainrule.transforms import (  # noqa: F401
    grad, hessian, jacfwd, jacobian, jacrev, jvp, tree_flatten, tree_map, tree_unflatten, vmap,
    value_and_grad, vjp,
)
from chainrule.check import GradientCheckError, check_grads, numerical_grad  # noqa: F401
from chainrule.compiler import CompileError, compile  # noqa: F401
from chainrule import numpy  # noqa: F401,E402

__version__ = "0.1.0"


def __getattr__(name: str):
    """Load the heavier sub-packages only when first used."""
    import importlib

    if name in ("nn", "optim", "data", "metrics", "inspect"):
        return importlib.import_module(f"chainrule.{name}")
    raise AttributeError(f"module 'chainrule' has no attribute {name!r}")
