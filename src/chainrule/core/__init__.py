"""The autodiff core: tensors and levels, the reverse pass, switches.

It knows no operation by name: every computation arrives as a primitive call.
"""

from chainrule.core import trace  # noqa: F401  (first: installs the dispatcher)
from chainrule.core.tensor import Node, Tensor, tensor  # noqa: F401
from chainrule.core.modes import detect_anomaly, enable_grad, no_grad, stop_gradient  # noqa: F401
