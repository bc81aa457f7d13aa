"""Levels, and how a primitive call finds the transformation that handles it.

Every transformation in progress owns a *level*: the imperative tape is level
0, and each ``grad``/``vjp``/``jvp`` call opens a new, higher one. A traced
value is a :class:`~chainrule.core.tensor.Tensor` tagged with its level; its
``_value`` is the value one level down (a raw array or a lower-level Tensor).

A primitive call is handled by the highest level among its inputs. That level
unwraps its own tensors, calls the primitive again on the values beneath (so
the levels below see and record the call too), and wraps the result. Values
of different levels never mix, which is what keeps nested derivatives free of
perturbation confusion.
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback
from typing import Any

from chainrule._native import FAST
from chainrule.ops._primitive import MISSING, Primitive, missing_rule

TAPE, REVERSE, FORWARD, BATCH, RECORD = "tape", "reverse", "forward", "batch", "record"


class Trace:
    """One transformation in progress (or the imperative tape, level 0)."""

    __slots__ = ("level", "kind", "size")

    def __init__(self, level: int, kind: str, size: int = 0) -> None:
        self.level = level
        self.kind = kind
        self.size = size  # the batch length, for a batch trace (vmap)

    def __repr__(self) -> str:
        return f"<{self.kind} trace, level {self.level}>"


class _State:
    """Process-wide switches; read on every primitive call, so kept flat."""

    __slots__ = ("grad_enabled", "floor", "anomaly", "changes")

    def __init__(self) -> None:
        self.grad_enabled = True   # does the tape (level 0) record?
        self.floor = 0             # levels below this record nothing (no_grad)
        self.anomaly = False       # check every result for NaN/inf
        self.changes = 0           # in-place changes so far (a clock for version checks)


STATE = _State()
TAPE_TRACE = Trace(0, TAPE)
_last_level = 0
_sequence = itertools.count()  # creation order of graph nodes: a topological order


def new_trace(kind: str, size: int = 0, factory: type = Trace) -> Trace:
    """Open a level above every existing one (``factory``: a Trace subclass with more state)."""
    global _last_level
    _last_level += 1
    return factory(_last_level, kind, size)


def next_level() -> int:
    """The level the next transformation will get (``no_grad``'s floor)."""
    return _last_level + 1


# --- dispatch ---------------------------------------------------------------------

def bind(prim: Primitive, *args: Any, **params: Any) -> Any:
    """Apply ``prim`` to ``args``: the hot path of the whole library.

    Installed as ``Primitive.__call__``: calling a primitive calls this. Plain
    values go straight to the implementation; level-0 tensors (the tape) are
    handled here in one pass; traced values go to their transformation.
    """
    for x in args:
        if x.__class__ is Tensor:
            break
    else:  # plain values only: the implementation, nothing else
        try:
            out = prim.impl(*args, **params)
        except (ValueError, TypeError, IndexError) as error:
            raise _op_error(prim, args, error) from None
        if STATE.anomaly:
            check_finite(out, f"{prim.name} (forward)")
        return out
    raw = []
    record = False
    for x in args:
        if x.__class__ is Tensor:
            if x._level:
                return _bind_traced(prim, args, params)
            record = record or x.requires_grad
            raw.append(x._value)
        else:
            raw.append(x)
    try:
        out = prim.impl(*raw, **params)
    except (ValueError, TypeError, IndexError) as error:
        raise _op_error(prim, args, error) from None
    if STATE.anomaly:
        check_finite(out, f"{prim.name} (forward)")
    if record and STATE.grad_enabled and prim.differentiable:
        return Tensor(out, TAPE_TRACE, Node(prim, args, params, out), True)
    return Tensor(out)


def _bind_traced(prim: Primitive, args: tuple, params: dict) -> Any:
    """Some input is traced by a transformation: the highest level handles the call."""
    top = None
    for x in args:
        if x.__class__ is Tensor and (top is None or x._level > top._level):
            top = x
    level = top._level
    kind = top._trace.kind
    if kind is BATCH:  # mapping is not differentiating: no_grad and constants don't apply
        return _batch_call(prim, args, params, top._trace)
    if kind is RECORD:  # cr.compile writes the call down (its trace knows how: compiler.py)
        return top._trace.record(prim, args, params)
    if level < STATE.floor or not prim.differentiable:
        return _call_below(prim, args, params, level)
    if kind is REVERSE:
        return _reverse_call(prim, args, params, top._trace)
    return _forward_call(prim, args, params, top._trace)


def _call_below(prim: Primitive, args: tuple, params: dict, level: int) -> Any:
    """``level`` does not record: take its tensors' values and go one level down."""
    inner = [x._value if x.__class__ is Tensor and x._level == level else x for x in args]
    return bind(prim, *inner, **params)


def _reverse_call(prim: Primitive, args: tuple, params: dict, trace: Trace) -> Any:
    level = trace.level
    inner = [x._value if x.__class__ is Tensor and x._level == level else x for x in args]
    out = bind(prim, *inner, **params)
    return Tensor(out, trace, Node(prim, args, params, out), True)


def _forward_call(prim: Primitive, args: tuple, params: dict, trace: Trace) -> Any:
    level = trace.level
    primals, tangents = [], []
    for x in args:
        if x.__class__ is Tensor and x._level == level:
            primals.append(x._value)
            tangents.append(x._tangent)
        else:
            primals.append(x)
            tangents.append(None)
    out = bind(prim, *primals, **params)
    tangent = forward_tangent(prim, out, primals, tangents, params)
    return Tensor(out, trace, None, True, tangent)


def _batch_call(prim: Primitive, args: tuple, params: dict, trace: Trace) -> Any:
    """vmap: apply the op to every batch entry at once (the op's batching rule)."""
    level = trace.level
    values, batched = [], []
    for x in args:
        mine = x.__class__ is Tensor and x._level == level
        values.append(x._value if mine else x)
        batched.append(mine)
    out = apply_batched(prim, values, batched, trace.size, params)
    return Tensor(out, trace)


def forward_tangent(prim: Primitive, out: Any, primals: list, tangents: list, params: dict) -> Any:
    """v̇_out = Σ_i ∂out/∂v_i · v̇_i, from the primitive's JVP rules."""
    from chainrule.core.backward import fit_to

    if prim.jvp_all is not None:
        total = prim.jvp_all(tangents, out, *primals, **params)
    else:
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            rule = prim.jvp_rule(i)
            if rule is None:
                continue
            if rule is MISSING:
                raise missing_rule(prim, i, "forward")
            contribution = rule(t, out, *primals, **params)
            total = contribution if total is None else add(total, contribution)
    if total is None:
        return zeros_like(out)
    total = fit_to(total, shape_of(out), dtype_of(out), broadcast=True)
    if STATE.anomaly:
        check_finite(total, f"{prim.name} (forward-mode tangent)")
    return total


# --- helpers -----------------------------------------------------------------------

def shape_of(x: Any) -> tuple:
    shape = getattr(x, "shape", None)
    return () if shape is None else tuple(shape)


def dtype_of(x: Any) -> Any:
    dtype = getattr(x, "dtype", None)
    return np_dtype(type(x)) if dtype is None else dtype


def np_dtype(kind: type) -> Any:
    import numpy
    return numpy.result_type(kind)


def _op_error(prim: Primitive, args: tuple, error: Exception) -> Exception:
    shapes = [shape_of(x) for x in args if hasattr(x, "shape")]
    if len(shapes) >= 2:
        listed = ", ".join(str(s) for s in shapes[:-1]) + f" and {shapes[-1]}"
        what = f"shapes {listed} {prim.shape_error}"
    elif shapes:
        what = f"cannot be applied to shape {shapes[0]}"
    else:
        what = f"cannot be applied to {', '.join(type(x).__name__ for x in args)}"
    message = f"{prim.name}: {what} ({error}){user_line()}"
    return type(error)(message)


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def user_frame() -> traceback.FrameSummary | None:
    """The innermost stack frame outside chainrule: the user's line."""
    frame = sys._getframe(1)
    while frame is not None:
        if not os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
            return traceback.FrameSummary(frame.f_code.co_filename, frame.f_lineno,
                                          frame.f_code.co_name)
        frame = frame.f_back
    return None


def user_line() -> str:
    frame = user_frame()
    return "" if frame is None else f" [at {frame.filename}:{frame.lineno}]"


def check_finite(value: Any, what: str, where: str = "") -> None:
    """Raise ``FloatingPointError`` if ``value`` holds a NaN or an infinity."""
    import numpy
    raw = value
    while isinstance(raw, Tensor):
        raw = raw._value
    raw = numpy.asarray(raw)
    if raw.dtype.kind in "fc" and not numpy.isfinite(raw).all():
        bad = "NaN" if numpy.isnan(raw).any() else "infinity"
        raise Anomaly(f"detect_anomaly: {what} produced {bad}{where or user_line()}", bad)


class Anomaly(FloatingPointError):
    """A NaN or an infinity found by ``detect_anomaly``; ``.bad`` says which."""

    def __init__(self, message: str, bad: str) -> None:
        super().__init__(message)
        self.bad = bad


from chainrule.core.tensor import Node, Tensor  # noqa: E402  (tensor.py needs this module)
from chainrule.ops.batching import apply_batched  # noqa: E402
from chainrule.ops.elementwise import add  # noqa: E402
from chainrule.ops.creation import zeros_like  # noqa: E402

# bind's common cases in C where the fast path is built (chainrule/_fast.c); bind is the rest
Primitive.__call__ = FAST.Bind(bind, Node) if FAST else bind  # type: ignore[method-assign]
