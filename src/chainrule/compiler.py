"""``cr.compile``: record a function's primitive calls once, replay them on new arrays.

An eager call pays Python's price for every operation: finding the level that
handles it, wrapping the result, recording the node, and in reverse mode the
same again for every rule. For a function called many times on arrays of the
same shapes (a training step, the gradient of a loss) that work gives the
same answer every time. ``cr.compile(f)`` runs ``f`` once per input signature
(the shapes and dtypes of its array arguments, the values of the others) with
its arrays traced by a *record* level, the lowest transformation in play: every
primitive call that reaches it, forward operations and the derivative rules'
operations alike, is written down as (implementation, input slots, parameters,
output slot). Later calls with that signature run the list straight on the new
arrays: one NumPy call per operation, no graph, no levels, intermediate arrays
freed after their last use.

Like ``jax.jit``, this assumes ``f`` is a function of its arguments:

* Python control flow runs once, at recording: a branch on a value (``if loss
  > 0``), ``float(x)``, an index taken from a traced integer array, or
  ``cr.stop_gradient`` inside ``f`` would be frozen, so recording refuses them
  (:class:`CompileError` names the line).
* Arrays ``f`` closes over are constants of the program.
* ``f`` must be functional: ``cr.grad``/``cr.value_and_grad`` inside, not
  ``loss.backward()`` and ``.grad`` (the tape is state, not a result).

After recording, the program is checked once against ``f`` itself on inputs
nudged by a relative 2⁻¹⁰ (floating-point arguments only): a value computed
outside chainrule's primitives (NumPy called on a raw array derived from an
argument) would come out stale, and compile says so instead of returning it.
Inside another transformation, under ``detect_anomaly``, or with tensors that
require grad, the compiled function simply calls ``f``.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any, Callable, NamedTuple

import numpy as np

from chainrule._native import FAST
from chainrule.core.trace import RECORD, STATE, Trace, bind, new_trace, user_line
from chainrule.core.tensor import Tensor
from chainrule.transforms import plain_value, tree_flatten, tree_unflatten

__all__ = ["compile", "CompileError"]

_STATIC = (int, float, bool, complex, str, bytes, type(None))


class CompileError(RuntimeError):
    """``f`` cannot be recorded as a fixed list of operations (the message says why)."""


class _Recorder(Trace):
    """The record level: writes down each primitive call that reaches it."""

    __slots__ = ("steps", "values", "constant", "slot_of", "boxes", "escaped_at", "outside")

    def __init__(self, level: int, kind: str, size: int = 0) -> None:
        super().__init__(level, kind, size)
        self.steps: list = []       # (impl, argument slots, params, result slot)
        self.values: list = []      # per slot: the value it held while recording
        self.constant: list = []    # per slot: is it a constant of the program?
        self.slot_of: dict = {}     # id(tensor of this level) -> slot
        self.boxes: list = []       # those tensors, alive while recording (ids stay unique)
        self.escaped_at = None      # where f first read a recorded value out
        self.outside = None         # what a lower level tracked (a tape or an outer transform)

    def _new_slot(self, value: Any, constant: bool) -> int:
        self.values.append(value)
        self.constant.append(constant)
        return len(self.values) - 1

    def box(self, value: Any) -> Tensor:
        """An argument: a slot filled by each call, and a tensor of this level for ``f``."""
        return self._traced(value, self._new_slot(value, False))

    def _traced(self, value: Any, slot: int) -> Tensor:
        t = Tensor(value, self)
        self.slot_of[id(t)] = slot
        self.boxes.append(t)
        return t

    def slot(self, x: Any) -> int:
        """The slot of an operand: its own if it is a recorded value, else a new constant."""
        if x.__class__ is Tensor:
            if x._level == self.level:
                return self.slot_of[id(x)]
            if x._level > 0 or x._node is not None or x.requires_grad:
                self.outside = self.outside or (
                    f"a tensor that the tape or an enclosing transformation tracks (shape "
                    f"{x.shape}) was used{user_line()}")
            x = x.raw()
        return self._new_slot(x, True)

    def record(self, prim: Any, args: tuple, params: dict) -> Tensor:
        level = self.level
        inner = [x._value if x.__class__ is Tensor and x._level == level else x for x in args]
        slots = tuple(self.slot(x) for x in args)
        out = bind(prim, *inner, **params)
        if out.__class__ is Tensor:   # a level below took part: not replayable
            self.slot(out)
        result = self._new_slot(out, False)
        self.steps.append((prim.impl, slots, params, result))
        return self._traced(out, result)

    def escaped(self, t: Tensor) -> None:
        """``f`` read a recorded value out (``float``, ``bool``, an index, ``stop_gradient``)."""
        if self.escaped_at is None:
            self.escaped_at = user_line() or " (inside chainrule)"


class _Step(NamedTuple):
    impl: Callable
    n: int                 # how many operands
    a: int | None          # the first two operands' slots (spelled out for speed)
    b: int | None
    args: tuple            # every operand's slot
    params: dict | None
    out: int               # the result's slot
    dead: tuple            # slots released after this step
    into: int | None       # the slot whose buffer takes the result, if any


class _Program:
    """A recorded function: operations on numbered slots, ready to run on new arrays."""

    __slots__ = ("template", "inputs", "steps", "outputs", "structure", "native")

    def __init__(self, recorder: _Recorder, inputs: list[int], outputs: list[int],
                 structure: Any) -> None:
        self.template = [v if c else None for v, c in zip(recorder.values, recorder.constant)]
        self.inputs, self.outputs, self.structure = inputs, outputs, structure
        keep = set(outputs)
        last_use: dict[int, int] = {}
        for i, (_, args, _, _) in enumerate(recorder.steps):
            for s in args:
                if not recorder.constant[s]:
                    last_use[s] = i
        dead: list[list[int]] = [[] for _ in recorder.steps]
        for s, i in last_use.items():
            if s not in keep:
                dead[i].append(s)
        into = _reusable_buffers(recorder, set(inputs) | keep, last_use)
        # one- and two-operand steps without parameters are nearly all of them: spelled
        # out in ``run`` they skip building an argument list (a third of the time)
        self.steps = [_Step(impl, len(args), args[0] if args else None,
                            args[1] if len(args) > 1 else None, args, params or None, out,
                            tuple(d), into.get(i))
                      for i, ((impl, args, params, out), d) in enumerate(zip(recorder.steps, dead))]
        # the same steps for the C loop (_fast.c's replay), where it is built
        self.native = None
        if FAST is not None and all(step.n < _NATIVE_OPERANDS for step in self.steps):
            self.native = tuple((step.impl, step.args, step.params, step.out, step.dead,
                                 -1 if step.into is None else step.into) for step in self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def run(self, leaves: list) -> Any:
        slots = self.template.copy()
        for s, value in zip(self.inputs, leaves):
            slots[s] = value
        if self.native is not None:
            FAST.replay(self.native, slots)
            return tree_unflatten(self.structure, [plain_value(slots[s]) for s in self.outputs])
        for impl, n, a, b, args, params, out, dead, into in self.steps:
            if into is not None:   # an operand dies here: the result goes into its buffer
                if n == 2:
                    slots[out] = impl(slots[a], slots[b], out=slots[into])
                else:
                    slots[out] = impl(*[slots[i] for i in args], out=slots[into])
            elif params is not None:
                slots[out] = impl(*[slots[i] for i in args], **params)
            elif n == 2:
                slots[out] = impl(slots[a], slots[b])
            elif n == 1:
                slots[out] = impl(slots[a])
            else:
                slots[out] = impl(*[slots[i] for i in args])
            if dead:
                for s in dead:
                    slots[s] = None
        return tree_unflatten(self.structure, [plain_value(slots[s]) for s in self.outputs])


_REUSE_BYTES = 1 << 16
_NATIVE_OPERANDS = 16   # the C loop's limit (MAX_INPUTS in _fast.c): more goes to Python


def _reusable_buffers(recorder: _Recorder, kept: set, last_use: dict) -> dict[int, int]:
    """Step -> the slot of an operand whose buffer can take the step's result.

    As a careful programmer writes ``z += b``: a NumPy ufunc's result may go
    into an operand that dies at that step, if the operand is an intermediate
    (not an argument, a constant or an output), owns its memory (no view of it,
    nor it a view, nor the same array in another slot), has the result's shape
    and dtype, and is large enough (64 KiB) for a fresh array to cost more than
    the keyword argument. What held while recording holds at every replay: the same
    operations on arrays of the same shapes make the same arrays and views.
    """
    values = recorder.values
    arrays = [v for v in values if type(v) is np.ndarray]
    seen: dict[int, int] = {}
    for v in arrays:
        seen[id(v)] = seen.get(id(v), 0) + 1
    viewed = {id(v.base) for v in arrays if v.base is not None}
    into: dict[int, int] = {}
    for i, (impl, args, params, out) in enumerate(recorder.steps):
        result = values[out]
        if not (isinstance(impl, np.ufunc) and impl.nout == 1 and not params
                and type(result) is np.ndarray):
            continue
        for s in args:
            v = values[s]
            if (not recorder.constant[s] and s not in kept and last_use.get(s) == i
                    and type(v) is np.ndarray and v.base is None and seen[id(v)] == 1
                    and id(v) not in viewed and v.flags.writeable and v.flags.c_contiguous
                    and v.shape == result.shape and v.dtype == result.dtype
                    and v.nbytes >= _REUSE_BYTES):
                into[i] = s
                break
    return into


class Compiled:
    """``f`` with a recorded program per input signature (``cr.compile(f)``)."""

    def __init__(self, f: Callable, check: bool = True, max_programs: int = 16) -> None:
        functools.update_wrapper(self, f)
        self.f, self.check, self.max_programs = f, check, max_programs
        self.programs: OrderedDict = OrderedDict()
        self.stats = {"recorded": 0, "replayed": 0, "eager": 0}

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves, structure = tree_flatten((args, kwargs))
        key = _signature(leaves, structure)
        if key is None or STATE.anomaly:   # traced or tracked inputs, or checking every op
            self.stats["eager"] += 1
            return self.f(*args, **kwargs)
        arrays = [_raw(x) for x in leaves if _is_array(x)]
        program = self.programs.get(key)
        if program is not None:
            self.programs.move_to_end(key)
            self.stats["replayed"] += 1
            return program.run(arrays)
        result, program = self._record(leaves, structure)
        if self.check:
            self._check(program, leaves, structure)
        self.programs[key] = program
        if len(self.programs) > self.max_programs:
            self.programs.popitem(last=False)
        self.stats["recorded"] += 1
        return result

    def _record(self, leaves: list, structure: Any) -> tuple[Any, _Program]:
        recorder = new_trace(RECORD, factory=_Recorder)
        boxed = [recorder.box(_raw(x)) if _is_array(x) else x for x in leaves]
        args, kwargs = tree_unflatten(structure, boxed)
        out = self.f(*args, **kwargs)
        out_leaves, out_structure = tree_flatten(out)
        outputs = [recorder.slot(x) for x in out_leaves]
        name = getattr(self.f, "__name__", "f")
        if recorder.escaped_at is not None:
            raise CompileError(
                f"cr.compile({name}): the function reads a value while it is recorded "
                f"(float(), bool(), an if on an array, an index from an array argument, "
                f"cr.stop_gradient){recorder.escaped_at}; the recording would freeze it. "
                f"Keep such logic outside the compiled function, or call it uncompiled")
        if recorder.outside is not None:
            raise CompileError(f"cr.compile({name}): {recorder.outside}; pass it as an "
                               f"argument (and differentiate inside with cr.grad)")
        inputs = [recorder.slot_of[id(b)] for b in boxed if b.__class__ is Tensor
                  and b._trace is recorder]
        program = _Program(recorder, inputs, outputs, out_structure)
        values = [plain_value(recorder.values[s]) for s in outputs]
        return tree_unflatten(out_structure, values), program

    def _check(self, program: _Program, leaves: list, structure: Any) -> None:
        """Run ``f`` and the program on nudged inputs: the same numbers, or an error."""
        rng = np.random.default_rng(0)
        nudged = [_nudge(_raw(x), rng) if _is_array(x) else x for x in leaves]
        args, kwargs = tree_unflatten(structure, nudged)
        expected, _ = tree_flatten(self.f(*args, **kwargs))
        got, _ = tree_flatten(program.run([x for x in nudged if _is_array(x)]))
        for e, g in zip(expected, got):
            e, g = np.asarray(_raw(e)), np.asarray(g)
            if e.shape != g.shape or not np.allclose(e, g, rtol=1e-9, atol=0, equal_nan=True):
                name = getattr(self.f, "__name__", "f")
                raise CompileError(
                    f"cr.compile({name}): the recorded program does not reproduce the "
                    f"function on other inputs: it computes some value outside chainrule's "
                    f"operations (NumPy on an array derived from an argument, a cached "
                    f"result) that the recording froze; use chainrule.numpy for it, or call "
                    f"the function uncompiled")


def _is_array(x: Any) -> bool:
    return isinstance(x, (np.ndarray, np.generic, Tensor))


def _raw(x: Any) -> Any:
    return x._value if isinstance(x, Tensor) else x


def _signature(leaves: list, structure: Any) -> Any:
    """What a program depends on: array shapes and dtypes, the other arguments' values."""
    parts = []
    for x in leaves:
        if isinstance(x, Tensor):
            if x._level > 0 or x._node is not None or x.requires_grad:
                return None
            x = x._value
        if isinstance(x, (np.ndarray, np.generic)):
            parts.append((x.shape, x.dtype.str))
        elif isinstance(x, _STATIC):
            parts.append((type(x), x))
        else:
            raise TypeError(f"cr.compile: arguments must be arrays, numbers, strings or trees "
                            f"of them, not {type(x).__name__}")
    return repr(structure), tuple(parts)   # (the tree's description holds lists: repr it)


def _nudge(x: Any, rng: np.random.Generator) -> Any:
    x = np.asarray(x)
    if x.dtype.kind not in "fc":
        return x
    return (x * (1 + 2.0 ** -10 * rng.uniform(-1, 1, size=x.shape))).astype(x.dtype)


def compile(f: Callable | None = None, *, check: bool = True, max_programs: int = 16) -> Any:
    """``f`` recorded once per input signature and replayed after (see the module's text).

    >>> import numpy as np, chainrule as cr, chainrule.numpy as cnp
    >>> grad = cr.compile(cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2)))
    >>> x = np.array([0.5, -1.0])
    >>> np.allclose(grad(x), cr.grad(lambda x: cnp.sum(cnp.tanh(x) ** 2))(x))
    True
    >>> np.allclose(grad(x + 1), 2 * np.tanh(x + 1) * (1 - np.tanh(x + 1) ** 2))  # replayed
    True
    """
    if f is None:
        return lambda fn: Compiled(fn, check, max_programs)
    return Compiled(f, check, max_programs)
