"""Acceptance tests: the course's worked examples, reproduced through the public API.

Each test takes one example from the course material (the chain rule on small
graphs, the regularized logistic model, the four-intermediate toy function, the
evaluation trace of x1*x2 + exp(x1*x2) - sin(x2), the MLP error-signal
recursion, softmax with cross-entropy, matrix calculus) and checks chainrule's
derivatives against the derivative worked out by hand, written in plain NumPy.
"""

import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp

RTOL = 1e-12
ATOL = 1e-12


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_softmax(z, axis=-1):
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------
# f = (x + y) z at (1, 2, 3): m = x + y = 3, f = m z = 9.
# df/dz = m = 3, df/dm = z = 3, df/dx = df/dm * dm/dx = 3, df/dy = 3.
# ---------------------------------------------------------------------------


def test_sum_times_product_gives_value_9_and_partials_3_3_3_imperatively():
    x = cr.tensor(1.0, requires_grad=True)
    y = cr.tensor(2.0, requires_grad=True)
    z = cr.tensor(3.0, requires_grad=True)
    m = x + y
    f = m * z
    assert_allclose(f.item(), 9.0, rtol=RTOL)
    f.backward()
    for leaf in (x, y, z):
        assert isinstance(leaf.grad, cr.Tensor)
    assert_allclose([x.grad.item(), y.grad.item(), z.grad.item()], [3.0, 3.0, 3.0], rtol=RTOL)


def test_sum_times_product_gives_partials_3_3_3_functionally():
    def f(x, y, z):
        return (x + y) * z

    grads = cr.grad(f, argnums=(0, 1, 2))(1.0, 2.0, 3.0)
    assert isinstance(grads, tuple) and len(grads) == 3
    assert_allclose([float(g) for g in grads], [3.0, 3.0, 3.0], rtol=RTOL)

    value, grads = cr.value_and_grad(f, argnums=(0, 1, 2))(1.0, 2.0, 3.0)
    assert_allclose(float(value), 9.0, rtol=RTOL)
    assert_allclose([float(g) for g in grads], [3.0, 3.0, 3.0], rtol=RTOL)


