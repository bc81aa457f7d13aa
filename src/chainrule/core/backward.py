"""Reverse mode: the backward pass over the graph.

For a scalar output the adjoint of a node is the sum, over the nodes that used
it, of their adjoint times the local derivative:  v̄_i = Σ_j v̄_j ∂v_j/∂v_i.
Nodes are numbered as they are created, so visiting them from the highest
number down is a reverse topological order: no recursion, each node once.
"""

from __future__ import annotations

from contextlib import contextmanager
from heapq import heappop, heappush
from typing import Any, Callable, Iterable, Iterator

from chainrule._native import FAST
from chainrule.core.trace import (
    STATE, TAPE_TRACE, Anomaly, check_finite, dtype_of,
)
from chainrule.core.tensor import Node, Tensor
from chainrule.ops._primitive import MISSING, SHORTCUTS, missing_rule


# Who watches the reverse pass: ``observer(node, adjoint)`` for each node it visits.
# Empty in normal use (one falsy check per node); ``cr.inspect.trace`` reads the
# adjoint column of its table with it, so the table shows the engine's own numbers.
_observers: list[Callable[[Node, Any], None]] = []


@contextmanager
def observe_adjoints(observer: Callable[[Node, Any], None]) -> Iterator[None]:
    """Call ``observer(node, adjoint)`` as the reverse pass reaches each node, in the block.

    ``adjoint`` is the node's complete v̄ (every use summed), just before its
    rules run; nodes are visited newest first. Rules take no shortcuts in the
    block, so every node gets its adjoint.
    """
    _observers.append(observer)
    shortcuts, SHORTCUTS[0] = SHORTCUTS[0], False
    try:
        yield
    finally:
        _observers.remove(observer)
        SHORTCUTS[0] = shortcuts


def backprop(roots: Iterable[tuple[Tensor, Any]], level: int, keep_tensors: bool,
             retain: bool) -> dict[int, tuple[Tensor, Any]]:
    """Propagate the seeds of ``roots`` back to the leaves of ``level``.

    Returns ``{id(leaf): (leaf, gradient)}``. With ``keep_tensors`` the rules
    run on the level's own tensors (so the backward pass is itself recorded:
    ``create_graph``); otherwise on the values one level down.

    A node enters the queue with its first gradient contribution and leaves it
    newest first: by then every node that used it has been processed, so its
    adjoint is complete.
    """
    leaf_grads: dict[int, tuple[Tensor, Any]] = {}
    queue: list[tuple[int, Node]] = []
    for root, seed in roots:
        if root._node is None:
            _accumulate_leaf(leaf_grads, root, seed)
        else:
            _send(root._node, seed, queue)
    try:
        _drain(queue, level, keep_tensors, retain, leaf_grads)
    except BaseException:
        for _, waiting in queue:  # leave no half-summed adjoint behind for the next pass
            waiting.grad = None
        raise
    return leaf_grads


def _drain(queue: list, level: int, keep_tensors: bool, retain: bool, leaf_grads: dict) -> None:
    """Process the queued nodes, newest first, until none is left."""
    if FAST is not None and not keep_tensors and not _observers:
        # the same loop in C (chainrule/_fast.c), calling _process for any node it leaves
        FAST.drain(queue, level, retain, leaf_grads, _process, fit_to)
        return
    while queue:
        node = heappop(queue)[1]
        g, node.grad = node.grad, None
        _process(node, g, level, keep_tensors, retain, leaf_grads, queue)


def _process(node: Node, g: Any, level: int, keep_tensors: bool, retain: bool,
             leaf_grads: dict, queue: list) -> None:
    """One node of the reverse pass: its rules, its inputs' adjoints, then its values freed."""
    if node.args is None:
        raise RuntimeError(
            f"backward: trying to go back through the graph a second time, but the "
            f"values saved by '{node.prim.name}' were freed after the first backward "
            f"pass; call backward(retain_graph=True) the first time if you need to "
            f"go back through it again")
    if _observers:
        for observe in _observers:
            observe(node, g)
    if node.clock != STATE.changes:  # something was changed in place since the node was made
        _check_versions(node)
    _backprop_node(node, g, level, keep_tensors, leaf_grads, queue)
    if not retain:
        node.args = node.out = None  # free what the pass no longer needs


def _send(node: Node, g: Any, queue: list) -> None:
    """Add ``g`` to a node's adjoint; queue the node at its first contribution."""
    if node.grad is None:
        node.grad = g
        heappush(queue, (-node.seq, node))
    else:
        node.grad = node.grad + g


