"""Acceptance tests: transformations composed with each other and with the tape.

Nested derivatives without perturbation confusion, higher derivatives in every
combination of modes, Hessians and Hessian-vector products, Jacobian shapes and
trees, dtype rules, stop_gradient / no_grad, double backward on the tape, and
very long chains.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp


def forward_derivative(f):
    """x -> f'(x) by forward mode, for a scalar function of a scalar."""
    return lambda x: cr.jvp(f, (x,), (1.0,))[1]


# ---------------------------------------------------------------------------
# Perturbation confusion.
#   d/dx [ x * d/dy (x + y) ] = d/dx [ x * 1 ] = 1       (a confused engine gives 2)
#   D(lambda x. x * D(lambda y. x * y)(2))(1): the inner derivative is x, so the
#   outer function is x^2 and the answer is 2x = 2     (a confused engine gives 3)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("x", [1.0, -0.7, 3.0])
def test_grad_of_grad_has_no_perturbation_confusion(x):
    def outer(x):
        inner = cr.grad(lambda y: x + y)(1.0)
        return x * inner

    assert_allclose(float(cr.grad(outer)(x)), 1.0, rtol=1e-15)


@pytest.mark.parametrize("x", [1.0, -0.7, 3.0])
def test_jvp_of_jvp_has_no_perturbation_confusion(x):
    def outer(x):
        return x * forward_derivative(lambda y: x + y)(1.0)

    assert_allclose(float(forward_derivative(outer)(x)), 1.0, rtol=1e-15)


@pytest.mark.parametrize("x", [1.0, -0.7, 3.0])
def test_mixed_jvp_and_grad_nesting_has_no_perturbation_confusion(x):
    def outer_with_inner_jvp(x):
        return x * forward_derivative(lambda y: x + y)(1.0)

    def outer_with_inner_grad(x):
        return x * cr.grad(lambda y: x + y)(1.0)

    assert_allclose(float(cr.grad(outer_with_inner_jvp)(x)), 1.0, rtol=1e-15)
    assert_allclose(float(forward_derivative(outer_with_inner_grad)(x)), 1.0, rtol=1e-15)


@pytest.mark.parametrize(
    "outer_d,inner_d",
    [
        (cr.grad, cr.grad),
        (forward_derivative, forward_derivative),
        (cr.grad, forward_derivative),
        (forward_derivative, cr.grad),
    ],
    ids=["rev-rev", "fwd-fwd", "rev-fwd", "fwd-rev"],
)
@pytest.mark.parametrize("x", [1.0, 0.5, -2.0])
def test_siskind_pearlmutter_example_gives_2x_in_every_mode(outer_d, inner_d, x):
    def outer(x):
        return x * inner_d(lambda y: x * y)(2.0)

    # At x = 1 this is the classic D(lambda x. x * D(lambda y. x * y)(2))(1) = 2.
    assert_allclose(float(outer_d(outer)(x)), 2.0 * x, rtol=1e-14)


def test_grad_of_a_function_using_vjp_inside_has_no_perturbation_confusion():
    def outer(x):
        _, vjp_fn = cr.vjp(lambda y: x * y, 2.0)
        (inner,) = vjp_fn(1.0)
        return x * inner  # x * x

    assert_allclose(float(cr.grad(outer)(1.5)), 3.0, rtol=1e-14)


def test_inner_derivative_closing_over_outer_variable_keeps_outer_dependence():
    # d/dx [ d/dy (x^2 y^3) at y=1 ] = d/dx [3 x^2] = 6x
    def outer(x):
        return cr.grad(lambda y: x**2 * y**3)(1.0)

    for mode in (cr.grad, forward_derivative):
        assert_allclose(float(mode(outer)(1.25)), 6 * 1.25, rtol=1e-14)


# ---------------------------------------------------------------------------
# Third derivative of sin: sin''' = -cos, in every combination of modes.
# ---------------------------------------------------------------------------

SIN_POINTS = [-2.0, -0.3, 0.0, 0.7, 1.9, 3.0]