def test_partials_of_sum_times_product_at_other_points_are_z_z_and_x_plus_y():
    rng = np.random.default_rng(0)
    x, y, z = rng.normal(size=(3, 5))
    gx, gy, gz = cr.grad(lambda x, y, z: cnp.sum((x + y) * z), argnums=(0, 1, 2))(x, y, z)
    assert_allclose(gx, z, rtol=RTOL, atol=ATOL)
    assert_allclose(gy, z, rtol=RTOL, atol=ATOL)
    assert_allclose(gz, x + y, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------
# Chain rule in one variable: f(x) = sqrt(1 + x^2), f'(x) = x / sqrt(1 + x^2).
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("x", [-2.0, -0.5, 0.0, 0.3, 4.0])
def test_derivative_of_sqrt_one_plus_x_squared_is_x_over_sqrt(x):
    g = cr.grad(lambda x: cnp.sqrt(1.0 + x**2))(x)
    assert_allclose(float(g), x / math.sqrt(1.0 + x * x), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------
# Regularized logistic model:
#   z = w x + b, y = sigma(z), L = 1/2 (y - t)^2, R = 1/2 w^2, L_reg = L + lambda R.
# By hand: dL_reg/dw = (y - t) y (1 - y) x + lambda w
#          dL_reg/db = (y - t) y (1 - y)
#          dL_reg/dx = (y - t) y (1 - y) w
# ---------------------------------------------------------------------------

LOGISTIC_POINTS = [
    # w,    b,    x,    t,   lambda
    (0.8, -0.3, 1.7, 0.2, 0.1),
    (-1.5, 0.4, 0.5, 1.0, 0.0),
    (2.0, 1.0, -3.0, 0.0, 0.5),
    (0.0, 0.0, 1.0, 1.0, 1.0),
]


def regularized_logistic_loss(w, b, x, t, lam):
    y = cr.sigmoid(w * x + b)
    loss = 0.5 * (y - t) ** 2
    reg = 0.5 * w**2
    return loss + lam * reg


def hand_logistic_grads(w, b, x, t, lam):
    y = np_sigmoid(w * x + b)
    dz = (y - t) * y * (1.0 - y)
    return dz * x + lam * w, dz, dz * w


@pytest.mark.parametrize("w,b,x,t,lam", LOGISTIC_POINTS)
def test_regularized_logistic_gradients_match_hand_derivation(w, b, x, t, lam):
    dw, db, dx = cr.grad(regularized_logistic_loss, argnums=(0, 1, 2))(w, b, x, t, lam)
    want_dw, want_db, want_dx = hand_logistic_grads(w, b, x, t, lam)
    assert_allclose(float(dw), want_dw, rtol=1e-10, atol=1e-14)
    assert_allclose(float(db), want_db, rtol=1e-10, atol=1e-14)
    assert_allclose(float(dx), want_dx, rtol=1e-10, atol=1e-14)


def test_regularized_logistic_gradients_by_backward_match_hand_derivation():
    w0, b0, x, t, lam = LOGISTIC_POINTS[0]
    w = cr.tensor(w0, requires_grad=True)
    b = cr.tensor(b0, requires_grad=True)
    loss = regularized_logistic_loss(w, b, x, t, lam)
    y = np_sigmoid(w0 * x + b0)
    assert_allclose(loss.item(), 0.5 * (y - t) ** 2 + lam * 0.5 * w0**2, rtol=RTOL)
    loss.backward()
    want_dw, want_db, _ = hand_logistic_grads(w0, b0, x, t, lam)
    assert_allclose(w.grad.item(), want_dw, rtol=1e-10)
    assert_allclose(b.grad.item(), want_db, rtol=1e-10)


def test_regularized_logistic_gradients_vectorized_over_examples():
    rng = np.random.default_rng(0)
    x = rng.normal(size=8)
    t = rng.uniform(size=8)
    w, b, lam = 0.6, -0.2, 0.3

    def total_loss(w, b):
        y = cr.sigmoid(w * x + b)
        return 0.5 * cnp.sum((y - t) ** 2) + lam * 0.5 * w**2

    dw, db = cr.grad(total_loss, argnums=(0, 1))(w, b)
    y = np_sigmoid(w * x + b)
    dz = (y - t) * y * (1 - y)
    assert_allclose(float(dw), np.sum(dz * x) + lam * w, rtol=1e-10)
    assert_allclose(float(db), np.sum(dz), rtol=1e-10)


# ---------------------------------------------------------------------------
# p(x, y) = 6 exp(-y) / (1 + x^2 + y^2) + 2 x^3, with the course's intermediates
#   z1 = exp(-y), z2 = 1 + x^2 + y^2, z3 = x^3, z4 = 6 z1 / z2 + 2 z3.
# dz4/dz3 = 2, dz4/dz2 = -6 z1 / z2^2, dz4/dz1 = 6 / z2,
# dp/dx = 6 x^2 - 12 x z1 / z2^2, dp/dy = -12 y z1 / z2^2 - 6 exp(-y) / z2.
# ---------------------------------------------------------------------------

TOY_POINTS = [(1.0, 2.0), (-0.5, 0.3), (2.0, -1.0), (0.0, 0.0)]


def toy_p(x, y):
    return 6.0 * cnp.exp(-y) / (1.0 + x**2 + y**2) + 2.0 * x**3


def hand_toy_partials(x, y):
    z1 = math.exp(-y)
    z2 = 1.0 + x * x + y * y
    dx = 6.0 * x * x - 12.0 * x * z1 / z2**2
    dy = -12.0 * y * z1 / z2**2 - 6.0 * math.exp(-y) / z2
    return dx, dy


@pytest.mark.parametrize("x,y", TOY_POINTS)
def test_toy_function_value_and_reverse_partials_match_hand_derivation(x, y):
    value, (dx, dy) = cr.value_and_grad(toy_p, argnums=(0, 1))(x, y)
    assert_allclose(float(value), 6 * math.exp(-y) / (1 + x * x + y * y) + 2 * x**3, rtol=RTOL)
    want_dx, want_dy = hand_toy_partials(x, y)
    assert_allclose(float(dx), want_dx, rtol=1e-12, atol=1e-14)
    assert_allclose(float(dy), want_dy, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("x,y", TOY_POINTS)
def test_toy_function_forward_tangents_match_hand_derivation(x, y):
    want_dx, want_dy = hand_toy_partials(x, y)
    _, tx = cr.jvp(toy_p, (x, y), (1.0, 0.0))
    _, ty = cr.jvp(toy_p, (x, y), (0.0, 1.0))
    assert_allclose(float(tx), want_dx, rtol=1e-12, atol=1e-14)
    assert_allclose(float(ty), want_dy, rtol=1e-12, atol=1e-14)


def test_toy_function_local_derivatives_of_z4_match_course():
    # z4 as a function of its own inputs (z1, z2, z3) at (x, y) = (1, 2).
    x, y = 1.0, 2.0
    z1, z2, z3 = math.exp(-y), 1 + x * x + y * y, x**3
    g1, g2, g3 = cr.grad(lambda z1, z2, z3: 6 * z1 / z2 + 2 * z3, argnums=(0, 1, 2))(z1, z2, z3)
    assert_allclose(float(g3), 2.0, rtol=RTOL)
    assert_allclose(float(g2), -6 * z1 / z2**2, rtol=RTOL)
    assert_allclose(float(g1), 6 / z2, rtol=RTOL)


# ---------------------------------------------------------------------------
# Evaluation trace of f(x1, x2) = x1 x2 + exp(x1 x2) - sin(x2) at (1.5, 0.5).
# Primals:  v1 = x1, v2 = x2, v3 = v1 v2, v4 = sin v2, v5 = exp v3,
#           v6 = v3 - v4, v7 = v5 + v6.
# Tangents: v3' = v1 v2' + v1' v2, v4' = v2' cos v2, v5' = v3' exp v3, ...
# Adjoints: v7_ = 1, v6_ = v5_ = v7_, v4_ = -v6_, v3_ = v5_ v5 + v6_,
#           v2_ = v3_ v1 + v4_ cos v2, v1_ = v3_ v2.
# (The course's adjoint table prints "v2_ = v2_ v1 + ..."; the chain rule gives v3_ v1.)
# The course gives the recurrences but no numbers; these are worked out from them.
# ---------------------------------------------------------------------------

X1, X2 = 1.5, 0.5
TRACE_PRIMALS = {
    "v3": 0.75,
    "v4": 0.479425538604203,  # sin(0.5)
    "v5": 2.117000016612675,  # exp(0.75)
    "v6": 0.270574461395797,
    "v7": 2.387574478008472,
}
DF_DX1 = 1.5585000083063374  # x2 + x2 exp(x1 x2)
DF_DX2 = 3.7979174630286394  # x1 + x1 exp(x1 x2) - cos(x2)


def trace_f(x1, x2):
    return x1 * x2 + cnp.exp(x1 * x2) - cnp.sin(x2)


def course_trace_by_hand(x1, x2, seed):
    """The course's primal, tangent and adjoint recurrences in plain Python."""
    v1, v2 = x1, x2
    v3 = v1 * v2
    v4 = math.sin(v2)
    v5 = math.exp(v3)
    v6 = v3 - v4
    v7 = v5 + v6
    d1, d2 = seed
    d3 = v1 * d2 + d1 * v2
    d4 = d2 * math.cos(v2)
    d5 = d3 * math.exp(v3)
    d6 = d3 - d4
    d7 = d5 + d6
    a7 = 1.0
    a6 = a7
    a5 = a7
    a4 = -a6
    a3 = a5 * v5 + a6
    a2 = a3 * v1 + a4 * math.cos(v2)
    a1 = a3 * v2
    return {"v3": v3, "v4": v4, "v5": v5, "v6": v6, "v7": v7}, d7, (a1, a2)


def test_course_trace_recurrences_give_the_hand_partials():
    # Guards the expected numbers themselves: the table recurrences, the closed
    # forms and the literal constants all agree.
    primals, t1, adjoints = course_trace_by_hand(X1, X2, (1.0, 0.0))
    _, t2, _ = course_trace_by_hand(X1, X2, (0.0, 1.0))
    for name, value in TRACE_PRIMALS.items():
        assert_allclose(primals[name], value, rtol=1e-14)
    e = math.exp(X1 * X2)
    assert_allclose([t1, t2], [X2 + X2 * e, X1 + X1 * e - math.cos(X2)], rtol=1e-14)
    assert_allclose(adjoints, [DF_DX1, DF_DX2], rtol=1e-14)
    assert_allclose([t1, t2], [DF_DX1, DF_DX2], rtol=1e-14)


def test_trace_example_value_at_1_5_and_0_5():
    value, _ = cr.jvp(trace_f, (X1, X2), (1.0, 0.0))
    assert_allclose(float(value), TRACE_PRIMALS["v7"], rtol=1e-14)


def test_trace_example_forward_tangents_with_unit_seeds_are_the_partials():
    _, t1 = cr.jvp(trace_f, (X1, X2), (1.0, 0.0))
    _, t2 = cr.jvp(trace_f, (X1, X2), (0.0, 1.0))
    assert_allclose(float(t1), DF_DX1, rtol=1e-13)
    assert_allclose(float(t2), DF_DX2, rtol=1e-13)


def test_trace_example_forward_tangent_is_linear_in_the_seed():
    _, t = cr.jvp(trace_f, (X1, X2), (2.0, -3.0))
    assert_allclose(float(t), 2.0 * DF_DX1 - 3.0 * DF_DX2, rtol=1e-13)


def test_trace_example_reverse_gradient_is_the_adjoints_of_the_inputs():
    g1, g2 = cr.grad(trace_f, argnums=(0, 1))(X1, X2)
    assert_allclose([float(g1), float(g2)], [DF_DX1, DF_DX2], rtol=1e-13)


def test_trace_example_vjp_with_unit_cotangent_gives_the_adjoints():
    out, vjp_fn = cr.vjp(trace_f, X1, X2)
    assert_allclose(float(out), TRACE_PRIMALS["v7"], rtol=1e-14)
    a1, a2 = vjp_fn(1.0)
    assert_allclose([float(a1), float(a2)], [DF_DX1, DF_DX2], rtol=1e-13)


def test_trace_example_imperative_backward_gives_the_adjoints():
    x1 = cr.tensor(X1, requires_grad=True)
    x2 = cr.tensor(X2, requires_grad=True)
    f = x1 * x2 + (x1 * x2).exp() - cnp.sin(x2)
    assert_allclose(f.item(), TRACE_PRIMALS["v7"], rtol=1e-14)
    f.backward()
    assert_allclose([x1.grad.item(), x2.grad.item()], [DF_DX1, DF_DX2], rtol=1e-13)


# ---------------------------------------------------------------------------
# One hidden sigmoid layer, linear output (the section's 1-hidden-layer network):
#   z = sigma(W0 x + b0), y = W1 z + b1, W0: h x d, W1: 1 x h.
#   dy/dW1 = z^T, dy/db1 = 1, dy/dW0 = [W1^T o z o (1 - z)] x^T, dy/db0 = W1^T o z o (1 - z).
# ---------------------------------------------------------------------------


def one_hidden_layer_output(W0, b0, W1, b1, x):
    z = cr.sigmoid(W0 @ x + b0)
    return cnp.sum(W1 @ z) + b1


def test_one_hidden_layer_gradients_match_section_solution():
    rng = np.random.default_rng(0)
    d, h = 2, 4
    W0, b0 = rng.normal(size=(h, d)), rng.normal(size=h)
    W1, b1 = rng.normal(size=(1, h)), 0.3
    x = rng.normal(size=d)
    gW0, gb0, gW1, gb1 = cr.grad(one_hidden_layer_output, argnums=(0, 1, 2, 3))(W0, b0, W1, b1, x)
    z = np_sigmoid(W0 @ x + b0)
    s = W1[0] * z * (1 - z)
    assert gW0.shape == (h, d) and gb0.shape == (h,) and gW1.shape == (1, h)
    assert_allclose(gW1, z[None, :], rtol=1e-12)
    assert_allclose(float(gb1), 1.0, rtol=1e-12)
    assert_allclose(gW0, np.outer(s, x), rtol=1e-12, atol=1e-14)
    assert_allclose(gb0, s, rtol=1e-12, atol=1e-14)


def test_zero_initialized_network_has_identical_hidden_units_and_zero_first_layer_gradient():
    d, h = 2, 4
    W0, b0, W1, b1 = np.zeros((h, d)), np.zeros(h), np.zeros((1, h)), 0.0
    x = np.array([0.7, -1.3])
    value, (gW0, gb0, gW1, gb1) = cr.value_and_grad(one_hidden_layer_output, argnums=(0, 1, 2, 3))(
        W0, b0, W1, b1, x
    )
    assert_allclose(float(value), 0.0, atol=1e-15)
    assert_allclose(gW1, np.full((1, h), 0.5), rtol=1e-15)
    assert_allclose(float(gb1), 1.0, rtol=1e-15)
    assert_allclose(gW0, np.zeros((h, d)), atol=1e-15)
    assert_allclose(gb0, np.zeros(h), atol=1e-15)


# ---------------------------------------------------------------------------
# MLP with tanh layers, the course's convention: z^0 = x, z^l = tanh(W^l z^(l-1) + b^l),
# R = 1/2 ||z^L - t||^2, error signal delta^l = dR/dz^l (a row vector), and
#   delta^l = delta^(l+1) dz^(l+1)/dz^l,  dz^(l+1)/dz^l = diag(1 - (z^(l+1))^2) W^(l+1),
#   dR/dW^l = (delta^l o (1 - (z^l)^2)) (z^(l-1))^T,  dR/db^l = delta^l o (1 - (z^l)^2).
# ---------------------------------------------------------------------------

LAYER_SIZES = [3, 5, 4, 2]


def make_mlp(rng):
    params = []
    for n_in, n_out in itertools.pairwise(LAYER_SIZES):
        params.append(
            (rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), rng.normal(size=n_out) * 0.1)
        )
    return params


def mlp_forward_np(params, x):
    zs = [x]
    for W, b in params:
        zs.append(np.tanh(W @ zs[-1] + b))
    return zs


def mlp_backward_by_hand(params, x, t):
    """The course's recursion, written in plain NumPy. Returns (deltas, grads)."""
    zs = mlp_forward_np(params, x)
    L = len(params)
    deltas = [None] * (L + 1)
    grads = [None] * L
    deltas[L] = zs[L] - t
    for l in range(L, 0, -1):
        W, _ = params[l - 1]
        local = deltas[l] * (1.0 - zs[l] ** 2)  # delta^l o tanh'
        grads[l - 1] = (np.outer(local, zs[l - 1]), local)
        jac = np.diag(1.0 - zs[l] ** 2) @ W  # dz^l / dz^(l-1)
        deltas[l - 1] = deltas[l] @ jac
    return deltas, grads


def mlp_loss_flat(W1, b1, W2, b2, W3, b3, x, t):
    z = x
    for W, b in ((W1, b1), (W2, b2), (W3, b3)):
        z = cnp.tanh(cnp.dot(W, z) + b)
    return 0.5 * cnp.sum((z - t) ** 2)


def test_mlp_weight_and_bias_gradients_match_error_signal_recursion():
    rng = np.random.default_rng(0)
    params = make_mlp(rng)
    x, t = rng.normal(size=LAYER_SIZES[0]), rng.uniform(-0.5, 0.5, size=LAYER_SIZES[-1])
    flat = [p for layer in params for p in layer]
    got = cr.grad(mlp_loss_flat, argnums=(0, 1, 2, 3, 4, 5))(*flat, x, t)
    _, want = mlp_backward_by_hand(params, x, t)
    want_flat = [p for layer in want for p in layer]
    assert len(got) == 6
    for g, w, p in zip(got, want_flat, flat):
        assert g.shape == p.shape
        assert_allclose(g, w, rtol=1e-10, atol=1e-13)


def test_mlp_error_signals_equal_gradient_of_the_rest_of_the_network():
    rng = np.random.default_rng(0)
    params = make_mlp(rng)
    x, t = rng.normal(size=LAYER_SIZES[0]), rng.uniform(-0.5, 0.5, size=LAYER_SIZES[-1])
    zs = mlp_forward_np(params, x)
    deltas, _ = mlp_backward_by_hand(params, x, t)

    def loss_from_layer(l):
        def rest(z):
            for W, b in params[l:]:
                z = cnp.tanh(W @ z + b)
            return 0.5 * cnp.sum((z - t) ** 2)

        return rest

    for l in range(len(params), -1, -1):
        delta = cr.grad(loss_from_layer(l))(zs[l])
        assert_allclose(delta, deltas[l], rtol=1e-10, atol=1e-13)


def test_tanh_layer_jacobian_is_diag_tanh_prime_times_weights():
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(4, 3)), rng.normal(size=4)
    z_prev = rng.normal(size=3)
    z = np.tanh(W @ z_prev + b)
    want = np.diag(1.0 - z**2) @ W
    for jac in (cr.jacrev, cr.jacfwd):
        got = jac(lambda z_prev: cnp.tanh(W @ z_prev + b))(z_prev)
        assert got.shape == (4, 3)
        assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_mlp_gradients_vectorized_over_a_batch_match_slide_formulas():
    # Columns are samples (n_l x N), b^l is an n_l x 1 column broadcast over the
    # batch, J = 1/N sum_i 1/2 ||a^L(i) - y(i)||^2, and (slides)
    #   dA^L = A^L - Y, dZ = dA o g'(Z), dW = 1/N dZ A^(l-1)^T,
    #   db = 1/N sum(dZ, axis=1), dA^(l-1) = W^T dZ.
    rng = np.random.default_rng(1)
    N = 6
    params = [
        {"W": rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), "b": rng.normal(size=(n_out, 1))}
        for n_in, n_out in itertools.pairwise(LAYER_SIZES)
    ]
    X = rng.normal(size=(LAYER_SIZES[0], N))
    Y = rng.uniform(-0.5, 0.5, size=(LAYER_SIZES[-1], N))

    def cost(params, X, Y):
        A = X
        for layer in params:
            A = cnp.tanh(layer["W"] @ A + layer["b"])
        return 0.5 * cnp.sum((A - Y) ** 2) / X.shape[1]

    got = cr.grad(cost)(params, X, Y)

    As = [X]
    for layer in params:
        As.append(np.tanh(layer["W"] @ As[-1] + layer["b"]))
    dA = As[-1] - Y
    want = [None] * len(params)
    for l in range(len(params), 0, -1):
        dZ = dA * (1.0 - As[l] ** 2)
        want[l - 1] = {"W": dZ @ As[l - 1].T / N, "b": np.sum(dZ, axis=1, keepdims=True) / N}
        dA = params[l - 1]["W"].T @ dZ

    assert isinstance(got, list) and len(got) == len(params)
    for g, w in zip(got, want):
        assert isinstance(g, dict) and set(g) == {"W", "b"}
        assert g["b"].shape == w["b"].shape
        assert_allclose(g["W"], w["W"], rtol=1e-10, atol=1e-13)
        assert_allclose(g["b"], w["b"], rtol=1e-10, atol=1e-13)


