"""Functional transformations: grad, value_and_grad, vjp, jvp, jacfwd, jacrev, hessian.

Each call opens a new level (see ``core/trace.py``), marks the arguments it
differentiates with that level, runs the function and reads the derivative
off: backward over the recorded nodes (reverse mode) or straight from the
tangents carried alongside the values (forward mode). Because each call has
its own level, they nest to any depth in any order.

Arguments and results may be trees: nested tuples, lists and dicts.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import numpy as np

from chainrule.core.backward import backprop
from chainrule.core.tensor import Tensor
from chainrule.core.trace import BATCH, FORWARD, REVERSE, Trace, new_trace
from chainrule.ops.creation import zeros_like
from chainrule.ops.shape import broadcast_to, reshape, transpose

# --- trees ---------------------------------------------------------------------------------


def tree_flatten(tree: Any) -> tuple[list, Any]:
    """Leaves of a tree of tuples/lists/dicts, and a description to rebuild it."""
    if isinstance(tree, (tuple, list)):
        parts = [tree_flatten(x) for x in tree]
        leaves = [leaf for part, _ in parts for leaf in part]
        return leaves, (type(tree), [d for _, d in parts])
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [tree_flatten(tree[k]) for k in keys]
        return [leaf for part, _ in parts for leaf in part], (dict, keys, [d for _, d in parts])
    if tree is None:
        return [], None
    return [tree], "leaf"


def tree_unflatten(structure: Any, leaves: Sequence) -> Any:
    """The inverse of :func:`tree_flatten`."""
    rebuilt, rest = _unflatten(structure, list(leaves))
    assert not rest, "tree_unflatten: too many leaves"
    return rebuilt


def _unflatten(structure: Any, leaves: list) -> tuple[Any, list]:
    if structure == "leaf":
        return leaves[0], leaves[1:]
    if structure is None:
        return None, leaves
    if structure[0] is dict:
        _, keys, children = structure
        out = {}
        for key, child in zip(keys, children):
            out[key], leaves = _unflatten(child, leaves)
        return out, leaves
    kind, children = structure
    items = []
    for child in children:
        item, leaves = _unflatten(child, leaves)
        items.append(item)
    if hasattr(kind, "_fields"):  # a namedtuple (NumPy's slogdet, eigh results) takes fields
        return kind(*items), leaves
    return kind(items), leaves


def tree_map(fn: Callable, tree: Any) -> Any:
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [fn(x) for x in leaves])


# --- arguments in, results out ----------------------------------------------------------------


def _promote(x: Any, what: str) -> Any:
    """A differentiable input: floats stay, ints become float64, booleans are refused."""
    if isinstance(x, Tensor):
        kind = np.dtype(x.dtype).kind
        if kind == "b":
            raise TypeError(f"{what}: cannot differentiate with respect to a boolean tensor")
        return x if kind in "fc" else x.astype(np.float64)
    if isinstance(x, (bool, np.bool_)) or (isinstance(x, np.ndarray) and x.dtype == bool):
        raise TypeError(f"{what}: cannot differentiate with respect to a boolean ({x!r})")
    array = np.asarray(x)
    if array.dtype.kind not in "fc":
        if array.dtype.kind not in "iu":
            raise TypeError(f"{what}: cannot differentiate with respect to {type(x).__name__} "
                            f"with dtype {array.dtype}; pass numbers or arrays")
        array = array.astype(np.float64)
    return array


def _leaf_value(x: Any, trace: Trace) -> Any:
    """``x`` with this level's wrapping taken off; NumPy scalars become 0-d arrays."""
    if isinstance(x, Tensor) and x._level == trace.level:
        x = x._value
    return plain_value(x)


def plain_value(x: Any) -> Any:
    """What a transformation returns for a raw value: NumPy scalars become 0-d arrays."""
    return np.asarray(x) if isinstance(x, np.generic) else x


def _argnums(argnums: int | Sequence[int], nargs: int, what: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{what}: argnums {argnums} refers to argument {i}, but the "
                             f"function was called with {nargs} positional arguments")
    return tuple(i % nargs for i in nums)