THIRD_DERIVATIVES = {
    "rev-rev-rev": lambda f: cr.grad(cr.grad(cr.grad(f))),
    "fwd-fwd-fwd": lambda f: forward_derivative(forward_derivative(forward_derivative(f))),
    "rev-fwd-rev": lambda f: cr.grad(forward_derivative(cr.grad(f))),
    "fwd-rev-fwd": lambda f: forward_derivative(cr.grad(forward_derivative(f))),
    "fwd-rev-rev": lambda f: forward_derivative(cr.grad(cr.grad(f))),
    "rev-rev-fwd": lambda f: cr.grad(cr.grad(forward_derivative(f))),
}


@pytest.mark.parametrize("modes", sorted(THIRD_DERIVATIVES))
def test_third_derivative_of_sin_is_minus_cos(modes):
    d3 = THIRD_DERIVATIVES[modes](cnp.sin)
    got = [float(d3(x)) for x in SIN_POINTS]
    assert_allclose(got, [-math.cos(x) for x in SIN_POINTS], rtol=1e-13, atol=1e-15)


def test_fourth_derivative_of_sin_is_sin():
    d4 = cr.grad(cr.grad(cr.grad(cr.grad(cnp.sin))))
    got = [float(d4(x)) for x in SIN_POINTS]
    assert_allclose(got, [math.sin(x) for x in SIN_POINTS], rtol=1e-13, atol=1e-15)


def test_second_derivative_of_tensor_method_tanh_matches_closed_form():
    # tanh'' = -2 tanh (1 - tanh^2)
    d2 = cr.grad(cr.grad(lambda x: x.tanh()))
    for x in (-1.2, 0.0, 0.4):
        t = math.tanh(x)
        assert_allclose(float(d2(x)), -2 * t * (1 - t * t), rtol=1e-13, atol=1e-15)


# ---------------------------------------------------------------------------
# Hessians: f(x) = 1/2 x^T A x + sum(sin x), A symmetric, H = A - diag(sin x).
# ---------------------------------------------------------------------------


def hessian_problem(seed=0):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(4, 4))
    A = (M + M.T) / 2
    x = rng.normal(size=4)
    v = rng.normal(size=4)

    def f(x):
        return 0.5 * cnp.dot(x, cnp.dot(A, x)) + cnp.sum(cnp.sin(x))

    return f, A, x, v


HESSIAN_WAYS = {
    "hessian": lambda f: cr.hessian(f),
    "jacfwd(jacrev)": lambda f: cr.jacfwd(cr.jacrev(f)),
    "jacrev(jacrev)": lambda f: cr.jacrev(cr.jacrev(f)),
    "jacfwd(jacfwd)": lambda f: cr.jacfwd(cr.jacfwd(f)),
    "jacrev(jacfwd)": lambda f: cr.jacrev(cr.jacfwd(f)),
    "jacobian(grad)": lambda f: cr.jacobian(cr.grad(f)),
}


@pytest.mark.parametrize("way", list(HESSIAN_WAYS))
def test_hessian_of_quadratic_plus_sin_is_A_minus_diag_sin(way):
    f, A, x, _ = hessian_problem()
    H = HESSIAN_WAYS[way](f)(x)
    assert H.shape == (4, 4)
    assert H.dtype == np.float64
    assert_allclose(H, A - np.diag(np.sin(x)), rtol=1e-12, atol=1e-14)


def test_hessian_of_matrix_input_has_shape_in_shape_twice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 3))
    H = cr.hessian(lambda X: cnp.sum(X**3))(X)
    assert H.shape == (2, 3, 2, 3)
    want = np.diag((6 * X).ravel()).reshape(2, 3, 2, 3)
    assert_allclose(H, want, rtol=1e-13, atol=1e-15)


def test_hessian_with_tuple_argnums_returns_nested_blocks():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=2), rng.normal(size=3)

    def f(x, y):
        return cnp.sum(x**2) * cnp.sum(y**2)

    H = cr.hessian(f, argnums=(0, 1))(x, y)
    assert isinstance(H, tuple) and len(H) == 2
    assert all(isinstance(row, tuple) and len(row) == 2 for row in H)
    assert_allclose(H[0][0], 2 * np.sum(y**2) * np.eye(2), rtol=1e-13)
    assert_allclose(H[0][1], 4 * np.outer(x, y), rtol=1e-13)
    assert_allclose(H[1][0], 4 * np.outer(y, x), rtol=1e-13)
    assert_allclose(H[1][1], 2 * np.sum(x**2) * np.eye(3), rtol=1e-13)


