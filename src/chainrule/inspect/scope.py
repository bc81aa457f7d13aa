"""Names for parts of a computation: ``scope`` for a block of operations, ``label`` for one value.

Both only *remember* something for the drawings and tables of
:mod:`chainrule.inspect`; neither changes what is computed, and neither adds
work to an operation (no check on the hot path).

A scope is recognised by the creation numbers of graph nodes: every node gets
a number when it is made (``Node.seq``), so the nodes made inside a ``with
scope(...)`` block are exactly those numbered between the block's start and
end. Scopes nest (``"model/layer1"``). The record is bounded: only the most
recent :data:`MAX_RECORDS` scopes and labels are kept. Scopes are not
thread-aware: an operation another thread runs meanwhile counts as inside.

>>> import chainrule as cr, chainrule.numpy as cnp
>>> def f(x):
...     with cr.inspect.scope("square"):
...         y = x * x
...     return cr.inspect.label(cnp.exp(y), "z")
>>> t = cr.inspect.trace(f, 1.0)
>>> [(row["name"], row["scope"], row["label"]) for row in t.rows]
[('v1', '', 'x'), ('v2', 'square', ''), ('v3', '', 'z')]
"""

from __future__ import annotations

import bisect
import weakref
from typing import Any

from chainrule.core.tensor import Tensor
from chainrule.core.trace import _sequence

MAX_RECORDS = 100_000


class _Interval:
    """One entered scope: the node numbers it spans and its full path."""

    __slots__ = ("end", "parent", "path", "start")

    def __init__(self, start: int, path: tuple[str, ...], parent: _Interval | None) -> None:
        self.start = start
        self.end: int | None = None  # None while the block runs
        self.path = path
        self.parent = parent

    def contains(self, seq: int) -> bool:
        return self.start < seq and (self.end is None or seq < self.end)


_starts: list[int] = []
_intervals: list[_Interval] = []
_open: list[_Interval] = []


class scope:
    """Group the operations made inside the block under ``name`` (for drawings and traces).

    A drawing of a big graph collapses each top-level scope into one node
    (``cr.inspect.draw(..., expand=True)`` shows them all, boxed by scope).

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> with cr.inspect.scope("layer1"):
    ...     y = (x * 3).exp()
    >>> cr.inspect.scope_of(y)
    'layer1'
    """

    def __init__(self, name: str) -> None:
        name = str(name)
        if not name or "/" in name:
            raise ValueError(f"scope: the name must be non-empty and without '/', got {name!r}")
        self.name = name
        self._interval: _Interval | None = None

    def __enter__(self) -> scope:  # noqa: PYI034  (a plain context manager)
        parent = _open[-1] if _open else None
        path = (parent.path if parent else ()) + (self.name,)
        interval = _Interval(next(_sequence), path, parent)
        _starts.append(interval.start)
        _intervals.append(interval)
        _open.append(interval)
        self._interval = interval
        if len(_intervals) > 2 * MAX_RECORDS:
            del _starts[:MAX_RECORDS]
            del _intervals[:MAX_RECORDS]
        return self

    def __exit__(self, *exc: object) -> None:
        interval = self._interval
        interval.end = next(_sequence)
        if _open and _open[-1] is interval:
            _open.pop()
        elif interval in _open:
            _open.remove(interval)


def scope_path(seq: int) -> tuple[str, ...]:
    """The path of the innermost scope that made node number ``seq`` (``()`` if none)."""
    k = bisect.bisect_left(_starts, seq) - 1  # the latest scope entered before the node
    if k < 0:
        return ()
    interval: _Interval | None = _intervals[k]
    while interval is not None and not interval.contains(seq):
        interval = interval.parent
    return interval.path if interval is not None else ()


def scope_of(x: Any) -> str:
    """The scope (``"a/b"``) in which the tensor ``x`` was computed; ``""`` if none."""
    node = getattr(x, "_node", None) if isinstance(x, Tensor) else None
    return "/".join(scope_path(node.seq)) if node is not None else ""


# --- labels ---------------------------------------------------------------------------

_node_labels: dict[int, str] = {}  # Node.seq -> label
_leaf_labels: dict[int, tuple[weakref.ref, str]] = {}  # id(leaf) -> (ref, label)


def label(x: Any, name: str) -> Any:
    """Give the value ``x`` a name for traces and drawings, and return ``x`` unchanged.

    Use it inside the function you trace to find your own intermediates
    (``z1 = label(cnp.exp(-y), "z1")``) among the rows.
    """
    if isinstance(x, Tensor):
        if x._node is not None:
            _node_labels[x._node.seq] = str(name)
            if len(_node_labels) > MAX_RECORDS:
                for key in list(_node_labels)[: MAX_RECORDS // 2]:
                    del _node_labels[key]
        else:
            _leaf_labels[id(x)] = (weakref.ref(x), str(name))
            if len(_leaf_labels) > MAX_RECORDS:
                _forget_dead_leaves()
    return x


def _forget_dead_leaves() -> None:
    for key, (ref, _) in list(_leaf_labels.items()):
        if ref() is None:
            del _leaf_labels[key]


def label_of(x: Any) -> str:
    """The name given to ``x`` with :func:`label` (``""`` if none)."""
    if not isinstance(x, Tensor):
        return ""
    if x._node is not None:
        return _node_labels.get(x._node.seq, "")
    entry = _leaf_labels.get(id(x))
    return entry[1] if entry is not None and entry[0]() is x else ""


def node_label(seq: int) -> str:
    return _node_labels.get(seq, "")
