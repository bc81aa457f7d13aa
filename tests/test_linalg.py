"""Matrix calculus: chainrule's derivatives against the closed forms of the textbooks.

The course exercises (K = αAAᵀ + β⁻¹I):
  ∇_W ‖Wx − x‖² = 2(Wx − x)xᵀ
  L1(A) = −γ/2 log|K|          gives  ∇_A L1 = −γα K⁻¹A
  L2(A, B) = −½ tr(K⁻¹BBᵀ)     gives  ∇_A L2 = α K⁻¹BBᵀK⁻¹A,  ∇_B L2 = −K⁻¹B
computed with ``slogdet``, with ``log(det(...))``, with ``inv`` and with ``solve``,
in both modes; then the standard results for each matrix function, batched.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp

ALPHA, BETA, GAMMA = 0.7, 2.0, 1.3
rng = np.random.default_rng(7)
A = rng.normal(size=(3, 3))
B = rng.normal(size=(3, 2))


def K_of(A):
    return ALPHA * A @ A.T + cnp.eye(A.shape[0]) / BETA


K = ALPHA * A @ A.T + np.eye(3) / BETA
K_inv = np.linalg.inv(K)

L1_FORMS = {
    "slogdet": lambda A: -GAMMA / 2 * cnp.linalg.slogdet(K_of(A))[1],
    "log_det": lambda A: -GAMMA / 2 * cnp.log(cnp.linalg.det(K_of(A))),
    "cholesky": lambda A: -GAMMA * cnp.sum(cnp.log(cnp.diag(cnp.linalg.cholesky(K_of(A))))),
    "eigvalsh": lambda A: -GAMMA / 2 * cnp.sum(cnp.log(cnp.linalg.eigvalsh(K_of(A)))),
}
L2_FORMS = {
    "inv": lambda A, B: -0.5 * cnp.trace(cnp.linalg.inv(K_of(A)) @ B @ B.T),
    "solve": lambda A, B: -0.5 * cnp.trace(cnp.linalg.solve(K_of(A), B @ B.T)),
    "einsum": lambda A, B: -0.5 * cnp.einsum("ij,ji->", cnp.linalg.solve(K_of(A), B), B.T),
}


def _grad_both_modes(f, *args, argnums=0):
    """The gradient by reverse mode and, column by column, by forward mode."""
    rev = cr.grad(f, argnums)(*args)
    fwd = cr.jacfwd(f, argnums)(*args)
    return rev, fwd


@pytest.mark.parametrize("form", L1_FORMS)
def test_log_determinant_loss_gradient_is_minus_gamma_alpha_K_inverse_A(form):
    want = -GAMMA * ALPHA * np.linalg.solve(K, A)
    for got in _grad_both_modes(L1_FORMS[form], A):
        assert_allclose(got, want, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("form", L2_FORMS)
def test_trace_of_inverse_loss_gradients_match_the_hint_formula(form):
    M = K_inv @ B @ B.T @ K_inv
    (gA, gB), (fA, fB) = _grad_both_modes(L2_FORMS[form], A, B, argnums=(0, 1))
    for got_A, got_B in [(gA, gB), (fA, fB)]:
        assert_allclose(got_A, ALPHA * M @ A, rtol=1e-10, atol=1e-13)
        assert_allclose(got_B, -K_inv @ B, rtol=1e-10, atol=1e-13)


def test_squared_residual_gradient_by_einsum_and_norm():
    W, x = rng.normal(size=(4, 4)), rng.normal(size=4)
    want = 2 * np.outer(W @ x - x, x)
    by_einsum = cr.grad(lambda W: cnp.sum((cnp.einsum("ij,j->i", W, x) - x) ** 2))(W)
    by_norm = cr.grad(lambda W: cnp.linalg.norm(W @ x - x) ** 2)(W)
    assert_allclose(by_einsum, want, rtol=1e-12)
    assert_allclose(by_norm, want, rtol=1e-12)


def test_log_determinant_hessian_is_minus_K_inverse_kron_K_inverse():
    # d² log|X| [E, F] = −tr(X⁻¹ E X⁻¹ F): the Hessian is −(X⁻ᵀ ⊗ X⁻¹) permuted
    H = cr.hessian(lambda X: cnp.linalg.slogdet(X)[1])(K)
    want = -np.einsum("li,jk->ijkl", K_inv, K_inv)
    assert_allclose(H, want, rtol=1e-9, atol=1e-12)


# --- the standard result for each function, batched over a leading axis ------------------------

BATCH = rng.normal(size=(2, 3, 3)) + 3 * np.eye(3)
G = rng.normal(size=(2, 3, 3))


def _pullback(f, x, g):
    return cr.vjp(f, x)[1](g)[0]


def test_inverse_pullback_is_minus_A_inverse_transposed_sandwich():
    Ai = np.linalg.inv(BATCH)
    want = -np.swapaxes(Ai, -1, -2) @ G @ np.swapaxes(Ai, -1, -2)
    assert_allclose(_pullback(cnp.linalg.inv, BATCH, G), want, rtol=1e-10)


def test_determinant_gradient_is_det_times_inverse_transpose_jacobis_formula():
    want = np.linalg.det(BATCH)[:, None, None] * np.swapaxes(np.linalg.inv(BATCH), -1, -2)
    assert_allclose(_pullback(cnp.linalg.det, BATCH, np.ones(2)), want, rtol=1e-10)
    tangent = cr.jvp(cnp.linalg.det, (BATCH,), (G,))[1]
    assert_allclose(tangent, np.linalg.det(BATCH) * np.trace(np.linalg.solve(BATCH, G),
                                                              axis1=-2, axis2=-1), rtol=1e-10)


def test_slogdet_sign_has_no_gradient_and_logabsdet_handles_negative_determinants():
    X = np.array([[0.0, 2.0], [1.0, 0.5]])                      # det = −2
    sign, logabsdet = cnp.linalg.slogdet(cr.tensor(X))
    assert sign.item() == -1.0 and logabsdet.item() == pytest.approx(np.log(2.0))
    assert_allclose(cr.grad(lambda X: cnp.linalg.slogdet(X)[1])(X), np.linalg.inv(X).T)
    assert_allclose(cr.grad(lambda X: cnp.linalg.slogdet(X)[0] * 1.0)(X), np.zeros((2, 2)))


def test_solve_pullback_solves_with_the_transpose():
    b = rng.normal(size=(2, 3, 2))
    X = np.linalg.solve(BATCH, b)
    gX = rng.normal(size=X.shape)
    ga, gb = cr.vjp(cnp.linalg.solve, BATCH, b)[1](gX)
    want_b = np.linalg.solve(np.swapaxes(BATCH, -1, -2), gX)
    assert_allclose(gb, want_b, rtol=1e-10)
    assert_allclose(ga, -want_b @ np.swapaxes(X, -1, -2), rtol=1e-10)


def test_solve_with_a_vector_right_hand_side_broadcast_over_a_batch():
    b = rng.normal(size=3)
    g = cr.grad(lambda a, b: cnp.sum(cnp.linalg.solve(a, b)), argnums=(0, 1))(BATCH, b)
    cr.check_grads(lambda a, b: cnp.linalg.solve(a, b), BATCH, b, order=2)
    assert g[1].shape == (3,)


def test_cholesky_factor_reconstructs_and_its_derivative_keeps_the_product():
    S = BATCH @ np.swapaxes(BATCH, -1, -2)
    E = G + np.swapaxes(G, -1, -2)                    # a symmetric direction
    L, dL = cr.jvp(cnp.linalg.cholesky, (S,), (E,))
    assert_allclose(L @ np.swapaxes(L, -1, -2), S, rtol=1e-10)
    assert_allclose(np.triu(dL, 1), 0.0, atol=1e-12)  # stays lower triangular
    assert_allclose(dL @ np.swapaxes(L, -1, -2) + L @ np.swapaxes(dL, -1, -2), E, atol=1e-10)


def test_cholesky_gradient_flows_to_the_lower_triangle_numpy_reads():
    S = BATCH[0] @ BATCH[0].T
    g = cr.grad(lambda S: cnp.sum(cnp.linalg.cholesky(S)))(S)
    assert_allclose(np.triu(g, 1), 0.0)
    assert_allclose(g, cr.numerical_grad(lambda S: np.sum(np.linalg.cholesky(S)), S), rtol=1e-6)


def test_eigh_derivatives_are_the_perturbation_theory_results():
    Q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    S = Q @ np.diag([1.0, 2.0, 4.0]) @ Q.T
    E = G[0] + G[0].T
    (w, V), (dw, dV) = cr.jvp(cnp.linalg.eigh, (S,), (E,))
    assert_allclose(dw, np.diag(V.T @ E @ V), rtol=1e-10)     # first-order eigenvalue shift
    F = 1.0 / (w[None, :] - w[:, None] + np.eye(3)) - np.eye(3)
    assert_allclose(dV, V @ (F * (V.T @ E @ V)), rtol=1e-9, atol=1e-12)
    assert_allclose(V.T @ dV + dV.T @ V, 0.0, atol=1e-12)     # V stays orthogonal


def test_sum_of_eigenvalues_has_the_trace_gradient():
    S = BATCH + np.swapaxes(BATCH, -1, -2)
    g = cr.grad(lambda S: cnp.sum(cnp.linalg.eigvalsh(S)))(S)
    assert_allclose(g, np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12)   # d tr = I


def test_norms_have_their_textbook_gradients():
    x = np.array([3.0, -4.0, 0.0])
    assert_allclose(cr.grad(cnp.linalg.norm)(x), x / 5.0)
    assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, 1))(x), [1.0, -1.0, 0.0])
    assert_allclose(cr.grad(lambda x: cnp.linalg.norm(x, np.inf))(x), [0.0, -1.0, 0.0])
    M = rng.normal(size=(3, 2))
    U, _, Vt = np.linalg.svd(M, full_matrices=False)
    assert_allclose(cr.grad(lambda M: cnp.linalg.norm(M, "nuc"))(M), U @ Vt, rtol=1e-9)
    assert_allclose(cr.grad(lambda M: cnp.linalg.norm(M, 2))(M), np.outer(U[:, 0], Vt[0]),
                    rtol=1e-9)
    assert_allclose(cr.grad(lambda M: cnp.linalg.norm(M, "fro"))(M), M / np.sqrt(np.sum(M ** 2)))


def test_trace_einsum_tensordot_and_outer_give_their_transposes():
    X = rng.normal(size=(3, 3))
    assert_allclose(cr.grad(cnp.trace)(X), np.eye(3))
    assert_allclose(cr.grad(lambda X: cnp.trace(X @ X))(X), 2 * X.T)
    Y = rng.normal(size=(3, 4))
    assert_allclose(cr.grad(lambda X: cnp.einsum("ij,jk->", X, Y))(X),
                    np.broadcast_to(Y.sum(1), (3, 3)))
    u, v = rng.normal(size=3), rng.normal(size=4)
    gu, gv = cr.grad(lambda u, v: cnp.sum(cnp.outer(u, v) * Y), argnums=(0, 1))(u, v)
    assert_allclose(gu, Y @ v)
    assert_allclose(gv, u @ Y)
    T = rng.normal(size=(2, 3, 4))
    g = cr.grad(lambda T: cnp.sum(cnp.tensordot(T, Y, axes=([1, 2], [0, 1]))))(T)
    assert_allclose(g, np.broadcast_to(Y, (2, 3, 4)))


@pytest.mark.parametrize("symmetric", [True, False], ids=["cholesky", "lu"])
def test_a_diagonal_cotangent_solves_by_scaling_the_kept_inverse(symmetric, monkeypatch):
    # d tr(M⁻¹C)/dM = −M⁻ᵀ (M⁻¹C)ᵀ: the solve's rule meets the trace's diagonal cotangent,
    # which ops/_factor.py answers by scaling the columns of M⁻ᵀ instead of a product
    from chainrule.ops import _factor
    if _factor.lapack() is None:
        pytest.skip("no LAPACK to keep factors")
    gen = np.random.default_rng(3)
    m = gen.normal(size=(12, 12)) + 12 * np.eye(12)
    m = m @ m.T if symmetric else m
    c = gen.normal(size=(12, 12))
    x = np.linalg.solve(m, c)
    want = -np.linalg.inv(m).T @ x.T
    loss = cr.grad(lambda m_: 2.5 * cnp.trace(cnp.linalg.solve(m_, c)))
    scaled = loss(m)
    assert_allclose(scaled, 2.5 * want, rtol=1e-10, atol=1e-13)
    monkeypatch.setattr(_factor, "_diagonal_only", lambda b: False)
    assert_allclose(loss(m), scaled, rtol=1e-12, atol=1e-15)