def test_hessian_vector_product_forward_over_reverse():
    f, A, x, v = hessian_problem()
    Hv = cr.jvp(cr.grad(f), (x,), (v,))[1]
    assert_allclose(Hv, (A - np.diag(np.sin(x))) @ v, rtol=1e-12, atol=1e-14)


def test_hessian_vector_product_reverse_over_forward():
    f, A, x, v = hessian_problem()
    Hv = cr.grad(lambda x: cr.jvp(f, (x,), (v,))[1])(x)
    assert_allclose(Hv, (A - np.diag(np.sin(x))) @ v, rtol=1e-12, atol=1e-14)


def test_hessian_vector_product_reverse_over_reverse():
    f, A, x, v = hessian_problem()
    Hv = cr.grad(lambda x: cnp.dot(cr.grad(f)(x), v))(x)
    assert_allclose(Hv, (A - np.diag(np.sin(x))) @ v, rtol=1e-12, atol=1e-14)


def test_hessian_vector_product_by_vjp_of_grad():
    f, A, x, v = hessian_problem()
    g, vjp_fn = cr.vjp(cr.grad(f), x)
    (vH,) = vjp_fn(v)
    assert_allclose(g, A @ x + np.cos(x), rtol=1e-12, atol=1e-14)
    assert_allclose(vH, v @ (A - np.diag(np.sin(x))), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# Jacobian shapes, argnums and trees.
# ---------------------------------------------------------------------------


def test_jacobians_of_map_from_3x2_to_4_have_shape_out_plus_in():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(4, 6))
    X = rng.normal(size=(3, 2))

    def f(X):
        return cnp.tanh(cnp.dot(B, cnp.reshape(X, (6,))))

    u = np.tanh(B @ X.reshape(6))
    want = ((1 - u**2)[:, None] * B).reshape(4, 3, 2)
    for jac in (cr.jacfwd, cr.jacrev, cr.jacobian):
        J = jac(f)(X)
        assert J.shape == (4, 3, 2)
        assert_allclose(J, want, rtol=1e-12, atol=1e-14)


def test_jacobian_shapes_for_scalar_input_and_scalar_output():
    x = np.array([0.5, -1.0, 2.0])
    for jac in (cr.jacfwd, cr.jacrev):
        J_scalar_out = jac(lambda x: cnp.sum(x**2))(x)
        assert J_scalar_out.shape == (3,)
        assert_allclose(J_scalar_out, 2 * x, rtol=1e-14)
        J_scalar_in = jac(lambda s: s * x)(1.5)
        assert np.shape(J_scalar_in) == (3,)
        assert_allclose(J_scalar_in, x, rtol=1e-14)


def test_jacobian_with_tuple_argnums_returns_a_tuple_of_blocks():
    x = np.array([1.0, -2.0, 0.5])
    y = np.array([0.3, 0.4])

    def f(x, y):
        return x * cnp.sum(y)

    for jac in (cr.jacfwd, cr.jacrev):
        Jx, Jy = jac(f, argnums=(0, 1))(x, y)
        assert Jx.shape == (3, 3) and Jy.shape == (3, 2)
        assert_allclose(Jx, np.sum(y) * np.eye(3), rtol=1e-14)
        assert_allclose(Jy, np.outer(x, np.ones(2)), rtol=1e-14)


