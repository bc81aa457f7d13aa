"""Reading a recorded graph: the nodes an output depends on, as rows v1, v2, ...

Shared by :func:`chainrule.inspect.trace` and :func:`chainrule.inspect.draw`.
A row is one variable of the evaluation trace: an input (a leaf) or the
output of one node. Nodes are taken in creation order (``Node.seq``), which is
the order of evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chainrule.core.tensor import Node, Tensor
from chainrule.ops._primitive import HINTS
from chainrule.inspect import _format
from chainrule.inspect.scope import label_of, node_label, scope_path

# How the common operations read in a table: "v1 * v2" rather than "multiply(v1, v2)".
INFIX = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "power": "**",
         "matmul": "@"}


def walk(outputs: Sequence[Any], level: int) -> tuple[list[Tensor], list[Node]]:
    """The leaves (in order of first use) and nodes (in creation order) behind ``outputs``.

    Only what is recorded at ``level`` is followed; anything else is a constant.
    """
    seen: set[int] = set()
    stack = [x._node for x in outputs
             if isinstance(x, Tensor) and x._level == level and x._node is not None]
    nodes = []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        if node.args is None:
            raise RuntimeError(
                f"the graph behind this tensor was freed by backward() (at '{node.prim.name}'); "
                f"draw it before calling backward(), or call backward(retain_graph=True)")
        seen.add(id(node))
        nodes.append(node)
        for x in node.args:
            if x.__class__ is Tensor and x._level == level and x._node is not None:
                stack.append(x._node)
    nodes.sort(key=lambda node: node.seq)
    leaves: list[Tensor] = []
    known: set[int] = set()
    for x in [*(a for node in nodes for a in node.args), *outputs]:
        if x.__class__ is Tensor and x._level == level and x._node is None and id(x) not in known:
            known.add(id(x))
            leaves.append(x)
    return leaves, nodes


class Rows:
    """Rows for some leaves and nodes, with the links between them.

    ``rows[i]`` is a dict (see :func:`chainrule.inspect.trace`); ``parents[i]``
    lists, per argument of row i's operation, ``("row", index)`` or
    ``("const", value)``.
    """

    def __init__(self, leaves: Sequence[tuple[Tensor, str, bool]], nodes: Sequence[Node],
                 level: int) -> None:
        self.level = level
        self.rows: list[dict] = []
        self.parents: list[list[tuple[str, Any]]] = []
        self.index_of_leaf: dict[int, int] = {}
        self.index_of_node: dict[int, int] = {}
        for leaf, name, is_input in leaves:
            self.index_of_leaf[id(leaf)] = len(self.rows)
            self._add(op="input" if is_input else "constant", label=name or label_of(leaf),
                      value=leaf._value, scope=(), parents=[], params={})
        for node in nodes:
            self.index_of_node[id(node)] = len(self.rows)
            parents = [self._parent(x) for x in node.args]
            self._add(op=node.prim.name, label=node_label(node.seq), value=node.out,
                      scope=scope_path(node.seq), parents=parents,
                      params={k: v for k, v in node.params.items() if k not in HINTS})

    def _parent(self, x: Any) -> tuple[str, Any]:
        if x.__class__ is Tensor and x._level == self.level:
            if x._node is not None and id(x._node) in self.index_of_node:
                return ("row", self.index_of_node[id(x._node)])
            if id(x) in self.index_of_leaf:
                return ("row", self.index_of_leaf[id(x)])
        return ("const", _format.plain(x))

    def _add(self, op: str, label: str, value: Any, scope: tuple, parents: list,
             params: dict) -> None:
        name = f"v{len(self.rows) + 1}"
        value = _format.plain(value)
        shape = tuple(getattr(value, "shape", ()))
        texts = [self.rows[i]["name"] if kind == "row" else _format.short(i)
                 for kind, i in parents]
        self.rows.append({
            "name": name, "op": op, "inputs": texts, "params": params,
            "operation": operation_text(op, texts, params, label),
            "label": label, "scope": "/".join(scope), "shape": shape,
            "primal": value, "tangent": {}, "adjoint": None,
        })
        self.parents.append(parents)

    def index_of(self, x: Any) -> int | None:
        """The row of tensor ``x`` (an input or a node's output), if it has one."""
        if not isinstance(x, Tensor) or x._level != self.level:
            return None
        if x._node is not None:
            return self.index_of_node.get(id(x._node))
        return self.index_of_leaf.get(id(x))


def operation_text(op: str, inputs: Sequence[str], params: dict, label: str = "") -> str:
    """How row's operation reads: ``v1 * v2``, ``-v3``, ``exp(v3)``, ``sum(v4, axis=1)``."""
    if op in ("input", "constant"):
        return f"{op} {label}".strip()
    if op in INFIX and len(inputs) == 2 and not params:
        return f"{inputs[0]} {INFIX[op]} {inputs[1]}"
    if op == "negative" and len(inputs) == 1:
        return f"-{inputs[0]}"
    if op == "getitem" and len(inputs) == 1 and set(params) == {"index"}:
        return f"{inputs[0]}[{_index_text(params['index'])}]"
    extra = [f"{key}={_param_text(value)}" for key, value in params.items()
             if value is not None and value is not False]
    return f"{op}({', '.join([*inputs, *extra])})"


def _param_text(value: Any, limit: int = 24) -> str:
    if hasattr(value, "shape") and getattr(value, "size", 0) > _format.SMALL:
        return _format.shape_text(tuple(value.shape))
    text = repr(value) if not hasattr(value, "shape") else _format.summary(value, 4)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _index_text(index: Any) -> str:
    parts = index if isinstance(index, tuple) else (index,)
    texts = []
    for part in parts:
        if isinstance(part, slice):
            text = ":".join("" if v is None else str(v) for v in (part.start, part.stop, part.step))
            texts.append(text[:-1] if text.endswith(":") and part.step is None else text)
        elif part is Ellipsis:
            texts.append("...")
        elif part is None:
            texts.append("None")
        else:
            texts.append(_param_text(part, 16))
    return ", ".join(texts)
