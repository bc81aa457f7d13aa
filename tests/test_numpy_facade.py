"""chainrule.numpy: NumPy's names, signatures and results, differentiable.

One table of calls covers every differentiable facade function. For each call:

* with plain arrays it returns exactly what NumPy returns (type, dtype, values);
* with Tensors it returns Tensors holding NumPy's values;
* forward and reverse mode agree with numerical differences;
* the primitives it runs are among those its catalog entry declares (so the
  generated table in docs/ops.md tells the truth);
* in float32 the results and the gradients stay float32.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.numpy import _CATALOG
from chainrule.ops import REGISTRY
from chainrule.ops._primitive import Primitive


def _spd(rng, shape):
    m = rng.normal(size=shape)
    return m @ np.swapaxes(m, -1, -2) + shape[-1] * np.eye(shape[-1])


def _symmetric(rng, shape):
    q, _ = np.linalg.qr(rng.normal(size=shape))
    w = np.linspace(-1.5, 2.5, shape[-1])
    s = (q * w) @ np.swapaxes(q, -1, -2)
    return 0.5 * (s + np.swapaxes(s, -1, -2))


DOMAINS = {
    "real": lambda rng, shape: rng.normal(size=shape),
    "pos": lambda rng, shape: rng.uniform(0.5, 2.0, size=shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, size=shape),
    "inv": lambda rng, shape: rng.normal(size=shape) + shape[-1] * np.eye(shape[-1]),
    "spd": _spd,
    "sym": _symmetric,
    "svd": lambda rng, shape: rng.normal(size=shape) @ np.diag([3.0, 1.0, 0.3])[:shape[-1], :shape[-1]],
}


@dataclass
class Case:
    name: str                       # the catalog name it exercises
    fn: Callable                    # fn(np_module, *arrays)
    shapes: list
    domain: Any = "real"            # one domain or one per argument
    order: int = 1
    uses: tuple = ()                # other facade functions the call makes

    def args(self, seed=0, dtype=np.float64):
        rng = np.random.default_rng(seed)
        domains = [self.domain] * len(self.shapes) if isinstance(self.domain, str) else self.domain
        return [np.asarray(DOMAINS[d](rng, s), dtype=dtype) for d, s in zip(domains, self.shapes)]

    @property
    def id(self):
        return f"{self.name}-{CASES.index(self)}"


C = Case
CASES = [
    # elementwise, with broadcasting and scalars
    C("add", lambda np, x, y: np.add(x, y), [(2, 3), (3,)], order=2),
    C("subtract", lambda np, x, y: np.subtract(x, y), [(), (2, 3)]),
    C("multiply", lambda np, x, y: np.multiply(x, y), [(2, 1), (1, 3)], order=2),
    C("divide", lambda np, x, y: np.divide(x, y), [(3,), (3,)], ("real", "pos")),
    C("true_divide", lambda np, x, y: np.true_divide(x, y), [(3,), ()], ("real", "pos")),
    C("power", lambda np, x, y: np.power(x, y), [(3,), (3,)], ("pos", "real"), order=2),
    C("power", lambda np, x: np.power(x, 3), [(2, 2)]),
    C("arctan2", lambda np, y, x: np.arctan2(y, x), [(3,), (3,)], ("real", "pos")),
    C("negative", lambda np, x: np.negative(x), [(3,)]),
    C("square", lambda np, x: np.square(x), [(3,)], order=2),
    C("sqrt", lambda np, x: np.sqrt(x), [(3,)], "pos", order=2),
    C("exp", lambda np, x: np.exp(x), [(2, 3)], order=2),
    C("expm1", lambda np, x: np.expm1(x), [(3,)]),
    C("log", lambda np, x: np.log(x), [(3,)], "pos", order=2),
    C("log1p", lambda np, x: np.log1p(x), [(3,)], "pos"),
    C("log2", lambda np, x: np.log2(x), [(3,)], "pos"),
    C("log10", lambda np, x: np.log10(x), [(3,)], "pos"),
    C("sin", lambda np, x: np.sin(x), [(3,)], order=2),
    C("cos", lambda np, x: np.cos(x), [(3,)]),
    C("tan", lambda np, x: np.tan(x), [(3,)], "unit"),
    C("arcsin", lambda np, x: np.arcsin(x), [(3,)], "unit"),
    C("arccos", lambda np, x: np.arccos(x), [(3,)], "unit"),
    C("arctan", lambda np, x: np.arctan(x), [(3,)]),
    C("sinh", lambda np, x: np.sinh(x), [(3,)]),
    C("cosh", lambda np, x: np.cosh(x), [(3,)]),
    C("tanh", lambda np, x: np.tanh(x), [(3,)], order=2),
    C("abs", lambda np, x: np.abs(x), [(3,)]),
    C("absolute", lambda np, x: np.absolute(x), [(3,)]),
    C("maximum", lambda np, x, y: np.maximum(x, y), [(2, 3), (3,)]),
    C("minimum", lambda np, x, y: np.minimum(x, y), [(3,), ()]),
    C("reciprocal", lambda np, x: np.reciprocal(x), [(3,)], "pos"),
    C("logaddexp", lambda np, x, y: np.logaddexp(x, y), [(3,), (2, 3)], order=2),
    C("clip", lambda np, x: np.clip(x, -0.5, 0.5), [(7,)]),
    C("clip", lambda np, x, lo: np.clip(x, lo, 1.0), [(2, 3), (3,)]),
    C("clip", lambda np, x: np.clip(x, None, 0.3), [(4,)]),
    C("clip", lambda np, x: np.clip(x, max=0.3, min=-1.0), [(4,)]),
    C("where", lambda np, x, y: np.where(x > 0, x, y), [(2, 3), (3,)]),
    C("where", lambda np, x: np.where(x > 0, np.sqrt(np.abs(x)), 0.0), [(4,)],
      uses=("sqrt", "abs")),
    # reductions: axis int / tuple / None / negative, keepdims
    C("sum", lambda np, x: np.sum(x), [(2, 3)]),
    C("sum", lambda np, x: np.sum(x, axis=(0, 2), keepdims=True), [(2, 3, 2)]),
    C("sum", lambda np, x: x.sum(-1), [(2, 3)]),
    C("mean", lambda np, x: np.mean(x, axis=-2), [(2, 3)]),
    C("mean", lambda np, x: np.mean(x, (0, 1), keepdims=True), [(2, 3, 2)]),
    C("prod", lambda np, x: np.prod(x, axis=1), [(2, 3)], order=2),
    C("max", lambda np, x: np.max(x, axis=0, keepdims=True), [(3, 2)]),
    C("amax", lambda np, x: np.amax(x), [(3, 2)]),
    C("min", lambda np, x: np.min(x, axis=(-1, 0)), [(2, 2, 3)]),
    C("amin", lambda np, x: np.amin(x, 1), [(2, 3)]),
    C("var", lambda np, x: np.var(x, axis=1, ddof=1), [(2, 4)], order=2),
    C("std", lambda np, x: np.std(x, axis=None), [(2, 3)]),
    C("std", lambda np, x: np.std(x, axis=-1, keepdims=True), [(2, 3)]),
    C("cumsum", lambda np, x: np.cumsum(x), [(2, 3)]),
    C("cumsum", lambda np, x: np.cumsum(x, axis=-2), [(3, 2)], order=2),
    C("diff", lambda np, x: np.diff(x), [(5,)]),
    C("diff", lambda np, x: np.diff(x, n=2, axis=0, prepend=0.5, append=x[-1:]), [(3, 2)]),
    # products
    C("matmul", lambda np, a, b: np.matmul(a, b), [(2, 3), (3, 2)], order=2),
    C("matmul", lambda np, a, b: a @ b, [(2, 2, 3), (3,)]),
    C("dot", lambda np, a, b: np.dot(a, b), [(3,), (3,)]),
    C("dot", lambda np, a, b: np.dot(a, b), [(2, 3), (3, 2)]),
    C("dot", lambda np, a, b: np.dot(a, b), [(2, 2, 3), (4, 3, 2)], order=2),
    C("dot", lambda np, a, b: np.dot(a, b), [(2, 3, 2), (2,)]),
    C("dot", lambda np, a, b: np.dot(a, b), [(), (2, 3)]),
    C("inner", lambda np, a, b: np.inner(a, b), [(2, 3), (4, 3)]),
    C("vdot", lambda np, a, b: np.vdot(a, b), [(2, 3), (2, 3)]),
    C("outer", lambda np, a, b: np.outer(a, b), [(3,), (2, 2)], order=2),
    C("tensordot", lambda np, a, b: np.tensordot(a, b), [(2, 3, 4), (3, 4, 2)]),
    C("tensordot", lambda np, a, b: np.tensordot(a, b, axes=([0, 2], [2, 0])), [(2, 3, 4), (4, 3, 2)]),
    C("tensordot", lambda np, a, b: np.tensordot(a, b, axes=0), [(2,), (3,)]),
    C("einsum", lambda np, a, b: np.einsum("ij,jk->ik", a, b), [(2, 3), (3, 2)], order=2),
    C("einsum", lambda np, a: np.einsum("ii", a), [(3, 3)]),
    C("einsum", lambda np, a: np.einsum("ii->i", a), [(3, 3)]),
    C("einsum", lambda np, a, b: np.einsum("...ij,...jk", a, b), [(2, 2, 3), (3, 2)]),
    C("einsum", lambda np, a: np.einsum(a, [0, 1, 2], [2, 0]), [(2, 3, 2)]),
    C("einsum", lambda np, a, b, c: np.einsum("i,ij,j->", a, b, c), [(2,), (2, 3), (3,)]),
    C("einsum", lambda np, a: np.einsum("bij->ji", a), [(2, 3, 2)]),
    C("diagonal", lambda np, a: np.diagonal(a, 1), [(3, 4)]),
    C("diagonal", lambda np, a: np.diagonal(a, -1, 2, 0), [(3, 2, 4)]),
    C("trace", lambda np, a: np.trace(a), [(3, 3)], order=2),
    C("trace", lambda np, a: np.trace(a, offset=1, axis1=-1, axis2=-2), [(2, 3, 3)]),
    C("diag", lambda np, v: np.diag(v), [(3,)]),
    C("diag", lambda np, v: np.diag(v, -1), [(2,)]),
    C("diag", lambda np, a: np.diag(a, 1), [(3, 3)]),
    C("triu", lambda np, a: np.triu(a), [(3, 3)]),
    C("triu", lambda np, a: np.triu(a, -1), [(2, 3, 4)]),
    C("tril", lambda np, a: np.tril(a, 1), [(3, 4)]),
    # shapes
    C("reshape", lambda np, a: np.reshape(a, (3, -1)), [(2, 3)]),
    C("reshape", lambda np, a: a.reshape(6), [(2, 3)]),
    C("ravel", lambda np, a: np.ravel(a), [(2, 3)]),
    C("transpose", lambda np, a: np.transpose(a), [(2, 3, 2)]),
    C("transpose", lambda np, a: np.transpose(a, (1, 2, 0)), [(2, 3, 2)]),
    C("transpose", lambda np, a: a.T, [(2, 3)]),
    C("swapaxes", lambda np, a: np.swapaxes(a, 0, -1), [(2, 3, 2)]),
    C("moveaxis", lambda np, a: np.moveaxis(a, 0, -1), [(2, 3, 2)]),
    C("moveaxis", lambda np, a: np.moveaxis(a, [0, 1], [-1, 0]), [(2, 3, 4)]),
    C("expand_dims", lambda np, a: np.expand_dims(a, (0, 2)), [(2, 3)]),
    C("squeeze", lambda np, a: np.squeeze(a), [(1, 3, 1)]),
    C("squeeze", lambda np, a: np.squeeze(a, axis=0), [(1, 3, 1)]),
    C("broadcast_to", lambda np, a: np.broadcast_to(a, (2, 3)), [(3,)]),
    C("concatenate", lambda np, a, b: np.concatenate([a, b], axis=1), [(2, 3), (2, 1)]),
    C("concatenate", lambda np, a, b: np.concatenate((a, b), axis=None), [(2, 3), (2,)]),
    C("stack", lambda np, a, b: np.stack([a, b], axis=-1), [(2, 3), (2, 3)]),
    C("hstack", lambda np, a, b: np.hstack([a, b]), [(2,), (3,)]),
    C("hstack", lambda np, a, b: np.hstack((a, b)), [(2, 1), (2, 3)]),
    C("vstack", lambda np, a, b: np.vstack([a, b]), [(3,), (2, 3)]),
    C("split", lambda np, a: np.split(a, 3, axis=1), [(2, 6)]),
    C("split", lambda np, a: np.split(a, [1, 3]), [(5,)]),
    C("array_split", lambda np, a: np.array_split(a, 3), [(7, 2)]),
    C("flip", lambda np, a: np.flip(a), [(2, 3)]),
    C("flip", lambda np, a: np.flip(a, axis=(0, -1)), [(2, 3, 2)]),
    C("tile", lambda np, a: np.tile(a, 2), [(3,)]),
    C("tile", lambda np, a: np.tile(a, (2, 1, 2)), [(2, 3)], order=2),
    C("repeat", lambda np, a: np.repeat(a, 2), [(2, 3)]),
    C("repeat", lambda np, a: np.repeat(a, [2, 0, 1], axis=-1), [(2, 3)]),
    C("array", lambda np, a, b: np.array([[a, b], [b, a]]), [(), ()]),
    C("asarray", lambda np, a, b: np.asarray([a, b]), [(2,), (2,)]),
    C("copy", lambda np, a: np.copy(a), [(2, 3)]),
    C("atleast_1d", lambda np, a: np.atleast_1d(a), [()]),
    C("atleast_2d", lambda np, a, b: np.atleast_2d(a, b), [(3,), (2, 2)]),
    # picking and sorting
    C("take", lambda np, a: np.take(a, [3, 0, 3]), [(2, 3)]),
    C("take", lambda np, a: np.take(a, np.array([[1, -1]]), axis=1), [(2, 3)]),
    C("take_along_axis", lambda np, a: np.take_along_axis(a, np.array([[0, 0], [2, 1]]), 1),
      [(2, 3)]),
    C("sort", lambda np, a: np.sort(a), [(2, 4)], order=2),
    C("sort", lambda np, a: np.sort(a, axis=None), [(2, 3)]),
    C("sort", lambda np, a: np.sort(a, axis=0), [(3, 2)]),
    C("sort", lambda np, a: a[np.argsort(a[:, 0])], [(4, 2)], uses=("argsort",)),
    C("cross", lambda np, a, b: np.cross(a, b), [(2, 3), (3,)], order=2),
    C("hypot", lambda np, a, b: np.hypot(a, b), [(2, 3), (3,)]),
    C("average", lambda np, a: np.average(a, axis=1), [(2, 3)]),
    C("average", lambda np, a, w: np.average(a, axis=-1, weights=w), [(2, 3), (3,)],
      ("real", "pos")),
    C("average", lambda np, a, w: np.average(a, weights=w, returned=True)[0], [(2, 3), (2, 3)],
      ("real", "pos")),
    # linear algebra, batched where NumPy batches
    C("linalg.inv", lambda np, a: np.linalg.inv(a), [(3, 3)], "inv", order=2),
    C("linalg.inv", lambda np, a: np.linalg.inv(a), [(2, 2, 2)], "inv"),
    C("linalg.det", lambda np, a: np.linalg.det(a), [(3, 3)], "inv", order=2),
    C("linalg.det", lambda np, a: np.linalg.det(a), [(2, 3, 3)], "inv"),
    C("linalg.slogdet", lambda np, a: np.linalg.slogdet(a)[1], [(3, 3)], "inv", order=2),
    C("linalg.slogdet", lambda np, a: np.linalg.slogdet(a).logabsdet, [(2, 3, 3)], "inv"),
    C("linalg.solve", lambda np, a, b: np.linalg.solve(a, b), [(3, 3), (3,)], ("inv", "real"),
      order=2),
    C("linalg.solve", lambda np, a, b: np.linalg.solve(a, b), [(2, 3, 3), (3, 2)],
      ("inv", "real")),
    C("linalg.cholesky", lambda np, a: np.linalg.cholesky(a), [(3, 3)], "spd", order=2),
    C("linalg.cholesky", lambda np, a: np.linalg.cholesky(a, upper=True), [(2, 3, 3)], "spd"),
    C("linalg.eigh", lambda np, a: np.linalg.eigh(a), [(3, 3)], "sym", order=2),
    C("linalg.eigh", lambda np, a: np.linalg.eigh(a, UPLO="U").eigenvectors, [(2, 3, 3)], "sym"),
    C("linalg.eigvalsh", lambda np, a: np.linalg.eigvalsh(a), [(3, 3)], "sym"),
    C("linalg.svdvals", lambda np, a: np.linalg.svdvals(a), [(4, 3)], "svd", order=2),
    C("linalg.norm", lambda np, x: np.linalg.norm(x), [(2, 3)], order=2),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, axis=-1, keepdims=True), [(2, 3)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, 1), [(4,)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, np.inf), [(4,)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, -np.inf, axis=0), [(4, 2)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, 3), [(4,)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, 0), [(4,)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, "fro", axis=(2, 0)), [(2, 3, 3)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, 1, axis=(0, 1), keepdims=True), [(3, 3)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, -np.inf), [(3, 2)]),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, 2), [(3, 3)], "svd"),
    C("linalg.norm", lambda np, x: np.linalg.norm(x, "nuc"), [(3, 2)], "svd"),
    # functional updates
    C("index_update", lambda np, x, v: np.index_update(x, (slice(None), 1), v), [(2, 3), (2,)]),
]

DIFFERENTIABLE = {name for name, entry in _CATALOG.items()
                  if entry.kind in ("primitive", "composite")}


def _tensors(args):
    return [cr.tensor(a) for a in args]


def _leaves(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def test_every_differentiable_facade_function_is_in_the_table():
    covered = {case.name for case in CASES}
    assert DIFFERENTIABLE - covered == set()
    assert covered - DIFFERENTIABLE == set()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_with_plain_arrays_the_result_is_exactly_numpys(case):
    args = case.args()
    ours, theirs = case.fn(cnp, *args), case.fn(np, *args) if case.name != "index_update" else None
    if theirs is None:
        return
    assert type(ours) is type(theirs)
    for a, b in zip(_leaves(ours), _leaves(theirs)):
        assert type(a) is type(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(a, b)


def _numpy_value(case, args):
    if case.name == "index_update":
        x, v = (a.copy() for a in args)
        x[:, 1] = v
        return x
    return case.fn(np, *args)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_with_tensors_the_result_is_a_tensor_holding_numpys_value(case):
    args = case.args()
    out = case.fn(cnp, *_tensors(args))
    expected = _numpy_value(case, args)
    if isinstance(expected, tuple) and hasattr(expected, "_fields"):
        assert out._fields == expected._fields
    assert len(_leaves(out)) == len(_leaves(expected))
    for a, b in zip(_leaves(out), _leaves(expected)):
        assert isinstance(a, cr.Tensor)
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_derivatives_match_numerical_differences(case):
    cr.check_grads(lambda *a: case.fn(cnp, *a), *case.args(), modes=("fwd", "rev"),
                   order=case.order)


@pytest.fixture
def recorded(monkeypatch):
    """The names of the differentiable primitives called while the fixture is active."""
    names = set()
    bind = Primitive.__call__

    def recording(prim, *args, **params):
        if prim.differentiable and prim.name in REGISTRY:
            names.add(prim.name)
        return bind(prim, *args, **params)

    monkeypatch.setattr(Primitive, "__call__", recording)
    return names


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_the_catalog_lists_every_primitive_a_function_uses(case, recorded):
    case.fn(cnp, *_tensors(case.args()))
    declared = {p for name in (case.name, *case.uses) for p in _CATALOG[name].primitives}
    assert recorded <= declared, f"{case.name} also uses {recorded - declared}"


FLOAT32_SKIP = {"linalg.svdvals", "linalg.eigh", "linalg.eigvalsh"}  # not well-conditioned enough


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in FLOAT32_SKIP],
                         ids=lambda c: c.id)
def test_float32_stays_float32_in_values_and_gradients(case):
    args = case.args(dtype=np.float32)
    expected = _numpy_value(case, args)
    out = case.fn(cnp, *_tensors(args))
    for a, b in zip(_leaves(out), _leaves(expected)):
        assert a.dtype == np.asarray(b).dtype
    float_outs = [i for i, b in enumerate(_leaves(expected)) if np.asarray(b).dtype == np.float32]

    def scalar(*a):
        leaves = _leaves(case.fn(cnp, *a))
        return sum(cnp.sum(leaves[i]) for i in float_outs)

    grads = cr.grad(scalar, argnums=tuple(range(len(args))))(*args)
    assert [g.dtype for g in grads] == [np.float32] * len(args)


# --- NumPy semantics, beyond the table ------------------------------------------------------

def test_python_numbers_arrays_and_tensors_mix():
    t = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cnp.sum(cnp.multiply(2, t) + np.array([1.0, 1.0]) * t + cnp.add(1.5, t))
    y.backward()
    assert t.grad.tolist() == [4.0, 4.0]
    assert isinstance(cnp.exp(1.0), np.float64) and cnp.exp(1.0) == np.exp(1.0)
    assert type(cnp.sum([1, 2, 3])) is np.int64


def test_lists_holding_tensors_are_stacked_by_every_function():
    g = cr.grad(lambda x: cnp.sum(cnp.square([x, 2 * x, 3.0])))(1.5)
    assert g == pytest.approx(2 * 1.5 + 8 * 1.5)
    g = cr.grad(lambda x: cnp.linalg.det([[x, 1.0], [2.0, x]]))(3.0)
    assert g == pytest.approx(6.0)


def test_reductions_accept_every_form_of_axis():
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    t = cr.tensor(x)
    for axis in [None, 0, -1, (0, 2), (-1, -3), [1, 2]]:
        for keepdims in [False, True]:
            for name in ["sum", "mean", "prod", "max", "min", "var", "std"]:
                got = getattr(cnp, name)(t, axis=axis, keepdims=keepdims)
                want = getattr(np, name)(x, axis=tuple(axis) if isinstance(axis, list) else axis,
                                         keepdims=keepdims)
                np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def test_out_arguments_are_refused_for_tensors_with_a_clear_message():
    with pytest.raises(TypeError, match="out="):
        cnp.exp(cr.tensor([1.0]), out=np.zeros(1))
    with pytest.raises(TypeError, match="sum: out="):
        cnp.sum(cr.tensor([1.0]), out=np.zeros(()))


def test_unsupported_numpy_functions_work_on_arrays_and_refuse_tensors_by_name():
    assert cnp.cumprod(np.array([3, 1, 2])).tolist() == [3, 3, 6]
    assert cnp.uint8 is np.uint8 and cnp.random is np.random
    with pytest.raises(NotImplementedError, match=r"chainrule\.numpy\.cumprod is not differentiable"):
        cnp.cumprod(cr.tensor([3.0, 1.0]))
    with pytest.raises(NotImplementedError, match=r"numpy\.linalg\.qr"):
        cnp.linalg.qr(cr.tensor(np.eye(2)))
    with pytest.raises(AttributeError, match="no attribute 'not_a_function'"):
        cnp.not_a_function


def test_index_valued_functions_compute_on_the_values_and_give_constants():
    x = cr.tensor([3.0, -1.0, 2.0, 0.0], requires_grad=True)
    assert cnp.argsort(x).tolist() == [1, 3, 2, 0]
    assert cnp.count_nonzero(x) == 3 and bool(cnp.any(x > 2)) and not cnp.all(x > 0)
    assert cnp.searchsorted(cnp.sort(x), 1.0) == 2
    assert cnp.nonzero(x)[0].tolist() == [0, 1, 2]
    g = cr.grad(lambda x: cnp.sum(x[cnp.argsort(x)][:2]))(np.array([3.0, -1.0, 2.0, 0.0]))
    assert g.tolist() == [0.0, 1.0, 0.0, 1.0]                  # the two smallest entries


def test_hypot_has_the_unit_vector_gradient_and_zero_at_the_origin():
    gx, gy = cr.grad(lambda x, y: cnp.hypot(x, y), argnums=(0, 1))(3.0, 4.0)
    assert (gx, gy) == (pytest.approx(0.6), pytest.approx(0.8))
    assert cr.grad(lambda x: cnp.hypot(x, 0.0))(0.0) == 0.0


def test_comparisons_and_index_functions_give_constants():
    x = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    for out in [cnp.greater(x, 0), x > 0, cnp.sign(x), cnp.floor(x), cnp.argmax(x),
                cnp.round(x), cnp.isfinite(x), cnp.zeros_like(x), cnp.ones_like(x)]:
        assert isinstance(out, cr.Tensor) and not out.requires_grad
    assert cnp.argmax(x, keepdims=True).tolist() == [2]
    assert cr.grad(lambda x: cnp.sum(cnp.sign(x) * x))(np.array([1.0, -2.0])).tolist() == [1.0, -1.0]


def test_every_public_name_is_classified():
    public = {n for n in dir(cnp) if not n.startswith("_")}
    public |= {f"linalg.{n}" for n in dir(cnp.linalg) if not n.startswith("_")}
    assert public - set(_CATALOG) == set()
    assert set(_CATALOG) - public == set()
    kinds = {"primitive", "composite", "nondifferentiable", "passthrough", "namespace"}
    assert {entry.kind for entry in _CATALOG.values()} <= kinds
    for name, entry in _CATALOG.items():
        for prim in entry.primitives:
            assert prim in REGISTRY, f"{name}: {prim} is not a registered primitive"
        if entry.kind in ("primitive", "composite"):
            assert entry.primitives, f"{name} names no primitives"
    api = ("add subtract multiply divide true_divide negative power square sqrt exp expm1 log "
           "log1p log2 log10 sin cos tan arcsin arccos arctan sinh cosh tanh abs sign maximum "
           "minimum clip where sum mean prod max min var std dot matmul outer tensordot einsum "
           "trace reshape ravel transpose swapaxes moveaxis expand_dims squeeze broadcast_to "
           "concatenate stack split flip tile repeat cumsum diff triu tril diag array asarray "
           "zeros ones eye arange linspace full zeros_like ones_like float32 float64 pi e "
           "newaxis").split()
    api += [f"linalg.{n}" for n in "inv det slogdet solve norm cholesky eigh".split()]
    assert [n for n in api if n not in _CATALOG] == []


# --- derivatives at the awkward points (the documented policy) --------------------------------

def test_abs_and_relu_have_derivative_zero_at_zero():
    assert cr.grad(cnp.abs)(0.0) == 0.0
    assert cr.grad(cr.relu)(0.0) == 0.0
    assert cr.jvp(cnp.abs, (0.0,), (1.0,))[1] == 0.0


def test_max_min_and_maximum_minimum_split_ties_evenly():
    x = np.array([1.0, 3.0, 3.0, 2.0])
    assert cr.grad(cnp.max)(x).tolist() == [0.0, 0.5, 0.5, 0.0]
    assert cr.grad(lambda x: cnp.min(x, axis=0))(np.array([2.0, 2.0, 2.0])).tolist() == [1 / 3] * 3
    gx, gy = cr.grad(lambda x, y: cnp.sum(cnp.maximum(x, y)), argnums=(0, 1))(
        np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    assert gx.tolist() == [0.5, 1.0] and gy.tolist() == [0.5, 0.0]
    assert cr.grad(lambda x: cnp.minimum(x, 1.0))(1.0) == 0.5
    assert cr.jvp(lambda x: cnp.max(x), (x,), (np.ones(4),))[1] == 1.0


def test_sqrt_at_zero_is_plus_infinity_and_norm_at_zero_is_zero():
    with np.errstate(divide="ignore"):
        assert cr.grad(cnp.sqrt)(0.0) == math.inf
    assert cr.grad(cnp.linalg.norm)(np.zeros(3)).tolist() == [0.0, 0.0, 0.0]
    assert cr.jvp(cnp.linalg.norm, (np.zeros(2),), (np.ones(2),))[1] == 0.0


def test_clip_has_derivative_one_at_its_bounds_and_zero_outside():
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    assert cr.grad(lambda x: cnp.sum(cnp.clip(x, -0.5, 0.5)))(x).tolist() == [0, 1, 1, 1, 0]
    lo = np.array(-0.5)
    g_lo = cr.grad(lambda lo: cnp.sum(cnp.clip(x, lo, 0.5)))(lo)
    assert g_lo == 1.0                      # only the entry below the bound is clipped to it


@pytest.mark.parametrize("x", [0.0, -1.0, -1e-300])
def test_where_with_nan_in_the_branch_not_taken_has_a_finite_gradient(x):
    f = lambda x: cnp.where(x > 0, cnp.sqrt(x), 0.0)   # noqa: E731
    with np.errstate(invalid="ignore", divide="ignore"):
        assert cr.grad(f)(x) == 0.0
        assert cr.jvp(f, (x,), (1.0,))[1] == 0.0
        assert cr.grad(cr.grad(f))(x) == 0.0
        g = cr.grad(lambda v: cnp.sum(f(v)))(np.array([x, 4.0]))
    assert g.tolist() == [0.0, 0.25]


def test_where_gradient_is_also_finite_for_log_and_division_branches():
    x = np.array([0.0, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        g = cr.grad(lambda x: cnp.sum(cnp.where(x > 0, cnp.log(x) + 1 / x, 0.0)))(x)
    assert np.isfinite(g).all() and g[0] == 0.0
