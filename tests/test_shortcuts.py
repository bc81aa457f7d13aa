"""Speed shortcuts give the same derivatives as the plain rules.

* A Gram product ``A @ A.T`` has a one-product reverse rule, (Ḡ + Ḡᵀ) A, used
  only when the right operand is the transpose of the left one in the graph.
* ``logabsdet`` and ``solve`` keep a LAPACK factorization for their rules, from
  NumPy's own OpenBLAS or SciPy's; with neither (the fixture's "none") NumPy does
  the work.
"""

import gc

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.ops import _factor
from chainrule.ops import linalg as la

rng = np.random.default_rng(11)
A = rng.normal(size=(4, 3))


def gram_loss(a):
    return cnp.sum(cnp.sin(a @ a.T))


def plain_loss(a):  # the same function, the transpose taken of a copy: no shortcut
    return cnp.sum(cnp.sin(a @ cnp.transpose(a * 1.0)))


# --- Gram products ----------------------------------------------------------------------------

def test_a_gram_product_is_flagged_only_when_the_right_operand_is_the_left_ones_transpose():
    a = cr.tensor(A, requires_grad=True)
    assert (a @ a.T)._node.params == {"gram": True}
    assert cnp.matmul(a, cnp.transpose(a))._node.params == {"gram": True}
    b = cr.tensor(A.copy(), requires_grad=True)
    assert (a @ b.T)._node.params == {}            # another tensor's transpose
    assert (a.T @ a)._node.params == {}            # AᵀA: the left operand is the transpose
    shared = cr.tensor(A.T, requires_grad=True)    # shares a's memory, but is its own leaf
    assert (a @ shared)._node.params == {}


@pytest.mark.parametrize("f", [gram_loss, lambda a: cnp.sum(cnp.matmul(a, cnp.transpose(a)) ** 2)])
def test_gram_shortcut_matches_numerical_derivatives_to_second_order(f):
    cr.check_grads(f, A, order=2)


def test_gram_shortcut_gradient_and_hessian_equal_the_plain_rules():
    assert_allclose(cr.grad(gram_loss)(A), cr.grad(plain_loss)(A), rtol=1e-12)
    assert_allclose(cr.hessian(gram_loss)(A), cr.hessian(plain_loss)(A), rtol=1e-10, atol=1e-12)


def test_gram_shortcut_on_the_tape_with_the_transpose_used_twice():
    a = cr.tensor(A, requires_grad=True)
    at = a.T
    loss = cnp.sum(a @ at) + cnp.sum(at * 3.0)     # Aᵀ also feeds another op
    loss.backward()
    expected = 2 * np.ones((4, 4)) @ A + 3.0
    assert_allclose(a.grad, expected, rtol=1e-12)


def test_a_leaf_sharing_memory_with_the_transpose_gets_its_own_gradient():
    a = cr.tensor(A, requires_grad=True)
    v = cr.tensor(A.T, requires_grad=True)         # a view of the same numbers, but a leaf
    cnp.sum(a @ v).backward()
    assert_allclose(a.grad, np.ones((4, 4)) @ A, rtol=1e-12)
    assert_allclose(v.grad, A.T @ np.ones((4, 4)), rtol=1e-12)


def test_the_trace_shows_the_transposes_adjoint_and_no_engine_hint():
    trace = cr.inspect.trace(gram_loss, A[:2, :2])
    rows = {row["operation"]: row for row in trace.rows}
    assert "v1 @ v2" in rows                        # the gram flag is not shown
    g = np.cos(A[:2, :2] @ A[:2, :2].T)
    assert_allclose(rows["transpose(v1)"]["adjoint"], A[:2, :2].T @ g, rtol=1e-12)


# --- kept factorizations ------------------------------------------------------------------------

FINDERS = {"numpy": _factor._numpy_lapack, "scipy": _factor._scipy_lapack, "none": lambda: None}


def _use(name, monkeypatch):
    found = FINDERS[name]()
    if name != "none" and found is None:
        pytest.skip(f"no {name} LAPACK here")
    monkeypatch.setitem(_factor._FOUND, "lapack", found)
    _factor._kept.clear()
    return name


@pytest.fixture(params=list(FINDERS))
def backend(request, monkeypatch):
    return _use(request.param, monkeypatch)


@pytest.fixture(params=["numpy", "scipy"])
def lapack_backend(request, monkeypatch):
    """The LAPACKs that keep factors (not "none")."""
    return _use(request.param, monkeypatch)