def test_slide_sigmoid_layer_example_forward_values_and_gradients():
    W = np.array([[1, -1, -0.5], [1, 0.5, -1], [-0.2, 0.3, 0.5], [-1, 1, 1]])
    b = np.array([-1.0, -1.0, 1.0, 1.0]).reshape(4, 1)
    A_prev = np.array([[1, -1, -0.5], [-1, -0.5, 1]]).T  # 3 x 2: two samples
    Z_slide = np.array([[1.25, -2.0], [0.0, -3.25], [0.25, 1.55], [-1.5, 2.5]])
    A_slide = np.array([[0.78, 0.12], [0.50, 0.04], [0.56, 0.83], [0.18, 0.92]])

    Z = np.asarray(cnp.matmul(W, A_prev) + b)
    A = np.asarray(cr.sigmoid(cnp.matmul(W, A_prev) + b))
    assert_allclose(Z, Z_slide, rtol=0, atol=1e-12)
    # The slide shows two decimals (and 0.83 for sigmoid(1.55) = 0.8249...).
    assert_allclose(A, A_slide, rtol=0, atol=0.006)
    assert_allclose(A, np_sigmoid(Z_slide), rtol=1e-14)

    Y = np.array([[1, 0], [0, 0], [0, 1], [0, 1]], dtype=float)

    def cost(W, b):
        A = cr.sigmoid(W @ A_prev + b)
        return 0.5 * cnp.sum((A - Y) ** 2) / 2

    gW, gb = cr.grad(cost, argnums=(0, 1))(W, b)
    A = np_sigmoid(W @ A_prev + b)
    dZ = (A - Y) * A * (1 - A)
    assert_allclose(gW, dZ @ A_prev.T / 2, rtol=1e-12, atol=1e-15)
    assert_allclose(gb, np.sum(dZ, axis=1, keepdims=True) / 2, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Softmax + cross-entropy: L = -sum_k y_k log softmax(a)_k, dL/da = softmax(a) - y
# (for label rows that sum to one). Summed over a batch, row by row.
# ---------------------------------------------------------------------------


def one_hot_batch(rng, n, k):
    return np.eye(k)[rng.integers(0, k, size=n)]


def ce_with_log_softmax(z, y):
    return -cnp.sum(y * cr.log_softmax(z, axis=-1))


def ce_with_log_of_softmax(z, y):
    return -cnp.sum(y * cnp.log(cr.softmax(z, axis=-1)))


@pytest.mark.parametrize("loss", [ce_with_log_softmax, ce_with_log_of_softmax])
def test_cross_entropy_gradient_wrt_logits_is_softmax_minus_labels(loss):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5, 4)) * 3.0
    y = one_hot_batch(rng, 5, 4)
    value, g = cr.value_and_grad(loss)(z, y)
    p = np_softmax(z)
    assert_allclose(float(value), -np.sum(y * np.log(p)), rtol=1e-12)
    assert g.shape == z.shape
    assert_allclose(g, p - y, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("loss", [ce_with_log_softmax, ce_with_log_of_softmax])
def test_cross_entropy_gradient_with_soft_labels_is_softmax_minus_labels(loss):
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 6))
    y = rng.uniform(size=(3, 6))
    y /= y.sum(axis=1, keepdims=True)
    g = cr.grad(loss)(z, y)
    assert_allclose(g, np_softmax(z) - y, rtol=1e-10, atol=1e-13)


