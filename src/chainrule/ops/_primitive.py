"""The primitive record: one operation, its forward on raw arrays, its rules.

Every operation chainrule knows, its own and its users', is a :class:`Primitive`.
Its derivative rules are written with chainrule's own primitives, so a rule can
itself be differentiated: higher order comes for free.

Rule conventions (both take the primal output ``ans`` and the primal inputs):

* VJP rule for argument i:  ``vjp(g, ans, *args, **params) -> gradient of arg i``
* JVP rule for argument i:  ``jvp(t, ans, *args, **params) -> tangent of ans``
  (the contribution of the tangent ``t`` of argument i).

Broadcasting is undone in one place, the reverse pass, never in a rule.
The public ``defvjp``/``defjvp`` take autograd's convention and translate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence



def MISSING(*args: Any, **params: Any) -> Any:
    """Stands for a rule that was never declared (differentiating through it raises)."""
    raise NotImplementedError("no rule declared")


def missing_rule(prim: Primitive, argnum: int, mode: str) -> NotImplementedError:
    """The error for differentiating ``prim`` in a ``mode`` ("reverse"/"forward") it has no rule for."""
    declare, other = (("cr.defvjp", "forward mode (cr.jvp, cr.jacfwd)") if mode == "reverse"
                      else ("cr.defjvp", "reverse mode (cr.grad, cr.vjp)"))
    short = "VJP" if mode == "reverse" else "JVP"
    return NotImplementedError(f"{prim.name}: no {mode}-mode ({short}) rule for argument "
                               f"{argnum}; declare one with {declare} or use {other}")


@dataclass
class OpMeta:
    """What the generated op-table tests need to know about a primitive.

    ``shapes`` lists argument shape tuples to try; ``domain`` names the input
    range per argument (see ``chainrule.check.DOMAINS``); ``order`` is the
    highest derivative order the rules support; ``reference`` is the NumPy
    function the forward must match; ``params`` are keyword parameter sets.
    """

    shapes: Sequence[tuple] = ()
    domain: str | Sequence[str] = "real"
    order: int = 2
    reference: Callable | None = None
    params: Sequence[dict] = ({},)
    rtol: float = 1e-5
    atol: float = 1e-6
    skip: str = ""  # a reason; an op the generated tests cannot drive (never empty unless tested)
    make_args: Callable | None = None  # (rng, shapes) -> args, for inputs with a structure
    cases: Sequence[tuple] = ()  # explicit (shapes, params) pairs, for params tied to shapes

    def all_cases(self) -> list[tuple]:
        """Every (argument shapes, keyword params) pair the generated tests run."""
        if self.cases:
            return list(self.cases)
        return [(shapes, params) for shapes in self.shapes for params in self.params]


@dataclass(eq=False)
class Primitive:
    """A differentiable operation: ``impl`` on raw arrays plus its rules."""

    impl: Callable
    name: str
    vjps: dict[int, Callable | None] = field(default_factory=dict)
    jvps: dict[int, Callable | None] = field(default_factory=dict)
    # optional joint JVP rule ``jvp_all(tangents, ans, *args, **params)`` for ops whose
    # tangent is best made in one go (``concatenate``): ``tangents[i]`` is None for zero.
    jvp_all: Callable | None = None
    # optional joint VJP rule ``vjp_all(g, ans, *args, wanted, **params)`` for ops whose
    # arguments' cotangents share work (the dense layer's ḡ ⊙ act'(ans)): ``wanted[i]`` says
    # whether argument i needs one; returns a sequence with None where not wanted.
    vjp_all: Callable | None = None
    # optional VJP rule maker for variadic ops: ``variadic_vjp(i)`` is the rule of argument i
    variadic_vjp: Callable[[int], Callable] | None = None
    # optional batching rule ``batch(args, batched, size, **params)`` (see ops/batching.py):
    # the op applied to arguments of which those flagged in ``batched`` carry a leading
    # batch axis of length ``size``; returns the result with the batch axis leading.
    batch: Callable | None = None
    differentiable: bool = True
    shape_error: str = "are not compatible"
    meta: OpMeta | None = None

    def __call__(self, *args: Any, **params: Any) -> Any:
        # Replaced by the autodiff core's dispatcher when chainrule.core is imported;
        # until then (ops used alone) a primitive is just its implementation.
        return self.impl(*args, **params)

    def __repr__(self) -> str:
        return f"<primitive {self.name}>"

    def vjp_rule(self, i: int) -> Callable | None:
        """Argument i's VJP rule; ``None`` if not differentiable; MISSING if undeclared."""
        if self.variadic_vjp is not None:
            return self.variadic_vjp(i)
        if self.vjp_all is not None:   # the joint rule, asked for argument i only
            joint = self.vjp_all
            return lambda g, ans, *args, **params: joint(
                g, ans, *args, wanted=tuple(j == i for j in range(len(args))), **params)[i]
        return self.vjps.get(i, MISSING)

    def jvp_rule(self, i: int) -> Callable | None:
        """Argument i's JVP rule; ``None`` if not differentiable; MISSING if undeclared."""
        return self.jvps.get(i, MISSING)

    def __hash__(self) -> int:
        return id(self)


REGISTRY: dict[str, Primitive] = {}