def _pick(results: list, argnums: int | Sequence[int]) -> Any:
    return results[0] if isinstance(argnums, int) else tuple(results)


# --- reverse mode ----------------------------------------------------------------------------


class _Linearized:
    """A function run with some arguments traced in reverse mode, ready for backward."""

    def __init__(self, f: Callable, args: tuple, kwargs: dict, nums: tuple[int, ...],
                 what: str) -> None:
        self.trace = new_trace(REVERSE)
        args = list(args)
        self.inputs = []  # per differentiated argument: (leaves as traced, structure)
        for i in nums:
            leaves, structure = tree_flatten(args[i])
            boxed = [Tensor(_promote(x, what), self.trace, None, True) for x in leaves]
            self.inputs.append((boxed, structure))
            args[i] = tree_unflatten(structure, boxed)
        self.out = f(*args, **kwargs)
        self.out_leaves, self.out_structure = tree_flatten(self.out)

    def value(self) -> Any:
        return tree_unflatten(self.out_structure,
                              [_leaf_value(x, self.trace) for x in self.out_leaves])

    def pullback(self, cotangents: list, retain: bool) -> list:
        """Gradient trees, one per differentiated argument, for output cotangents."""
        level = self.trace.level
        roots = [(o, ct) for o, ct in zip(self.out_leaves, cotangents)
                 if isinstance(o, Tensor) and o._level == level]
        grads = backprop(roots, level, keep_tensors=False, retain=retain)
        results = []
        for boxed, structure in self.inputs:
            leaves = []
            for box in boxed:
                g = grads[id(box)][1] if id(box) in grads else zeros_like(box._value)
                leaves.append(_leaf_value(g, self.trace))
            results.append(tree_unflatten(structure, leaves))
        return results