def _spd(n, dtype=np.float64):
    m = rng.normal(size=(n, n))
    return (m @ m.T + n * np.eye(n)).astype(dtype)


MATRICES = {
    "spd": _spd(5),
    "general": rng.normal(size=(5, 5)) + 5 * np.eye(5),
    "symmetric indefinite": np.diag([3.0, -2.0, 1.0, -4.0, 5.0]) + 0.1,
}


@pytest.mark.parametrize("name", MATRICES)
def test_logdet_inverse_and_solves_agree_with_numpy(backend, name):
    a = MATRICES[name]
    b, v = rng.normal(size=(5, 2)), rng.normal(size=5)
    sign, logabs = np.linalg.slogdet(a)
    got = cnp.linalg.slogdet(a)
    assert_allclose([got[0], got[1]], [sign, logabs], rtol=1e-12)
    assert_allclose(la._logabsdet_impl(a), logabs, rtol=1e-12)
    assert_allclose(la._inv_impl(a, reuse=True), np.linalg.inv(a), rtol=1e-10, atol=1e-12)
    for rhs in (b, v):
        assert_allclose(la._solve_impl(a, rhs), np.linalg.solve(a, rhs), rtol=1e-10)
        assert_allclose(la._solve_impl(a, rhs, transposed=True, reuse=True),
                        np.linalg.solve(a.T, rhs), rtol=1e-10)


@pytest.mark.parametrize("name", MATRICES)
def test_log_determinant_and_solve_gradients_agree_with_the_formulas(backend, name):
    a = MATRICES[name]
    assert_allclose(cr.grad(lambda m: cnp.linalg.slogdet(m)[1])(a), np.linalg.inv(a).T, rtol=1e-10)
    y = rng.normal(size=5)
    x = np.linalg.solve(a, y)
    g = cr.grad(lambda m: cnp.sum(cnp.linalg.solve(m, y)))(a)   # Ā = −A⁻ᵀ 1 xᵀ
    assert_allclose(g, -np.outer(np.linalg.solve(a.T, np.ones(5)), x), rtol=1e-10)
    cr.check_grads(lambda m: cnp.linalg.slogdet(m)[1] + cnp.sum(cnp.linalg.solve(m, y)), a, order=2)


def test_float32_matrices_stay_float32(backend):
    a = _spd(4, np.float32)
    assert la._logabsdet_impl(a).dtype == np.float32
    assert la._inv_impl(a, reuse=True).dtype == np.float32
    assert la._solve_impl(a, np.ones(4, np.float32)).dtype == np.float32


def test_a_singular_matrix_is_reported_as_numpy_reports_it(backend):
    s = np.ones((3, 3))
    assert tuple(cnp.linalg.slogdet(s)) == (0.0, -np.inf)
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        cnp.linalg.solve(s, np.ones(3))
    la._logabsdet_impl(s)
    with pytest.raises(np.linalg.LinAlgError, match="Singular matrix"):
        la._inv_impl(s, reuse=True)


def test_kept_factors_are_never_used_for_a_users_own_call_after_an_in_place_change(backend):
    a = _spd(4)
    la._logabsdet_impl(a)                    # keeps a's factors (with SciPy)
    a[0, 0] += 10.0
    a[1, 1] += 10.0
    assert_allclose(cnp.linalg.inv(a), np.linalg.inv(a), rtol=1e-12)
    assert_allclose(cnp.linalg.solve(a, np.ones(4)), np.linalg.solve(a, np.ones(4)), rtol=1e-12)


def test_kept_factors_go_with_their_matrix_and_are_few():
    if not _factor.usable(np.eye(2)):
        pytest.skip("no LAPACK here")
    matrices = [_spd(3) for _ in range(10)]
    for m in matrices:
        _factor.factorize(m)
    assert len(_factor._kept) <= _factor._KEEP
    assert _factor.kept(matrices[-1]) is not None and _factor.kept(matrices[0]) is None
    del matrices, m
    gc.collect()
    assert not _factor._kept


@pytest.mark.parametrize("n", [1, 5, 64, 65, 130])
def test_mirroring_the_lower_triangle_block_by_block(n):
    c = np.asfortranarray(rng.normal(size=(n, n)))
    assert_allclose(_factor._mirror_lower(c.copy()), np.tril(c) + np.tril(c, -1).T, rtol=0)