# Whether rules may take shortcuts that leave a node without its own adjoint (the Gram
# product's rule gives A its whole share and Aᵀ none). Off while the reverse pass is
# watched node by node (``core.backward.observe_adjoints``, used by chainrule.inspect).
SHORTCUTS = [True]

# Keyword parameters that change how an op computes, never what: a matmul flagged as a
# Gram product, a rule's "reuse the kept factorization". Views of the graph leave them out.
HINTS = frozenset({"gram", "reuse"})


def primitive(impl: Callable | None = None, *, name: str | None = None,
              register: bool = True, **meta: Any) -> Any:
    """Declare ``impl`` (a function on raw arrays) as a differentiable primitive.

    >>> import chainrule as cr
    >>> @cr.primitive
    ... def cube(x):
    ...     return x ** 3
    >>> cr.defvjp(cube, lambda ans, x: lambda g: g * 3 * x ** 2)
    >>> float(cr.grad(cube)(2.0))
    12.0
    """
    def wrap(fn: Callable) -> Primitive:
        prim = Primitive(fn, name or fn.__name__)
        prim.__doc__ = fn.__doc__
        if meta:  # the library's ops carry test metadata and join the op table
            prim.meta = OpMeta(**meta)
            if register:
                REGISTRY[prim.name] = prim
        return prim

    return wrap(impl) if impl is not None else wrap


def nondifferentiable(impl: Callable, name: str) -> Primitive:
    """A primitive with no derivative at all (comparisons, argmax, floor, ...).

    Its inputs are taken as constants by every transformation.
    """
    return Primitive(impl, name, differentiable=False)


# --- the public, autograd-style declarations ----------------------------------

def defvjp(prim: Primitive, *makers: Callable | None, argnums: Sequence[int] | None = None) -> None:
    """Give ``prim`` its reverse rules, one maker per argument (autograd's style).

    A maker is ``maker(ans, *args, **params) -> (lambda g: gradient)``;
    ``None`` says the argument is not differentiable.
    """
    for i, maker in zip(argnums or range(len(makers)), makers):
        prim.vjps[i] = None if maker is None else _from_maker(maker)


def defjvp(prim: Primitive, *rules: Callable | None, argnums: Sequence[int] | None = None) -> None:
    """Give ``prim`` its forward rules: ``rule(t, ans, *args, **params) -> tangent``."""
    for i, rule in zip(argnums or range(len(rules)), rules):
        prim.jvps[i] = rule


def _from_maker(maker: Callable) -> Callable:
    def vjp(g: Any, ans: Any, *args: Any, **params: Any) -> Any:
        return maker(ans, *args, **params)(g)
    return vjp


# --- helpers for the common shapes of rule --------------------------------------

def rules(prim: Primitive, vjp: Sequence[Callable | None] = (),
          jvp: Sequence[Callable | None] = ()) -> Primitive:
    """Attach rules in the internal convention (``g`` / ``t`` first)."""
    for i, rule in enumerate(vjp):
        prim.vjps[i] = rule
    for i, rule in enumerate(jvp):
        prim.jvps[i] = rule
    return prim


def elementwise(prim: Primitive, *derivatives: Callable | None,
                zero_safe: bool = False) -> Primitive:
    """Rules for an elementwise op from its partial derivatives.

    ``derivatives[i](ans, *args)`` is ∂ans/∂arg_i, elementwise; the Jacobian is
    diagonal, so the VJP is ``g * d`` and the JVP is ``t * d``. With
    ``zero_safe`` (for ops whose derivative can be inf or NaN, like ``sqrt`` at 0)
    a zero ``g`` or ``t`` gives 0 even where ``d`` is inf or NaN (see
    ``zero_safe_multiply``); the other ops use a plain product, which is cheaper.
    """
    from chainrule.ops import elementwise as family  # the product these rules use

    multiply = family.zero_safe_multiply if zero_safe else family.multiply
    for i, d in enumerate(derivatives):
        if d is None:
            prim.vjps[i] = prim.jvps[i] = None
            continue
        prim.vjps[i] = prim.jvps[i] = _times_derivative(multiply, d)
    return prim


def _times_derivative(multiply: Callable, d: Callable) -> Callable:
    """``g · d(ans, *args)``: the rule of a diagonal Jacobian (VJP and JVP alike).

    Unary and binary ops get a closure without ``*args`` packing: these rules run
    once per node in every backward pass.
    """
    arity = getattr(getattr(d, "__code__", None), "co_argcount", None)
    if arity == 2:
        return lambda g, ans, x: multiply(g, d(ans, x))
    if arity == 3:
        return lambda g, ans, x, y: multiply(g, d(ans, x, y))
    return lambda g, ans, *args, **params: multiply(g, d(ans, *args, **params))


def linear(prim: Primitive, *transposes: Callable | None, nargs: int = 1) -> Primitive:
    """Rules for an op linear in each of its ``nargs`` array arguments.

    The JVP re-runs the op on the tangent (other arguments zero-free: only
    valid for ops linear in each argument separately and additively, like
    ``add``, ``reshape``, ``sum``); the VJP is the given transpose
    ``transpose(g, ans, *args, **params)``.
    """
    for i, transpose in enumerate(transposes):
        prim.vjps[i] = transpose
    if nargs == 1:
        prim.jvps[0] = lambda t, ans, x, **p: prim(t, **p)
    return prim