def value_and_grad(f: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """``f``'s value and its gradient with respect to argument(s) ``argnums``.

    With ``has_aux=True`` (JAX's convention) ``f`` returns ``(value, aux)``: the
    gradient is of ``value``, ``aux`` rides along undifferentiated, and the
    result is ``((value, aux), gradient)``.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> value, g = cr.value_and_grad(lambda x: cnp.sum(x ** 2))(cnp.array([1.0, 2.0]))
    >>> float(value), g.tolist()
    (5.0, [2.0, 4.0])
    """
    @functools.wraps(f)
    def value_and_grad_f(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "grad")
        aux: list = []
        lin = _Linearized(_split_aux(f, aux) if has_aux else f, args, kwargs, nums, "grad")
        if len(lin.out_leaves) != 1 or _size(lin.out_leaves[0]) != 1:
            shapes = [tuple(getattr(x, "shape", ())) for x in lin.out_leaves]
            raise TypeError(f"grad: the function must return a scalar, but it returned "
                            f"{'shape ' + str(shapes[0]) if len(shapes) == 1 else shapes}; "
                            f"use cr.jacrev or cr.vjp for non-scalar outputs"
                            f"{'' if has_aux else ', or has_aux=True for (value, extra)'}")
        out = lin.out_leaves[0]
        seed = np.ones(tuple(getattr(out, "shape", ())), dtype=_float_dtype(out))
        grads = lin.pullback([seed], retain=False)
        if has_aux:
            extra = tree_map(lambda x: _leaf_value(x, lin.trace), aux[0])
            return (lin.value(), extra), _pick(grads, argnums)
        return lin.value(), _pick(grads, argnums)

    return value_and_grad_f


def _split_aux(f: Callable, aux: list) -> Callable:
    """``f`` returning ``(value, aux)`` as a function of ``value`` alone (``aux`` kept aside)."""
    def value_only(*args: Any, **kwargs: Any) -> Any:
        out = f(*args, **kwargs)
        if not (isinstance(out, (tuple, list)) and len(out) == 2):
            raise TypeError("grad with has_aux=True: the function must return a pair "
                            f"(value, aux), not {type(out).__name__}")
        aux.append(out[1])
        return out[0]

    return value_only


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar-valued ``f`` with respect to argument(s) ``argnums``.

    With ``has_aux=True`` ``f`` returns ``(value, aux)`` and the result is
    ``(gradient, aux)``.

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> float(cr.grad(cnp.sin)(0.0))
    1.0
    >>> float(cr.grad(cr.grad(lambda x: x ** 3))(2.0))   # second derivative: 6x
    12.0
    """
    value_and_grad_f = value_and_grad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args: Any, **kwargs: Any) -> Any:
        value, g = value_and_grad_f(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return grad_f


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """Run ``f`` and return its output and the function ``cotangent -> cotangents of primals``.

    >>> import chainrule as cr, numpy as np
    >>> out, pullback = cr.vjp(lambda x: x * 3.0, np.array([1.0, 2.0]))
    >>> pullback(np.array([1.0, 10.0]))[0].tolist()
    [3.0, 30.0]
    """
    lin = _Linearized(f, primals, {}, tuple(range(len(primals))), "vjp")

    def vjp_fn(cotangent: Any) -> tuple:
        leaves, structure = tree_flatten(cotangent)
        if structure != lin.out_structure:
            raise ValueError("vjp: the cotangent must have the same tree structure as the "
                             "function's output")
        cts = []
        for ct, out in zip(leaves, lin.out_leaves):
            ct = np.asarray(ct, dtype=_float_dtype(out)) if not isinstance(ct, Tensor) else ct
            if tuple(ct.shape) != tuple(getattr(out, "shape", ())):
                raise ValueError(f"vjp: cotangent has shape {tuple(ct.shape)} but the output "
                                 f"has shape {tuple(getattr(out, 'shape', ()))}")
            cts.append(ct)
        return tuple(lin.pullback(cts, retain=True))

    return lin.value(), vjp_fn


def _size(x: Any) -> int:
    return int(np.prod(getattr(x, "shape", ()), dtype=np.int64))


def _float_dtype(x: Any) -> Any:
    dtype = np.dtype(getattr(x, "dtype", np.float64))
    return dtype if dtype.kind in "fc" else np.float64


# --- forward mode ------------------------------------------------------------------------------


def _push_forward(f: Callable, args: tuple, kwargs: dict, nums: tuple[int, ...],
                  tangents: Sequence, what: str) -> tuple[Any, Any]:
    trace = new_trace(FORWARD)
    args = list(args)
    for i, tangent in zip(nums, tangents):
        leaves, structure = tree_flatten(args[i])
        t_leaves, t_structure = tree_flatten(tangent)
        if t_structure != structure:
            raise ValueError(f"{what}: the tangent of argument {i} must have the same tree "
                             f"structure as the argument")
        boxed = []
        for x, t in zip(leaves, t_leaves):
            x = _promote(x, what)
            if not isinstance(t, Tensor):
                t = np.asarray(t, dtype=x.dtype)
            if tuple(t.shape) != tuple(x.shape):
                raise ValueError(f"{what}: tangent shape {tuple(t.shape)} does not match the "
                                 f"argument's shape {tuple(x.shape)}")
            boxed.append(Tensor(x, trace, None, True, t))
        args[i] = tree_unflatten(structure, boxed)
    out = f(*args, **kwargs)
    out_leaves, structure = tree_flatten(out)
    primals = [_leaf_value(x, trace) for x in out_leaves]
    out_tangents = [_leaf_value(x._tangent, trace)
                    if isinstance(x, Tensor) and x._level == trace.level else zeros_like(p)
                    for x, p in zip(out_leaves, primals)]
    return tree_unflatten(structure, primals), tree_unflatten(structure, out_tangents)


def jvp(f: Callable, primals: Sequence, tangents: Sequence) -> tuple[Any, Any]:
    """Forward mode: ``f(*primals)`` and its directional derivative along ``tangents``.

    The tangents travel with the values in the same pass (v̇ = Σ ∂v/∂u · u̇).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> out, t = cr.jvp(cnp.sin, (0.0,), (2.0,))
    >>> float(out), float(t)
    (0.0, 2.0)
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents; pass one "
                         f"tangent per primal")
    return _push_forward(f, primals, {}, tuple(range(len(primals))), tangents, "jvp")


