"""Numerical differentiation and gradient checking (central differences, float64).

Numerical differences cost two evaluations per input entry: a checker, not a
method. ``check_grads`` compares forward mode (J v) and reverse mode (uᵀ J)
with them, argument by argument, and again for the derivatives of those
derivatives up to ``order``.

Defaults, chosen for float64: step ``eps = 1e-6``; an entry passes when
``|analytic − numerical| <= atol + rtol·|numerical|`` with ``rtol = 1e-5``,
``atol = 1e-6`` (second order: tenfold looser).
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import numpy as np

from chainrule.core.tensor import Tensor
from chainrule.transforms import jvp, tree_flatten, tree_unflatten, vjp

EPS, RTOL, ATOL = 1e-6, 1e-5, 1e-6
FULL_GRADIENT_MAX_SIZE = 400  # larger arguments are checked along random directions only


class GradientCheckError(AssertionError):
    """An analytic derivative disagrees with numerical differences."""


def _as_float64(tree: Any) -> Any:
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [np.array(x.raw() if isinstance(x, Tensor) else x,
                                               dtype=np.float64) for x in leaves])


def _raw(x: Any) -> np.ndarray:
    return np.asarray(x.raw() if isinstance(x, Tensor) else x, dtype=np.float64)


def _flat(tree: Any) -> np.ndarray:
    leaves = tree_flatten(tree)[0]
    return np.concatenate([_raw(x).ravel() for x in leaves]) if leaves else np.zeros(0)


def _shift(args: list, i: int, direction: Any, step: float) -> list:
    moved = list(args)
    leaves, structure = tree_flatten(args[i])
    d_leaves = tree_flatten(direction)[0]
    moved[i] = tree_unflatten(structure, [x + step * d for x, d in zip(leaves, d_leaves)])
    return moved


def _directional(f: Callable, args: list, i: int, direction: Any, eps: float) -> np.ndarray:
    """(f(x + eps·v) − f(x − eps·v)) / 2eps, flattened."""
    ahead = _flat(f(*_shift(args, i, direction, eps)))
    behind = _flat(f(*_shift(args, i, direction, -eps)))
    return (ahead - behind) / (2 * eps)


def numerical_grad(f: Callable, *args: Any, argnums: int | Sequence[int] = 0,
                   eps: float | None = None) -> Any:
    """The gradient of a scalar ``f`` by central differences, shaped like ``cr.grad``'s.

    >>> import chainrule as cr, numpy as np
    >>> g = cr.numerical_grad(lambda x: (x ** 2).sum(), np.array([1.0, 2.0]))
    >>> np.round(g, 6).tolist()
    [2.0, 4.0]
    """
    eps = EPS if eps is None else eps
    args = [_as_float64(a) for a in args]
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    results = []
    for i in nums:
        leaves, structure = tree_flatten(args[i])
        grads = []
        for j, x in enumerate(leaves):
            g = np.zeros_like(x)
            for k in range(x.size):
                basis = [np.zeros_like(y) for y in leaves]
                basis[j].flat[k] = 1.0
                g.flat[k] = _directional(f, args, i, tree_unflatten(structure, basis), eps)[0]
            grads.append(g)
        results.append(tree_unflatten(structure, grads))
    return results[0] if isinstance(argnums, int) else tuple(results)


def check_grads(f: Callable, *args: Any, modes: Sequence[str] = ("fwd", "rev"), order: int = 1,
                eps: float | None = None, rtol: float | None = None, atol: float | None = None,
                seed: int = 0) -> None:
    """Check ``f``'s derivatives in ``modes`` against numerical differences, up to ``order``.

    Every positional argument is checked, along random directions (and, for
    reverse mode on arguments up to 400 entries, entry by entry). Returns
    ``None`` when they agree; raises :class:`GradientCheckError` naming the
    argument, the worst entry, both values and the relative error.

    >>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
    >>> cr.check_grads(lambda x: cnp.sin(x) * x, np.array([0.3, 1.2]), order=2)
    """
    for mode in modes:
        if mode not in ("fwd", "rev"):
            raise ValueError(f"check_grads: unknown mode {mode!r}; use 'fwd' and/or 'rev'")
    eps = EPS if eps is None else eps
    rtol = RTOL if rtol is None else rtol
    atol = ATOL if atol is None else atol
    rng = np.random.default_rng(seed)
    args = [_as_float64(a) for a in args]
    names = _argument_names(f, len(args))
    for i in range(len(args)):
        _check_argument(f, args, i, names[i], modes, eps, rtol, atol, rng, order)


def _check_argument(f: Callable, args: list, i: int, name: str, modes: Sequence[str],
                    eps: float, rtol: float, atol: float, rng: np.random.Generator,
                    order: int, level: int = 1) -> None:
    direction = _random_like(args[i], rng)
    numeric = _directional(f, args, i, direction, eps)
    out = f(*args)
    cotangent = _random_like(_as_float64(out), rng)
    where = f"argument {i} ({name})" if name else f"argument {i}"

    def with_tangent(*a: Any) -> Any:
        tangents = [_zeros_like_tree(x) for x in a]
        tangents[i] = direction
        return jvp(f, a, tangents)[1]

    def with_cotangent(*a: Any) -> Any:
        return vjp(f, *a)[1](cotangent)[i]

    if "fwd" in modes:
        out_leaves = tree_flatten(out)[0]
        _compare(_flat(with_tangent(*args)), numeric, where, "forward mode (J·v)", level,
                 rtol, atol, out_shape=np.shape(_raw(out_leaves[0])) if len(out_leaves) == 1 else None)
    if "rev" in modes:
        analytic = with_cotangent(*args)
        if _flat(args[i]).size <= FULL_GRADIENT_MAX_SIZE:
            expected = _numerical_pullback(f, args, i, cotangent, eps)
            _compare(_flat(analytic), expected, where, "reverse mode (uᵀ·J)", level, rtol, atol,
                     out_shape=np.shape(_raw(tree_flatten(args[i])[0][0]))
                     if len(tree_flatten(args[i])[0]) == 1 else None)
        else:
            _compare(np.array([_flat(analytic) @ _flat(direction)]),
                     np.array([_flat(cotangent) @ numeric]), where,
                     "reverse mode (uᵀ·J·v)", level, rtol, atol, out_shape=None)
    if order > 1:
        looser = dict(eps=eps, rtol=rtol * 10, atol=atol * 10, rng=rng, order=order - 1,
                      level=level + 1)
        if "fwd" in modes:
            _check_argument(with_tangent, args, i, name, modes, **looser)
        if "rev" in modes:
            _check_argument(with_cotangent, args, i, name, modes, **looser)


def _numerical_pullback(f: Callable, args: list, i: int, cotangent: Any, eps: float) -> np.ndarray:
    """uᵀJ entry by entry: the numerical gradient of ⟨u, f⟩ with respect to argument i."""
    u = _flat(cotangent)
    leaves, structure = tree_flatten(args[i])
    sizes = [np.size(x) for x in leaves]
    result = np.zeros(sum(sizes))
    for k in range(result.size):
        basis = np.zeros(result.size)
        basis[k] = 1.0
        parts = np.split(basis, np.cumsum(sizes)[:-1])
        direction = tree_unflatten(structure, [p.reshape(np.shape(x)) for p, x in zip(parts, leaves)])
        result[k] = u @ _directional(f, args, i, direction, eps)
    return result


def _compare(analytic: np.ndarray, numeric: np.ndarray, where: str, what: str, level: int,
             rtol: float, atol: float, out_shape: Any) -> None:
    if analytic.shape != numeric.shape:
        raise GradientCheckError(
            f"check_grads: {what} for {where} has {analytic.size} entries but numerical "
            f"differences have {numeric.size}")
    error = np.abs(analytic - numeric)
    allowed = atol + rtol * np.abs(numeric)
    bad = ~(error <= allowed)
    if not bad.any():
        return
    worst = int(np.argmax(np.where(bad, error - allowed, -np.inf)))
    entry = np.unravel_index(worst, out_shape) if out_shape else (worst,)
    relative = error[worst] / max(np.abs(numeric[worst]), np.finfo(float).tiny)
    order = {1: "", 2: " (derivative of the derivative)"}.get(level, f" (order {level})")
    raise GradientCheckError(
        f"check_grads: {what}{order} disagrees with numerical differences for {where}: "
        f"worst entry {tuple(int(e) for e in entry)}: analytic {analytic[worst]:.10g}, "
        f"numerical {numeric[worst]:.10g}, relative error {relative:.3g} "
        f"(rtol {rtol:g}, atol {atol:g})")


def _random_like(tree: Any, rng: np.random.Generator) -> Any:
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [rng.standard_normal(np.shape(_raw(x))) for x in leaves])


def _zeros_like_tree(tree: Any) -> Any:
    leaves, structure = tree_flatten(tree)
    return tree_unflatten(structure, [np.zeros(np.shape(_raw(x))) for x in leaves])


def _argument_names(f: Callable, n: int) -> list[str]:
    try:
        params = list(inspect.signature(getattr(f, "impl", f)).parameters.values())
    except (TypeError, ValueError):
        return [""] * n
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if params and params[-1].kind == params[-1].VAR_POSITIONAL:
        names += [f"*{params[-1].name}[{k}]" for k in range(n - len(names))]
    return (names + [""] * n)[:n]
