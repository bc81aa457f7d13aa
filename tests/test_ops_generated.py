"""Every registered primitive, checked from the op table: add an op, get its tests.

For each primitive and each of its sample cases (shapes that exercise
broadcasting and scalars, and keyword parameters):

* the forward value equals the NumPy reference;
* forward and reverse mode agree with numerical differences, to the highest
  order the op declares (``check_grads``);
* JVP and VJP agree with each other: ⟨u, J v⟩ = ⟨Jᵀ u, v⟩ to 1e-12.
"""

import types

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops import REGISTRY, Primitive

DOMAINS = {
    "real": lambda rng, shape: rng.normal(size=shape),
    "positive": lambda rng, shape: rng.uniform(0.5, 2.0, size=shape),
    "unit": lambda rng, shape: rng.uniform(-0.9, 0.9, size=shape),
    "nonzero": lambda rng, shape: rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, size=shape),
    "bool": lambda rng, shape: rng.random(size=shape) > 0.5,
}


def _cases():
    for name, prim in sorted(REGISTRY.items()):
        if prim.meta is None or prim.meta.skip:
            continue
        for k, (shapes, params) in enumerate(prim.meta.all_cases()):
            yield pytest.param(prim, shapes, params, id=f"{name}-{k}")


CASES = list(_cases())


def _args(prim, shapes, seed=0):
    rng = np.random.default_rng(seed)
    if prim.meta.make_args is not None:
        return list(prim.meta.make_args(rng, shapes))
    domains = prim.meta.domain
    if isinstance(domains, str):
        domains = [domains] * len(shapes)
    return [np.asarray(DOMAINS[d](rng, s)) for d, s in zip(domains, shapes)]


def _differentiable(prim, args):
    return [i for i in range(len(args)) if prim.vjp_rule(i) is not None]


def _as_function(prim, args, params):
    """prim as a function of its differentiable arguments only."""
    diff = _differentiable(prim, args)

    def f(*diff_args):
        full = list(args)
        for i, a in zip(diff, diff_args):
            full[i] = a
        return prim(*full, **params)

    return f, [args[i] for i in diff]


def test_every_primitive_declares_test_metadata():
    declared = {}
    for name, module in sorted(vars(cr.ops).items()):
        if isinstance(module, types.ModuleType):
            for value in vars(module).values():
                if isinstance(value, Primitive) and value.differentiable:
                    declared[value.name] = value
    assert len(declared) > 40
    missing = [name for name, prim in declared.items() if prim.meta is None]
    assert not missing, f"primitives without test metadata: {missing}"
    assert not [name for name, prim in declared.items() if REGISTRY.get(name) is not prim]
    assert len(CASES) > 60


def test_every_differentiable_argument_has_both_rules():
    for name, prim in REGISTRY.items():
        for shapes, params in prim.meta.all_cases()[:1]:
            args = _args(prim, shapes)
            for i in _differentiable(prim, args):
                has_jvp = prim.jvp_all is not None or prim.jvp_rule(i) is not cr.ops._primitive.MISSING
                assert has_jvp, f"{name}: argument {i} has a VJP rule but no JVP rule"
                assert prim.vjp_rule(i) is not cr.ops._primitive.MISSING, f"{name}: no VJP for {i}"


@pytest.mark.parametrize("prim,shapes,params", CASES)
def test_forward_matches_numpy(prim, shapes, params):
    args = _args(prim, shapes)
    expected = prim.meta.reference(*args, **params)
    np.testing.assert_allclose(prim(*args, **params), expected, rtol=1e-12, atol=1e-12)
    traced = prim(*[cr.tensor(a) if np.asarray(a).dtype.kind == "f" else a for a in args], **params)
    assert isinstance(traced, cr.Tensor)
    np.testing.assert_allclose(traced.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("prim,shapes,params", CASES)
def test_derivatives_match_numerical_differences(prim, shapes, params):
    f, diff_args = _as_function(prim, _args(prim, shapes), params)
    cr.check_grads(f, *diff_args, modes=("fwd", "rev"), order=prim.meta.order)


@pytest.mark.parametrize("prim,shapes,params", CASES)
def test_jvp_and_vjp_are_transposes(prim, shapes, params):
    f, diff_args = _as_function(prim, _args(prim, shapes), params)
    rng = np.random.default_rng(1)
    tangents = [rng.normal(size=np.shape(a)) for a in diff_args]
    out, out_tangent = cr.jvp(f, diff_args, tangents)
    u = rng.normal(size=np.shape(out))
    _, pullback = cr.vjp(f, *diff_args)
    cotangents = pullback(u)
    forward = np.sum(u * out_tangent)
    reverse = sum(np.sum(c * t) for c, t in zip(cotangents, tangents))
    np.testing.assert_allclose(forward, reverse, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("prim,shapes,params", CASES)
def test_batching_rule_matches_a_loop_over_the_batch(prim, shapes, params):
    """vmap (one vectorized call through the op's batching rule) = one call per entry."""
    examples = [_args(prim, shapes, seed=s) for s in range(3)]
    for mapped in [range(len(examples[0])), [0]]:  # every argument batched; only the first
        batch = [np.stack([np.asarray(e[i]) for e in examples]) if i in mapped else examples[0][i]
                 for i in range(len(examples[0]))]
        axes = [0 if i in mapped else None for i in range(len(batch))]
        got = cr.vmap(lambda *a: prim(*a, **params), in_axes=axes)(*batch)
        expected = [prim(*[e[i] if i in mapped else examples[0][i] for i in range(len(e))], **params)
                    for e in examples]
        np.testing.assert_allclose(got, np.stack(expected), rtol=1e-12, atol=1e-12)


def test_relu_and_its_backward_map_over_a_batch_without_a_loop():
    """jacfwd, jacrev and hessian of a relu network push a whole basis through these."""
    assert all(REGISTRY[name].batch is not None for name in ("relu", "mask_positive"))