# --- mapping over a batch axis ------------------------------------------------------------------


def vmap(f: Callable, in_axes: int | None | Sequence[int | None] = 0) -> Callable:
    """Map ``f`` over an axis of its arguments in one vectorized pass (batch axis first out).

    ``in_axes`` gives, per positional argument, the axis to map over (``None``:
    the same value for every entry); an int applies to all. Each op runs once on
    the whole batch through its batching rule (``ops/batching.py``).

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> cr.vmap(lambda row: cnp.sum(row ** 2))(np.arange(6.0).reshape(2, 3)).tolist()
    [5.0, 50.0]
    """
    @functools.wraps(f)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        axes = [in_axes] * len(args) if not isinstance(in_axes, (tuple, list)) else list(in_axes)
        if len(axes) != len(args):
            raise ValueError(f"vmap: in_axes has {len(axes)} entries for {len(args)} arguments")
        sizes = {np.shape(leaf)[axis] for arg, axis in zip(args, axes) if axis is not None
                 for leaf in tree_flatten(arg)[0]}
        if len(sizes) != 1:
            raise ValueError(f"vmap: the mapped axes must have one common length, got "
                             f"{sorted(sizes) or 'no mapped argument'}")
        return _map_batch(f, args, kwargs, axes, sizes.pop())

    return mapped


def _map_batch(f: Callable, args: Sequence, kwargs: dict, axes: Sequence, size: int) -> Any:
    trace = new_trace(BATCH, size)
    boxed = []
    for arg, axis in zip(args, axes):
        if axis is None:
            boxed.append(arg)
            continue
        leaves, structure = tree_flatten(arg)
        leaves = [Tensor(_leading(leaf, axis), trace) for leaf in leaves]
        boxed.append(tree_unflatten(structure, leaves))
    out = f(*boxed, **kwargs)
    leaves, structure = tree_flatten(out)
    return tree_unflatten(structure, [_batched_result(leaf, trace) for leaf in leaves])


def _leading(x: Any, axis: int) -> Any:
    if axis % max(len(np.shape(x)), 1) == 0:
        return x
    order = list(range(len(np.shape(x))))
    order.insert(0, order.pop(axis))
    return transpose(x, axes=tuple(order))


def _batched_result(x: Any, trace: Trace) -> Any:
    if isinstance(x, Tensor) and x._level == trace.level:
        return _leaf_value(x, trace)
    return broadcast_to(x, shape=(trace.size,) + tuple(np.shape(x)))  # the same for every entry


# --- Jacobians and Hessians ------------------------------------------------------------------