def test_jacobian_of_tuple_output_with_tuple_argnums_nests_output_then_input():
    # As in JAX: J[i][j] = d out_i / d in_j, of shape out_i.shape + in_j.shape.
    x = np.array([1.0, 2.0])
    y = np.array([3.0, 4.0, 5.0])

    def f(x, y):
        return x * cnp.sum(y), cnp.sum(x) * y

    for jac in (cr.jacfwd, cr.jacrev):
        J = jac(f, argnums=(0, 1))(x, y)
        assert isinstance(J, tuple) and len(J) == 2
        assert [[np.shape(block) for block in row] for row in J] == [
            [(2, 2), (2, 3)],
            [(3, 2), (3, 3)],
        ]
        assert_allclose(J[0][0], np.sum(y) * np.eye(2), rtol=1e-14)
        assert_allclose(J[0][1], np.outer(x, np.ones(3)), rtol=1e-14)
        assert_allclose(J[1][0], np.outer(y, np.ones(2)), rtol=1e-14)
        assert_allclose(J[1][1], np.sum(x) * np.eye(3), rtol=1e-14)


def test_grad_with_tuple_argnums_returns_a_tuple_and_int_argnums_does_not():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])

    def f(x, y):
        return cnp.dot(x, y)

    gx, gy = cr.grad(f, argnums=(0, 1))(x, y)
    assert_allclose(gx, y, rtol=1e-15)
    assert_allclose(gy, x, rtol=1e-15)
    g1 = cr.grad(f, argnums=1)(x, y)
    assert isinstance(g1, np.ndarray) and g1.shape == (2,)
    assert_allclose(g1, x, rtol=1e-15)
    (only,) = cr.grad(f, argnums=(1,))(x, y)
    assert_allclose(only, x, rtol=1e-15)


def test_grad_of_nested_dict_tuple_list_argument_has_the_same_structure():
    rng = np.random.default_rng(0)
    params = {
        "w": rng.normal(size=3),
        "pair": (rng.normal(size=2), [rng.normal(size=(2, 2)), 1.5]),
    }

    def f(p):
        b, (M, s) = p["pair"][0], p["pair"][1]
        a = p["w"]
        return cnp.sum(a**2) + 3.0 * cnp.sum(b) + cnp.sum(cnp.sin(M)) + s**3

    g = cr.grad(f)(params)
    assert isinstance(g, dict) and set(g) == {"w", "pair"}
    assert isinstance(g["pair"], tuple) and len(g["pair"]) == 2
    assert isinstance(g["pair"][1], list) and len(g["pair"][1]) == 2
    assert_allclose(g["w"], 2 * params["w"], rtol=1e-14)
    assert_allclose(g["pair"][0], np.full(2, 3.0), rtol=1e-14)
    assert_allclose(g["pair"][1][0], np.cos(params["pair"][1][0]), rtol=1e-14)
    assert_allclose(float(g["pair"][1][1]), 3 * 1.5**2, rtol=1e-14)


def test_functions_receive_real_containers():
    seen = {}

    def f(p):
        seen["types"] = (type(p), type(p["t"]), type(p["l"]))
        return cnp.sum(p["t"][0] * p["l"][0])

    g = cr.grad(f)({"t": (np.ones(2),), "l": [np.arange(2.0)]})
    assert seen["types"] == (dict, tuple, list)
    assert_allclose(g["t"][0], [0.0, 1.0], rtol=1e-15)
    assert_allclose(g["l"][0], [1.0, 1.0], rtol=1e-15)


def test_jvp_and_jacrev_accept_tree_inputs():
    p = {"a": np.array([1.0, 2.0, 3.0]), "b": 0.5}
    t = {"a": np.array([0.1, 0.0, -0.2]), "b": 2.0}

    def f(p):
        return p["a"] * p["b"]

    out, out_t = cr.jvp(f, (p,), (t,))
    assert_allclose(out, p["a"] * p["b"], rtol=1e-15)
    assert_allclose(out_t, t["a"] * p["b"] + p["a"] * t["b"], rtol=1e-14)

    J = cr.jacrev(f)(p)
    assert isinstance(J, dict) and set(J) == {"a", "b"}
    assert J["a"].shape == (3, 3) and np.shape(J["b"]) == (3,)
    assert_allclose(J["a"], p["b"] * np.eye(3), rtol=1e-15)
    assert_allclose(J["b"], p["a"], rtol=1e-15)


# ---------------------------------------------------------------------------
# Dtypes and degenerate dependence.
# ---------------------------------------------------------------------------


