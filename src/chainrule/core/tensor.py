"""The Tensor: a value plus its autodiff state, and the graph node that made it.

One class serves the imperative tape (level 0: ``cr.tensor(..., requires_grad=True)``,
``backward()``, ``.grad``) and every functional transformation (a tracer at
a higher level). A tensor's ``_value`` is the value one level down.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as _np  # only for conversions at the edge (__array__, repr, tensor())

from chainrule._native import FAST
from chainrule.backend import xp
from chainrule.core.trace import BATCH, RECORD, STATE, TAPE_TRACE, Trace, _sequence, user_frame


_TRANSFORM_NAMES = {"reverse": "grad/vjp/jacrev", "forward": "jvp/jacfwd", "batch": "vmap",
                    "record": "compile"}


class Node:
    """How a tensor was computed: the primitive, its inputs and its output value.

    ``args`` keeps the inputs as given (tensors are the parents in the graph);
    ``out`` is the output one level down. Both are dropped once the reverse
    pass is past the node, unless the graph is retained.
    """

    __slots__ = ("prim", "args", "params", "out", "seq", "clock", "grad", "site")

    def __init__(self, prim: Any, args: tuple, params: dict, out: Any) -> None:
        self.prim = prim
        self.args = args
        self.params = params
        self.out = out
        self.seq = next(_sequence)
        self.grad = None
        # the in-place clock when it was made: a leaf it read whose version (the clock at its
        # last in-place change) is later has been changed since, and its gradient would be wrong
        self.clock = STATE.changes
        self.site = user_frame() if STATE.anomaly else None

    def __repr__(self) -> str:
        return f"<node {self.prim.name} #{self.seq}>"


# With the C module, TensorBase holds these slots and runs the operators' fast path.
_SLOTS = ("_value", "_trace", "_level", "_node", "_tangent", "requires_grad", "grad", "_version",
          "__weakref__")


def _scaled_inplace(what: str, value: Any, other: Any, alpha: Any) -> None:
    """``value += alpha * other`` in place, the product rounded to ``value``'s type as NumPy's
    ``value += value.dtype.type(alpha) * other`` would round it (one pass in C where it can)."""
    dtype = _np.result_type(value)
    if dtype.kind in "iub" and not float(alpha).is_integer():
        raise TypeError(f"{what}: alpha={alpha!r} is not a whole number, and this tensor holds "
                        f"{dtype} values; use a float tensor or a whole alpha")
    if FAST is not None and type(other) is _np.ndarray and type(value) is _np.ndarray \
            and dtype.kind == "f" and FAST.axpy(value, other, alpha):
        return
    _np.add(value, _np.multiply(other, dtype.type(alpha)), out=value, casting="same_kind")


class Tensor(FAST.TensorBase if FAST else object):
    """An array that remembers how it was computed.

    >>> import chainrule as cr
    >>> x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = () if FAST else _SLOTS
    __array_ufunc__ = None  # NumPy defers to our reflected operators: ndarray * Tensor -> Tensor
    __array_priority__ = 1000

    def __init__(self, value: Any, trace: Trace = TAPE_TRACE, node: Node | None = None,
                 requires_grad: bool = False, tangent: Any = None) -> None:
        self._value = value
        self._trace = trace
        self._level = trace.level
        self._node = node
        self._tangent = tangent
        self.requires_grad = requires_grad
        self.grad = None
        self._version = 0

    # --- what it is -------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        shape = tuple(getattr(self._value, "shape", ()))
        return shape[1:] if self._trace.kind is BATCH else shape  # vmap: one example's shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def dtype(self) -> Any:
        return _np.result_type(self._value) if not hasattr(self._value, "dtype") else self._value.dtype

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self) -> Tensor:
        return shapes.transpose(self)

    def raw(self) -> Any:
        """The plain array under every level (no graph, no tracing)."""
        value, t = self._value, self
        while True:
            if t._trace.kind is RECORD:   # cr.compile: the program now depends on a value
                t._trace.escaped(t)
            if value.__class__ is not Tensor:
                return value
            value, t = value._value, value

    def numpy(self) -> _np.ndarray:
        """The value as a NumPy array (shares memory with a level-0 tensor)."""
        return _np.asarray(self.raw())

    def item(self) -> Any:
        return self.numpy().item()

    def detach(self) -> Tensor:
        """The same value, cut from every graph and transformation."""
        return Tensor(self.raw())

    def tolist(self) -> Any:
        return self.numpy().tolist()

    def __array__(self, dtype: Any = None, copy: Any = None) -> _np.ndarray:
        if self._level > 0:
            # NumPy would take the value and silently drop the derivative: say so instead.
            raise TypeError(
                f"a value traced by cr.{_TRANSFORM_NAMES.get(self._trace.kind, 'transform')} "
                f"(shape {self.shape}) was converted to a NumPy array, which would lose its "
                f"derivative; use chainrule.numpy (cnp) instead of numpy inside the function, "
                f"cr.index_update instead of writing into an array, or cr.stop_gradient(x) "
                f"if the value is meant to be a constant")
        array = _np.asarray(self._value, dtype=dtype)
        return array.copy() if copy else array

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __bool__(self) -> bool:
        return bool(self.raw())

    def __float__(self) -> float:
        return float(self.raw())

    def __int__(self) -> int:
        return int(self.raw())

    def __index__(self) -> int:
        return self.raw().__index__()

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        if self._level > 0:
            return (f"Tensor(<traced by a {self._trace.kind} transformation, level {self._level}>, "
                    f"shape={self.shape}, dtype={self.dtype})")
        body = _np.array2string(_np.asarray(self._value), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (_np.float64, _np.int64, _np.bool_):
            extra += f", dtype={self.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.prim.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # --- reverse mode -------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires it.

        ``gradient`` (the seed, shaped like ``self``) is required unless ``self``
        is a scalar. With ``create_graph=True`` the gradients are themselves
        differentiable (and the graph is retained).
        """
        from chainrule.core.backward import tape_backward
        tape_backward(self, gradient, retain_graph, create_graph)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if self._node is not None:
            raise RuntimeError("requires_grad_: only a leaf tensor's flag can be changed; "
                               "use .detach().requires_grad_() for a new leaf")
        _check_floating(self, "requires_grad_")
        self.requires_grad = requires_grad
        return self

    # --- operators ------------------------------------------------------------------------
    # The arithmetic and comparison operators (__add__, __rmul__, __neg__, __lt__, ...) are
    # installed at the end of this module, once the ops are imported: see _OPERATORS.
    def __pos__(self): return self

    def __getitem__(self, index: Any) -> Tensor:
        return indexing.getitem(self, index=_raw_index(index))

    @property
    def at(self) -> _IndexedUpdate:
        """Functional updates, JAX style: ``x.at[i].set(v)``, ``x.at[i].add(v)`` (new tensors)."""
        return _IndexedUpdate(self)

    # --- in place: only where no graph can see it ---------------------------------------
    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("item assignment (x[i] = v)")
        raw = value.raw() if isinstance(value, Tensor) else value
        self._value[_raw_index(index)] = raw
        STATE.changes += 1
        self._version = STATE.changes

    def _check_inplace(self, what: str) -> None:
        if self._level > 0 or self._node is not None:
            raise RuntimeError(
                f"{what}: this tensor is part of a computational graph, and changing it in "
                f"place would make its gradient wrong; use the functional form "
                f"cr.index_update(x, index, value) (or x = x + y) instead")
        if self.requires_grad and STATE.grad_enabled:
            raise RuntimeError(
                f"{what}: a leaf tensor that requires grad cannot be changed in place while "
                f"gradients are recorded; wrap the update in `with cr.no_grad():`")

    def _inplace(self, what: str, other: Any, ufunc: Any, alpha: Any = 1) -> Tensor:
        self._check_inplace(what)
        raw = other.raw() if isinstance(other, Tensor) else other
        if ufunc is None:
            self._value[...] = raw
        elif alpha != 1:
            _scaled_inplace(what, self._value, raw, -alpha if ufunc is _np.subtract else alpha)
        else:
            ufunc(self._value, raw, out=self._value, casting="same_kind")
        STATE.changes += 1
        self._version = STATE.changes
        return self

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place (``alpha`` in the tensor's type, as PyTorch's)."""
        return self._inplace("add_", other, _np.add, alpha)

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place: an optimizer's step, one pass over the weights.

        >>> import chainrule as cr
        >>> w = cr.tensor([1.0, 2.0])
        >>> w.sub_(cr.tensor([10.0, 30.0]), alpha=0.1).tolist()
        [0.0, -1.0]
        """
        return self._inplace("sub_", other, _np.subtract, alpha)

    def mul_(self, other: Any) -> Tensor: return self._inplace("mul_", other, _np.multiply)
    def div_(self, other: Any) -> Tensor: return self._inplace("div_", other, _np.divide)
    def copy_(self, other: Any) -> Tensor: return self._inplace("copy_", other, None)
    def fill_(self, value: Any) -> Tensor: return self._inplace("fill_", value, None)
    def zero_(self) -> Tensor: return self._inplace("zero_", 0, None)

    def _augmented(self, other: Any, what: str, ufunc: Any, op: Any) -> Tensor:
        # NumPy semantics (in place) for a plain tensor; a tensor in a graph or a
        # traced value is rebound to the new result instead, as `x = x + y` would be.
        if self._level > 0 or self._node is not None:
            return op(self, other)
        return self._inplace(what, other, ufunc)

    def __iadd__(self, other): return self._augmented(other, "+=", _np.add, elementwise.add)
    def __isub__(self, other): return self._augmented(other, "-=", _np.subtract, elementwise.subtract)
    def __imul__(self, other): return self._augmented(other, "*=", _np.multiply, elementwise.multiply)
    def __itruediv__(self, other): return self._augmented(other, "/=", _np.divide, elementwise.divide)

    # --- methods mirroring the facade ---------------------------------------------------
    # sum, mean, prod, max, min: installed at the end of this module (see _reduction)
    def var(self, axis=None, ddof=0, keepdims=False):
        return reductions.var(self, axis=axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis=None, ddof=0, keepdims=False):
        return reductions.std(self, axis=axis, ddof=ddof, keepdims=keepdims)
    def argmax(self, axis=None): return compare.argmax(self, axis=axis)
    def argmin(self, axis=None): return compare.argmin(self, axis=axis)

    def reshape(self, *shape_):
        target = shape_[0] if len(shape_) == 1 and isinstance(shape_[0], (tuple, list)) else shape_
        return shapes.reshape(self, shape=tuple(target))

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return shapes.transpose(self, axes=axes or None)

    def ravel(self): return shapes.reshape(self, shape=(-1,))
    flatten = ravel
    def squeeze(self, axis=None): return shapes.squeeze(self, axis=axis)
    def astype(self, dtype): return elementwise.astype(self, dtype=_np.dtype(dtype))
    def dot(self, other): return linalg.dot(self, other)
    def clip(self, lo=None, hi=None): return elementwise.clip(self, lo, hi)

    def swapaxes(self, axis1, axis2): return shapes.swapaxes(self, axis1, axis2)
    def cumsum(self, axis=None): return cumulative.cumsum(self, axis=axis)
    def diagonal(self, offset=0, axis1=0, axis2=1): return linalg.diagonal(self, offset, axis1, axis2)
    def trace(self, offset=0, axis1=0, axis2=1): return linalg.trace(self, offset, axis1, axis2)
    def copy(self) -> Tensor:
        """A new array with the same values; in a graph it stays connected (like x * 1)."""
        if self._level > 0 or self.requires_grad:
            return elementwise.multiply(self, 1)
        return Tensor(_np.array(self._value, copy=True))

    def all(self, axis=None): return Tensor(_np.all(self.raw(), axis=axis))
    def any(self, axis=None): return Tensor(_np.any(self.raw(), axis=axis))

    def exp(self): return elementwise.exp(self)
    def log(self): return elementwise.log(self)
    def sqrt(self): return elementwise.sqrt(self)
    def sin(self): return elementwise.sin(self)
    def cos(self): return elementwise.cos(self)
    def tanh(self): return elementwise.tanh(self)
    def abs(self): return elementwise.abs(self)
    def sigmoid(self): return nnops.sigmoid(self)
    def relu(self): return nnops.relu(self)
    def softmax(self, axis=-1): return nnops.softmax(self, axis=axis)
    def log_softmax(self, axis=-1): return nnops.log_softmax(self, axis=axis)


class _IndexedUpdate:
    """``x.at[index]``: ``.set(v)`` is ``cr.index_update(x, index, v)``; ``.add(v)`` adds,
    accumulating at repeated indices; ``.get()`` is ``x[index]``."""

    __slots__ = ("x", "index")

    def __init__(self, x: Tensor, index: Any = None) -> None:
        self.x, self.index = x, index

    def __getitem__(self, index: Any) -> _IndexedUpdate:
        return _IndexedUpdate(self.x, _raw_index(index))

    def set(self, value: Any) -> Tensor: return indexing.index_update(self.x, self.index, value)
    def add(self, value: Any) -> Tensor: return indexing.index_add(self.x, self.index, value)
    def get(self) -> Tensor: return self.x[self.index]


def _raw_index(index: Any) -> Any:
    """Indices are never differentiated: take the values under any tensors."""
    if isinstance(index, Tensor):
        return index.raw()
    if isinstance(index, tuple):
        return tuple(i.raw() if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list) and any(isinstance(i, Tensor) for i in index):
        return [i.raw() if isinstance(i, Tensor) else i for i in index]
    return index


def _check_floating(t: Tensor, what: str) -> None:
    if _np.dtype(t.dtype).kind not in "fc":
        raise TypeError(f"{what}: only floating-point tensors can require gradients, "
                        f"got dtype {t.dtype}; convert with .astype('float64')")


def tensor(data: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Make a leaf tensor from a number, a nested list, an array or a tensor (copied).

    Python floats become float64 unless ``dtype`` says otherwise; NumPy arrays keep
    their dtype.

    >>> import chainrule as cr
    >>> cr.tensor([[1, 2], [3, 4]], dtype="float32", requires_grad=True).shape
    (2, 2)
    """
    if isinstance(data, Tensor):
        data = data.raw()
    elif isinstance(data, (list, tuple)):
        data = [d.raw() if isinstance(d, Tensor) else d for d in data]
    value = _np.array(data, dtype=dtype, copy=True)
    if value.dtype == object:
        raise TypeError(f"tensor: cannot make a numeric tensor from {type(data).__name__} "
                        f"data of mixed or ragged shape")
    t = Tensor(value)
    if requires_grad:
        _check_floating(t, "tensor")
        t.requires_grad = True
    return t


from chainrule.ops import (  # noqa: E402  (the ops import nothing from here)
    compare, cumulative, elementwise, indexing, linalg, nnops, reductions,
)
from chainrule.ops import shape as shapes  # noqa: E402


# --- operators and reductions, each with the fast path ---------------------------------------
#
# When nothing tracks the operands (no transformation, no gradient required, no anomaly
# check), an operator is the NumPy call and one wrapper: the general dispatch (``bind``)
# would give the same result after a few loops over the arguments. Errors go to the
# general path, which names the operation and the shapes.

_UNTRACKED = object()   # stands for an operand that a transformation or the tape tracks


def binary_operator(prim: Any, reflected: bool = False, general: Any = None) -> Any:
    """``self op other`` (``other op self`` if ``reflected``) with the fast path first.

    Tensor's operators are made with it, and so are the facade's binary ufuncs.
    """
    impl, general = prim.impl, general or prim

    def op(self: Tensor, other: Any) -> Any:
        if not (self._level or self.requires_grad or STATE.anomaly):
            value = other
            if other.__class__ is Tensor:
                value = _UNTRACKED if other._level or other.requires_grad else other._value
            if value is not _UNTRACKED:
                try:
                    return Tensor(impl(value, self._value) if reflected else impl(self._value, value))
                except (ValueError, TypeError, IndexError):
                    pass
        return general(other, self) if reflected else general(self, other)

    return op


def unary_operator(prim: Any) -> Any:
    """``op self`` with the fast path first (Tensor's ``-x``, ``abs(x)``; the facade's unary ufuncs)."""
    impl = prim.impl

    def op(self: Tensor) -> Any:
        if not (self._level or self.requires_grad or STATE.anomaly):
            try:
                return Tensor(impl(self._value))
            except (ValueError, TypeError):
                pass
        return prim(self)

    return op


def _reduction(prim: Any) -> Any:
    impl = prim.impl

    def method(self: Tensor, axis: Any = None, keepdims: bool = False) -> Any:
        if not (self._level or self.requires_grad or STATE.anomaly):
            try:
                return Tensor(impl(self._value, axis=axis, keepdims=keepdims))
            except (ValueError, TypeError, IndexError):
                pass
        return prim(self, axis=axis, keepdims=keepdims)

    method.__name__ = prim.name
    return method


# What the facade's ufuncs hand to NumPy's own ufunc unchanged: arrays and numbers.
PLAIN = frozenset({xp.ndarray, float, int, bool, complex, xp.float64, xp.float32, xp.float16,
                   xp.int64, xp.int32, xp.bool_, xp.complex128})

# Tensor's operators. Each is a Python function with the fast path first (binary_operator);
# with the C module, TensorBase's slots run that fast path and call these for the rest.
_BINARY = {name: (prim, binary_operator(prim), binary_operator(prim, reflected=True))
           for name, prim in {"add": elementwise.add, "sub": elementwise.subtract,
                              "mul": elementwise.multiply, "truediv": elementwise.divide}.items()}
_BINARY["matmul"] = (linalg.matmul, binary_operator(linalg.matmul, general=linalg.product),  # Gram
                     binary_operator(linalg.matmul, reflected=True))
_UNARY = {"neg": (elementwise.negative, unary_operator(elementwise.negative)),
          "abs": (elementwise.abs, unary_operator(elementwise.abs))}
_REDUCTIONS = {prim.name: (prim, _reduction(prim)) for prim in (
    reductions.sum, reductions.mean, reductions.prod, reductions.max, reductions.min)}

if FAST:
    # copy.copy/deepcopy read a class's slots from __slots__, which the C base type has not
    Tensor.__slotnames__ = [name for name in _SLOTS if name != "__weakref__"]
    # The C fast path calls the implementations, except two that spare a Python frame and
    # compute the same: the backend's matmul (matmul's impl without the Gram flag) and, on
    # an array, its own reduction method (what sum, mean, prod, max and min call for it).
    FAST.setup(tensor=Tensor, tape_trace=TAPE_TRACE, tape_level=TAPE_TRACE.level, state=STATE,
               plain=PLAIN, array=xp.ndarray,
               binary={name: (xp.matmul if name == "matmul" else prim.impl, left, right)
                       for name, (prim, left, right) in _BINARY.items()},
               unary={name: (prim.impl, op) for name, (prim, op) in _UNARY.items()},
               reductions={name: (prim.impl, method, getattr(xp.ndarray, name))
                           for name, (prim, method) in _REDUCTIONS.items()})
else:
    for _name, (_prim, _left, _right) in _BINARY.items():
        setattr(Tensor, f"__{_name}__", _left)
        setattr(Tensor, f"__r{_name}__", _right)
    for _name, (_prim, _op) in _UNARY.items():
        setattr(Tensor, f"__{_name}__", _op)
    for _name, (_prim, _method) in _REDUCTIONS.items():
        setattr(Tensor, _name, _method)
Tensor.__pow__ = binary_operator(elementwise.power)
Tensor.__rpow__ = binary_operator(elementwise.power, reflected=True)
for _name, _prim in {"lt": compare.less, "le": compare.less_equal, "gt": compare.greater,
                     "ge": compare.greater_equal, "eq": compare.equal, "ne": compare.not_equal}.items():
    setattr(Tensor, f"__{_name}__", binary_operator(_prim))
