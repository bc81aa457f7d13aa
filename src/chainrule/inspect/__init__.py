"""Seeing the computation: evaluation traces, graph drawings, named scopes.

* :func:`trace` — the Wengert list of one call, with primal, tangent and
  adjoint columns (``print`` it, ``.rows`` for dicts, HTML in Jupyter).
* :func:`draw` — the computational graph as Graphviz DOT text, SVG or PNG.
* :class:`scope` and :func:`label` — names for groups of operations and for
  values, used by both.
"""

from chainrule.inspect.draw import Drawing, draw
from chainrule.inspect.scope import label, label_of, scope, scope_of
from chainrule.inspect.trace import Trace, trace

__all__ = ["Drawing", "Trace", "draw", "label", "label_of", "scope", "scope_of", "trace"]