def test_float32_input_gives_float32_gradient_and_tangent():
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    g = cr.grad(lambda x: cnp.sum(x**2))(x)
    assert isinstance(g, np.ndarray) and g.dtype == np.float32
    assert_allclose(g, 2 * x, rtol=1e-6)
    out, t = cr.jvp(lambda x: cnp.sin(x), (x,), (np.ones(3, dtype=np.float32),))
    assert np.asarray(out).dtype == np.float32 and np.asarray(t).dtype == np.float32
    assert_allclose(t, np.cos(x), rtol=1e-5)


def test_float64_input_gives_float64_numpy_gradient():
    x = np.array([0.5, -1.0, 2.0])
    g = cr.grad(lambda x: cnp.sum(x**3))(x)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64
    assert_allclose(g, 3 * x**2, rtol=1e-15)


def test_python_ints_and_integer_arrays_are_promoted_to_float64():
    g = cr.grad(lambda x: x * x)(3)
    assert np.asarray(g).dtype == np.float64
    assert_allclose(float(g), 6.0, rtol=1e-15)
    g_arr = cr.grad(lambda x: cnp.sum(x**2))(np.arange(3))
    assert np.asarray(g_arr).dtype == np.float64
    assert_allclose(g_arr, [0.0, 2.0, 4.0], rtol=1e-15)
    _, t = cr.jvp(lambda x: x**3, (2,), (1.0,))
    assert np.asarray(t).dtype == np.float64
    assert_allclose(float(t), 12.0, rtol=1e-15)


def test_boolean_arguments_raise_type_error():
    with pytest.raises(TypeError):
        cr.grad(lambda x: x * 1.0)(True)
    with pytest.raises(TypeError):
        cr.grad(lambda x: cnp.sum(x * 1.0))(np.array([True, False]))


def test_output_not_depending_on_input_has_zero_gradient_of_input_shape():
    x, y = np.ones((2, 3)), np.arange(4.0)
    gx = cr.grad(lambda x, y: cnp.sum(y**2), argnums=0)(x, y)
    assert np.shape(gx) == (2, 3)
    assert_allclose(gx, np.zeros((2, 3)), atol=0)
    gx, gy = cr.grad(lambda x, y: cnp.sum(y**2), argnums=(0, 1))(x, y)
    assert np.shape(gx) == (2, 3)
    assert_allclose(gx, np.zeros((2, 3)), atol=0)
    assert_allclose(gy, 2 * y, rtol=1e-15)
    g_const = cr.grad(lambda x: 3.0)(np.ones(2))
    assert np.shape(g_const) == (2,)
    assert_allclose(g_const, np.zeros(2), atol=0)


# ---------------------------------------------------------------------------
# stop_gradient and no_grad.
# ---------------------------------------------------------------------------


def test_stop_gradient_blocks_reverse_mode_but_keeps_the_value():
    value, g = cr.value_and_grad(lambda x: x * cr.stop_gradient(x))(3.0)
    assert_allclose(float(value), 9.0, rtol=1e-15)
    assert_allclose(float(g), 3.0, rtol=1e-15)  # not 6


def test_stop_gradient_blocks_forward_mode():
    _, t = cr.jvp(lambda x: x * cr.stop_gradient(x), (3.0,), (1.0,))
    assert_allclose(float(t), 3.0, rtol=1e-15)


def test_stop_gradient_is_constant_for_every_enclosing_transformation():
    def f(x):
        return cr.stop_gradient(x**3) + x**2

    assert_allclose(float(cr.grad(f)(2.0)), 4.0, rtol=1e-15)
    assert_allclose(float(cr.grad(cr.grad(f))(2.0)), 2.0, rtol=1e-15)
    assert_allclose(float(forward_derivative(cr.grad(f))(2.0)), 2.0, rtol=1e-15)
    assert_allclose(float(cr.grad(cr.grad(cr.grad(f)))(2.0)), 0.0, atol=1e-15)


def test_stop_gradient_on_arrays_zeroes_that_path_only():
    x = np.array([1.0, 2.0, 3.0])
    g = cr.grad(lambda x: cnp.sum(cnp.sin(x) * cr.stop_gradient(cnp.exp(x))))(x)
    assert_allclose(g, np.cos(x) * np.exp(x), rtol=1e-14)