def jacfwd(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of ``f`` by forward mode: shape out.shape + in.shape.

    Pushes the whole basis of tangents (one per input entry: the columns) through
    ``f`` in one vectorized pass.

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> cr.jacfwd(lambda x: x ** 2)(np.array([1.0, 2.0])).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        out, _ = _push_forward(f, args, kwargs, (), [], "jacfwd")
        outs, out_structure = tree_flatten(out)
        per_arg = []  # [argument] -> (structure, [out leaf m] -> [in leaf j] -> block)
        for i in nums:
            leaves, in_structure = tree_flatten(args[i])
            leaves = [_promote(x, "jacfwd") for x in leaves]
            columns = [_columns(f, args, kwargs, i, leaves, in_structure, j)
                       for j in range(len(leaves))]
            blocks = [[_to_block(columns[j] and columns[j][m], np.shape(o), np.shape(x),
                                 batch_first=False)
                       for j, x in enumerate(leaves)] for m, o in enumerate(outs)]
            per_arg.append((in_structure, blocks))
        return _jacobian_tree(out_structure, len(outs), per_arg, argnums)

    return jacobian_f


def _columns(f: Callable, args: tuple, kwargs: dict, i: int, leaves: list, structure: Any,
             j: int) -> list:
    """J e_k for every basis vector e_k of input leaf j, batched: [out leaf] -> (n, *out)."""
    x = leaves[j]
    basis = _identity(x)

    def along(e: Any) -> Any:
        t_leaves = [np.zeros(np.shape(y), dtype=_float_dtype(y)) for y in leaves]
        t_leaves[j] = e
        return _push_forward(f, args, kwargs, (i,), [tree_unflatten(structure, t_leaves)],
                             "jacfwd")[1]

    return tree_flatten(vmap(along)(basis))[0] if _size(x) else None


def _identity(x: Any) -> np.ndarray:
    """The basis e_0, e_1, ... of x's space, stacked: shape (x.size, *x.shape)."""
    n = _size(x)
    return np.eye(n, dtype=_float_dtype(x)).reshape((n,) + tuple(np.shape(x)))


def _to_block(stacked: Any, out_shape: tuple, in_shape: tuple, batch_first: bool) -> Any:
    """A batch of Jacobian columns (n, *out) or rows (m, *in) as out_shape + in_shape."""
    out_shape, in_shape = tuple(out_shape), tuple(in_shape)
    if stacked is None:
        return np.zeros(out_shape + in_shape)
    if not batch_first:  # columns: move the batch axis (input entries) to the end
        order = tuple(range(1, len(out_shape) + 1)) + (0,)
        stacked = transpose(stacked, axes=order)
    return reshape(stacked, shape=out_shape + in_shape)


def jacrev(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian of ``f`` by reverse mode: shape out.shape + in.shape.

    Records ``f`` once, then pulls the whole basis of cotangents (one per output
    entry: the rows) back through the graph in one vectorized pass.

    >>> import chainrule as cr, numpy as np
    >>> cr.jacrev(lambda x: x[0] * x)(np.array([1.0, 2.0])).tolist()
    [[2.0, 0.0], [2.0, 1.0]]
    """
    @functools.wraps(f)
    def jacobian_f(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        lin = _Linearized(f, args, kwargs, nums, "jacrev")
        outs = [_leaf_value(o, lin.trace) for o in lin.out_leaves]
        rows = [_rows(lin, outs, m) for m in range(len(outs))]  # [m][arg] -> gradient leaves
        per_arg = []
        for a, (boxed, in_structure) in enumerate(lin.inputs):
            blocks = [[_to_block(rows[m][a][j] if rows[m] else None, np.shape(out),
                                 box.shape, batch_first=True)
                       for j, box in enumerate(boxed)] for m, out in enumerate(outs)]
            per_arg.append((in_structure, blocks))
        return _jacobian_tree(lin.out_structure, len(outs), per_arg, argnums)

    return jacobian_f


def _rows(lin: _Linearized, outs: list, m: int) -> list | None:
    """uᵀJ for every basis vector u of output leaf m, batched: [arg] -> [leaf] -> (n, *in)."""
    if not _size(outs[m]):
        return None

    def pull(u: Any) -> list:
        cotangents = [np.zeros(np.shape(o), dtype=_float_dtype(o)) for o in outs]
        cotangents[m] = u
        return [tree_flatten(g)[0] for g in lin.pullback(cotangents, retain=True)]

    return vmap(pull)(_identity(outs[m]))


def _jacobian_tree(out_structure: Any, n_out: int, per_arg: list, argnums: Any) -> Any:
    """Blocks arranged as JAX does: the output tree, then the arguments, then each input tree."""
    per_out = []
    for m in range(n_out):
        per_out.append(_pick([tree_unflatten(structure, blocks[m])
                              for structure, blocks in per_arg], argnums))
    return tree_unflatten(out_structure, per_out)


jacobian = jacrev


def hessian(f: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """Second derivatives of a scalar ``f``: shape in.shape + in.shape (forward over reverse).

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> cr.hessian(lambda x: cnp.sum(x ** 3))(np.array([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacfwd(jacrev(f, argnums), argnums)