def test_mean_cross_entropy_gradient_is_softmax_minus_labels_over_batch_size():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(7, 3))
    y = one_hot_batch(rng, 7, 3)
    g = cr.grad(lambda z: cnp.mean(-cnp.sum(y * cr.log_softmax(z), axis=1)))(z)
    assert_allclose(g, (np_softmax(z) - y) / 7, rtol=1e-10, atol=1e-14)


def test_log_softmax_cross_entropy_is_finite_for_logits_of_magnitude_1e4():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5, 4)) * 1e4
    z[0] = [1e4, -1e4, 1e4, 0.0]  # a tie at the top
    y = one_hot_batch(rng, 5, 4)
    log_p = np.asarray(cr.log_softmax(z, axis=-1))
    p = np.asarray(cr.softmax(z, axis=-1))
    assert np.all(np.isfinite(log_p)) and np.all(np.isfinite(p))
    shifted = z - z.max(axis=1, keepdims=True)
    want_log_p = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    assert_allclose(log_p, want_log_p, rtol=1e-12, atol=1e-9)
    assert_allclose(p.sum(axis=1), np.ones(5), rtol=1e-12)
    assert_allclose(p[0], [0.5, 0.0, 0.5, 0.0], atol=1e-12)

    value, g = cr.value_and_grad(ce_with_log_softmax)(z, y)
    assert np.isfinite(float(value))
    assert_allclose(float(value), -np.sum(y * want_log_p), rtol=1e-12)
    assert np.all(np.isfinite(g))
    assert_allclose(g, np_softmax(z) - y, rtol=1e-10, atol=1e-12)