def test_no_grad_block_inside_grad_contributes_no_gradient():
    def f(x):
        with cr.no_grad():
            c = x**3
        return x**2 + c

    value, g = cr.value_and_grad(f)(2.0)
    assert_allclose(float(value), 12.0, rtol=1e-15)
    assert_allclose(float(g), 4.0, rtol=1e-15)  # not 4 + 12


def test_no_grad_as_decorator_inside_grad_contributes_no_gradient():
    @cr.no_grad()
    def cube(x):
        return x**3

    g = cr.grad(lambda x: x**2 + cube(x))(2.0)
    assert_allclose(float(g), 4.0, rtol=1e-15)


def test_no_grad_stops_the_imperative_tape():
    x = cr.tensor(2.0, requires_grad=True)
    with cr.no_grad():
        c = x * 5.0
    assert not c.requires_grad
    y = x * x + c
    y.backward()
    assert_allclose(x.grad.item(), 4.0, rtol=1e-15)


# ---------------------------------------------------------------------------
# Double backward on the imperative tape (PyTorch semantics: .grad accumulates).
# ---------------------------------------------------------------------------


def test_backward_with_create_graph_gives_differentiable_gradient_after_reset():
    x = cr.tensor(1.5, requires_grad=True)
    y = x**3
    y.backward(create_graph=True)
    g = x.grad  # 3 x^2, itself a node of the graph
    assert_allclose(g.item(), 3 * 1.5**2, rtol=1e-15)
    assert g.requires_grad
    x.grad = None
    g.backward()
    assert_allclose(x.grad.item(), 6 * 1.5, rtol=1e-15)


def test_double_backward_accumulates_into_grad_like_pytorch():
    x = cr.tensor(1.5, requires_grad=True)
    y = x**3
    y.backward(create_graph=True)
    x.grad.backward()
    # x.grad held 3x^2 = 6.75; the second backward adds d(3x^2)/dx = 6x = 9.
    assert_allclose(x.grad.item(), 3 * 1.5**2 + 6 * 1.5, rtol=1e-15)


def test_backward_with_create_graph_on_vector_input():
    x = cr.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(create_graph=True)
    g = x.grad  # (1 + x) e^x
    xs = np.array([0.5, -1.0, 2.0])
    assert_allclose(g.numpy(), (1 + xs) * np.exp(xs), rtol=1e-14)
    x.grad = None
    g.sum().backward()
    assert_allclose(x.grad.numpy(), (2 + xs) * np.exp(xs), rtol=1e-14)


# ---------------------------------------------------------------------------
# Long chains: no recursion-limit failure, right number.
# ---------------------------------------------------------------------------

CHAIN_LENGTH = 100_000
FACTOR = 1.0000001


def expected_chain_product():
    p = 1.0
    for _ in range(CHAIN_LENGTH):
        p *= FACTOR
    return p  # about exp(0.01)


def test_backward_through_100000_op_chain():
    x = cr.tensor(2.0, requires_grad=True)
    y = x
    for _ in range(CHAIN_LENGTH):
        y = y * FACTOR
    y.backward()
    want = expected_chain_product()
    assert_allclose(want, math.exp(CHAIN_LENGTH * math.log1p(FACTOR - 1)), rtol=1e-9)
    assert_allclose(y.item(), 2.0 * want, rtol=1e-10)
    assert_allclose(x.grad.item(), want, rtol=1e-10)


def test_grad_through_100000_op_chain():
    def f(x):
        for _ in range(CHAIN_LENGTH):
            x = x * FACTOR
        return x

    assert_allclose(float(cr.grad(f)(2.0)), expected_chain_product(), rtol=1e-10)


def test_jvp_through_100000_op_chain():
    def f(x):
        for _ in range(CHAIN_LENGTH):
            x = x * FACTOR
        return x

    out, t = cr.jvp(f, (2.0,), (1.0,))
    want = expected_chain_product()
    assert_allclose(float(out), 2.0 * want, rtol=1e-10)
    assert_allclose(float(t), want, rtol=1e-10)