def test_the_trace_loss_gradient_equals_its_closed_form(backend):
    n, alpha, beta = 6, 0.7, 2.0
    a, b = rng.normal(size=(n, n)), rng.normal(size=(n, n))

    def loss(a):
        k = alpha * (a @ a.T) + np.eye(n) / beta
        return -0.5 * cnp.trace(cnp.linalg.solve(k, b @ b.T))

    k = alpha * a @ a.T + np.eye(n) / beta
    kb = np.linalg.solve(k, b)
    assert_allclose(cr.grad(loss)(a), alpha * kb @ kb.T @ a, rtol=1e-10)


def test_a_compiled_trace_loss_gradient_follows_new_inputs(backend):
    n, alpha, beta = 6, 0.7, 2.0

    def loss(a, b):
        k = alpha * cnp.matmul(a, cnp.transpose(a)) + np.eye(n) / beta
        return -0.5 * cnp.trace(cnp.linalg.solve(k, cnp.matmul(b, cnp.transpose(b))))

    compiled = cr.compile(cr.grad(loss))
    for _ in range(3):                     # recorded on the first call, replayed after
        a, b = rng.normal(size=(n, n)), rng.normal(size=(n, n))
        kb = np.linalg.solve(alpha * a @ a.T + np.eye(n) / beta, b)
        assert_allclose(compiled(a, b), alpha * kb @ kb.T @ a, rtol=1e-10)


def test_the_lapack_is_chosen_by_the_environment(monkeypatch):
    for choice in ("none", "numpy", "scipy"):
        monkeypatch.setenv("CHAINRULE_LAPACK", choice)
        monkeypatch.setattr(_factor, "_FOUND", {})
        found = _factor.lapack()
        assert found is None if choice == "none" else found is None or found.name == choice


def test_numpys_own_openblas_is_used_where_numpy_ships_it():
    import glob
    import os

    libs = glob.glob(os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs",
                                  "libscipy_openblas64_*"))
    if not libs:
        pytest.skip("this NumPy does not ship scipy-openblas64")
    found = _factor._numpy_lapack()
    assert found is not None and found._lib._name in libs   # NumPy's own file: its thread pool
    assert _factor._answers_right(found)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
def test_the_solve_rule_for_a_diagonal_cotangent_is_one_symmetric_product(lapack_backend, dtype,
                                                                         rtol):
    a, x = _spd(6, dtype), rng.normal(size=(6, 6)).astype(dtype)
    inverse = np.linalg.inv(a.astype(np.float64))
    factors = _factor.factorize(a)
    for diagonal in (np.full(6, -0.5), np.arange(1.0, 7.0)):     # c·I, then any diagonal
        g = np.diag(diagonal).astype(dtype)
        got = factors.solve_outer(g, np.asfortranarray(x))
        assert got.dtype == dtype and got.shape == (6, 6)
        assert_allclose(got, -inverse @ g @ x.T, rtol=rtol, atol=rtol)
    g = np.diag(np.arange(1.0, 7.0)).astype(dtype)
    assert factors.solve_outer(g + np.tril(np.ones((6, 6), dtype), -1), x) is None   # not diagonal
    assert factors.solve_outer(g[:, :5], x[:, :5]) is None                            # not square
    assert _factor.factorize(MATRICES["general"]).solve_outer(np.eye(5), np.eye(5)) is None  # LU


def test_trace_and_sum_of_solves_with_one_matrix_share_its_kept_inverse(backend):
    n = 5
    m, v = rng.normal(size=(n, n)), rng.normal(size=(n, 3))
    w = np.arange(1.0, n + 1)

    def loss(a):   # the reverse pass takes the second solve first: A⁻¹'s lower half, then all
        k = a @ a.T + n * np.eye(n)
        y = cnp.linalg.solve(k, v)
        return cnp.sum(y ** 2) + cnp.sum(cnp.diagonal(cnp.linalg.solve(k, m)) * w)

    a = rng.normal(size=(n, n))
    k = a @ a.T + n * np.eye(n)
    ki = np.linalg.inv(k)
    x, y = ki @ m, ki @ v
    k_bar = -ki @ np.diag(w) @ x.T - ki @ (2 * y) @ y.T         # Ā of each solve, summed
    assert_allclose(cr.grad(loss)(a), (k_bar + k_bar.T) @ a, rtol=1e-9)
    cr.check_grads(loss, a, order=2)