def test_logsumexp_is_finite_and_its_gradient_is_softmax_for_huge_logits():
    z = np.array([1e4, 1e4 - 1.0, -1e4])
    value = cr.logsumexp(z)
    want = 1e4 + np.log(1.0 + np.exp(-1.0))
    assert_allclose(float(np.asarray(value)), want, rtol=1e-14)
    g = cr.grad(cr.logsumexp)(z)
    assert_allclose(g, np_softmax(z), rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------------------
# Matrix calculus.
#   L = ||W x - x||^2:                         dL/dW = 2 (W x - x) x^T
#   L1(A) = -g/2 log|a A A^T + I/b|:            dL1/dA = -g a K^-1 A      (K = a A A^T + I/b)
#   L2(A, B) = -1/2 tr(K^-1 B B^T):             dL2/dA = a M A, M = K^-1 B B^T K^-1
#                                               dL2/dB = -K^-1 B
# ---------------------------------------------------------------------------


def test_gradient_of_squared_residual_norm_is_two_residual_times_x_transposed():
    rng = np.random.default_rng(0)
    n = 4
    W, x = rng.normal(size=(n, n)), rng.normal(size=n)
    want = 2.0 * np.outer(W @ x - x, x)

    def loss_with_dot(W):
        residual = cnp.dot(W, x) - x
        return cnp.dot(residual, residual)

    g_matmul = cr.grad(lambda W: cnp.sum((W @ x - x) ** 2))(W)
    g_dot = cr.grad(loss_with_dot)(W)
    assert g_matmul.shape == (n, n)
    assert_allclose(g_matmul, want, rtol=1e-12, atol=1e-14)
    assert_allclose(g_dot, want, rtol=1e-12, atol=1e-14)


ALPHA, BETA, GAMMA = 0.7, 2.0, 1.3


def kernel_matrix(A):
    return ALPHA * A @ A.T + cnp.eye(A.shape[0]) / BETA


def test_gradient_of_log_determinant_loss_matches_matrix_cookbook():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(3, 3))
    g = cr.grad(lambda A: -GAMMA / 2 * cnp.linalg.slogdet(kernel_matrix(A))[1])(A)
    K = ALPHA * A @ A.T + np.eye(3) / BETA
    assert_allclose(g, -GAMMA * ALPHA * np.linalg.solve(K, A), rtol=1e-10, atol=1e-13)


def test_gradient_of_trace_of_inverse_loss_matches_hint_formula():
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))

    def L2(A, B):
        return -0.5 * cnp.trace(cnp.linalg.inv(kernel_matrix(A)) @ B @ B.T)

    gA, gB = cr.grad(L2, argnums=(0, 1))(A, B)
    K_inv = np.linalg.inv(ALPHA * A @ A.T + np.eye(3) / BETA)
    M = K_inv @ B @ B.T @ K_inv
    assert_allclose(gA, ALPHA * M @ A, rtol=1e-10, atol=1e-13)
    assert_allclose(gB, -K_inv @ B, rtol=1e-10, atol=1e-13)
