"""Realistic NumPy programs run unchanged through chainrule.numpy.

Each program in ``tests/programs`` is written with plain ``np.`` names. It runs
once with NumPy for the value, once with ``chainrule.numpy`` on Tensors for the
same value, and its gradients (forward and reverse mode, and for most of them
second order) are checked against numerical differences.
"""

import importlib

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from programs import PROGRAMS

SECOND_ORDER = {"logistic_regression", "two_layer_network", "lennard_jones", "bond_price",
                "portfolio", "gaussian_likelihood"}


def _program(name):
    module = importlib.import_module(f"programs.{name}")
    args, wrt = module.example(np.random.default_rng(0))
    return module.loss, list(args), wrt


def _of_differentiated(loss, args, wrt):
    def f(*values):
        full = list(args)
        for i, v in zip(wrt, values):
            full[i] = v
        return loss(cnp, *full)
    return f, [args[i] for i in wrt]


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_gives_numpys_value_through_chainrule(name):
    loss, args, wrt = _program(name)
    expected = loss(np, *args)
    plain = loss(cnp, *args)                       # no Tensor: NumPy all the way
    assert type(plain) is type(expected) and plain == expected
    traced = loss(cnp, *[cr.tensor(a) if i in wrt else a for i, a in enumerate(args)])
    assert isinstance(traced, cr.Tensor)
    np.testing.assert_allclose(traced.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_gradients_match_numerical_differences(name):
    loss, args, wrt = _program(name)
    f, diff_args = _of_differentiated(loss, args, wrt)
    cr.check_grads(f, *diff_args, modes=("fwd", "rev"), order=2 if name in SECOND_ORDER else 1)


def test_lennard_jones_forces_sum_to_zero_and_match_the_pair_formula():
    loss, args, _ = _program("lennard_jones")
    x = args[0]
    forces = -cr.grad(lambda x: loss(cnp, x))(x)
    np.testing.assert_allclose(forces.sum(axis=0), 0.0, atol=1e-10)   # Newton's third law
    expected = np.zeros_like(x)
    for i in range(len(x)):
        for j in range(len(x)):
            if i != j:
                r = x[i] - x[j]
                r2 = r @ r
                expected[i] += 24 * (2 / r2 ** 6 - 1 / r2 ** 3) / r2 * r   # -dV/dr_i
    np.testing.assert_allclose(forces, expected, rtol=1e-10)


def test_bond_price_sensitivity_to_a_forward_rate_is_minus_the_later_discounted_flows():
    loss, args, _ = _program("bond_price")
    rates = args[0]
    g = cr.grad(lambda r: loss(cnp, r))(rates)
    flows = np.full(5, 5.0)
    flows[-1] += 100
    discounted = flows * np.exp(-np.cumsum(rates))
    np.testing.assert_allclose(g, -np.cumsum(discounted[::-1])[::-1], rtol=1e-12)


def test_gaussian_likelihood_gradient_matches_the_trace_formula():
    # d log p(y) / dθ = ½ tr((α αᵀ − K⁻¹) dK/dθ), α = K⁻¹ y   (Rasmussen & Williams 5.9)
    loss, args, _ = _program("gaussian_likelihood")
    ell, noise, X, y = args
    sqdist = ((X[:, None] - X[None]) ** 2).sum(-1)
    K = np.exp(-0.5 * sqdist / np.exp(2 * ell)) + np.exp(2 * noise) * np.eye(len(X))
    alpha = np.linalg.solve(K, y)
    inner = np.outer(alpha, alpha) - np.linalg.inv(K)
    dK_dell = np.exp(-0.5 * sqdist / np.exp(2 * ell)) * sqdist / np.exp(2 * ell)
    dK_dnoise = 2 * np.exp(2 * noise) * np.eye(len(X))
    g_ell, g_noise = cr.grad(lambda a, b: loss(cnp, a, b, X, y), argnums=(0, 1))(ell, noise)
    np.testing.assert_allclose(g_ell, 0.5 * np.trace(inner @ dK_dell), rtol=1e-10)
    np.testing.assert_allclose(g_noise, 0.5 * np.trace(inner @ dK_dnoise), rtol=1e-10)


def test_logistic_regression_gradient_is_the_hand_derived_one():
    loss, args, _ = _program("logistic_regression")
    w, b, X, y = args
    gw, gb = cr.grad(lambda w, b: loss(cnp, w, b, X, y), argnums=(0, 1))(w, b)
    p = 1 / (1 + np.exp(y * (X @ w + b)))                  # σ(−y z)
    np.testing.assert_allclose(gw, -(p * y) @ X / len(y) + 0.1 * w, rtol=1e-12)
    np.testing.assert_allclose(gb, -np.mean(p * y), rtol=1e-12)
