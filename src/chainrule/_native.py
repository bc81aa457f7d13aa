"""The compiled fast path, if this install has it.

``FAST`` is the C module ``chainrule._fast`` (built by ``pip install`` where a C compiler
is found) or None. It holds Tensor's storage and the fast path of its operators and of the
facade's ufuncs; every case it does not handle goes back to the Python code, which is the
whole behaviour on its own. ``CHAINRULE_PURE_PYTHON=1`` in the environment turns it off.
"""

import os

FAST = None
if os.environ.get("CHAINRULE_PURE_PYTHON", "") in ("", "0"):
    try:
        from chainrule import _fast as FAST
    except ImportError:   # built without a C compiler: the same package, slower on small arrays
        FAST = None

__all__ = ["FAST"]