def _backprop_node(node: Node, g: Any, level: int, keep_tensors: bool,
                   leaf_grads: dict, queue: list) -> None:
    prim, args, params = node.prim, node.args, node.params
    if keep_tensors:
        inner, ans = args, Tensor(node.out, TAPE_TRACE, node, True)
    else:
        inner = [x._value if x.__class__ is Tensor and x._level == level else x for x in args]
        ans = node.out
    shares = None
    if prim.vjp_all is not None:   # the arguments' cotangents share work: one call for all
        wanted = tuple(x.__class__ is Tensor and x._level == level and x.requires_grad
                       for x in args)
        joint = {**params, "wanted": wanted}
        shares = (_checked_rule(prim.vjp_all, node, g, ans, inner, joint) if STATE.anomaly
                  else prim.vjp_all(g, ans, *inner, **joint))
        vjps = None
    else:
        vjps = prim.vjps if prim.variadic_vjp is None else None
    for i, x in enumerate(args):
        if x.__class__ is not Tensor or x._level != level or not x.requires_grad:
            continue
        if shares is not None:
            gx = shares[i]
            if gx is None:
                continue
        else:
            rule = vjps.get(i, MISSING) if vjps is not None else prim.vjp_rule(i)
            if rule is None:
                continue
            if rule is MISSING:
                raise missing_rule(prim, i, "reverse")
            gx = (_checked_rule(rule, node, g, ans, inner, params) if STATE.anomaly
                  else rule(g, ans, *inner, **params))
            if gx is None:  # the rule gave this argument's share to another one (Gram products)
                continue
        value = inner[i]
        try:
            fits = gx.shape == value.shape and gx.dtype == value.dtype
        except AttributeError:
            fits = False
        if not fits:
            gx = fit_to(gx, value.shape, value.dtype)
        if STATE.anomaly:
            check_finite(gx, f"the backward rule of '{prim.name}'", _site(node))
        parent = x._node
        if parent is None:
            _accumulate_leaf(leaf_grads, x, gx)
        elif parent.grad is None:  # its first contribution: queue it (as _send does)
            parent.grad = gx
            heappush(queue, (-parent.seq, parent))
        else:
            parent.grad = parent.grad + gx


def _checked_rule(rule: Any, node: Node, g: Any, ans: Any, inner: tuple, params: dict) -> Any:
    """A VJP rule under ``detect_anomaly``: a NaN/inf anywhere inside names this rule."""
    try:
        return rule(g, ans, *inner, **params)
    except Anomaly as inner_anomaly:
        raise Anomaly(f"detect_anomaly: the backward rule of '{node.prim.name}' produced "
                      f"{inner_anomaly.bad}{_site(node)}", inner_anomaly.bad) from None


def _accumulate_leaf(leaf_grads: dict, leaf: Tensor, g: Any) -> None:
    key = id(leaf)
    if key in leaf_grads:
        leaf_grads[key] = (leaf, leaf_grads[key][1] + g)
    else:
        leaf_grads[key] = (leaf, g)


def _check_versions(node: Node) -> None:
    for x in node.args:
        if x.__class__ is Tensor and x._node is None and x._version > node.clock:
            raise RuntimeError(
                f"backward: an input of '{node.prim.name}' (shape {x.shape}) was changed in "
                f"place after it was used, so the gradient would be wrong; compute the graph "
                f"again after the change, or change a copy")


def _site(node: Node) -> str:
    site = node.site
    return "" if site is None else f" (the op was created at {site.filename}:{site.lineno})"


def fit_to(g: Any, shape: tuple, dtype: Any, broadcast: bool = False) -> Any:
    """Bring a gradient (or, with ``broadcast``, a tangent) to ``shape`` and ``dtype``.

    Broadcasting in the forward pass is a sum in the backward pass: this is the
    one place it is undone.
    """
    try:
        g_shape, g_dtype = g.shape, g.dtype
    except AttributeError:  # a Python number
        g_shape, g_dtype = (), dtype_of(g)
    if g_shape != shape:
        g = broadcast_to(g, shape=shape) if broadcast else sum_to(g, shape=shape)
    if g_dtype != dtype and dtype.kind in "fc":
        g = astype(g, dtype=dtype)
    return g


def tape_backward(t: Tensor, gradient: Any, retain_graph: bool | None,
                  create_graph: bool) -> None:
    """``Tensor.backward``: accumulate into ``.grad`` of the imperative leaves."""
    import numpy

    if t._level > 0:
        raise RuntimeError("backward() was called on a value traced by a transformation; "
                           "inside cr.grad/cr.jvp use their results instead")
    if not t.requires_grad:
        raise RuntimeError("backward: this tensor does not require grad: it was not computed "
                           "from any tensor made with requires_grad=True (or it was computed "
                           "under cr.no_grad())")
    if gradient is None:
        if t.size != 1:
            raise RuntimeError(f"backward: the tensor has shape {t.shape}, not a scalar; pass "
                               f"gradient= (an array of that shape) to say which combination "
                               f"of its entries to differentiate")
        seed = numpy.ones(t.shape, dtype=t.dtype)
    else:
        seed = gradient._value if isinstance(gradient, Tensor) and not create_graph else gradient
        if not isinstance(seed, Tensor):
            seed = numpy.array(seed, dtype=t.dtype)
        if tuple(seed.shape) != t.shape:
            raise ValueError(f"backward: gradient has shape {tuple(seed.shape)} but the tensor "
                             f"has shape {t.shape}")
    if create_graph and not isinstance(seed, Tensor):
        seed = Tensor(seed)
    retain = create_graph if retain_graph is None else retain_graph
    enabled = STATE.grad_enabled
    STATE.grad_enabled = create_graph  # only a create_graph pass records itself
    try:
        grads = backprop([(t, seed)], 0, keep_tensors=create_graph, retain=retain)
    finally:
        STATE.grad_enabled = enabled
    for leaf, g in grads.values():
        if not leaf.requires_grad:
            continue
        if not isinstance(g, Tensor):
            g = Tensor(g)
        leaf.grad = g if leaf.grad is None else leaf.grad + g


from chainrule.ops.elementwise import astype  # noqa: E402
from chainrule.ops.shape import broadcast_to, sum_to  # noqa: E402
