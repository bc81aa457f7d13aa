"""The engine's contract: tensors, the tape, errors, custom primitives, the checker."""

import gc

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp


# --- tensors and the tape ----------------------------------------------------------------

def test_tensor_keeps_numpy_dtype_and_python_floats_become_float64():
    assert cr.tensor(1.5).dtype == np.float64
    assert cr.tensor(np.ones(3, np.float32)).dtype == np.float32
    assert cr.tensor([1, 2]).dtype == np.int64
    t = cr.tensor([[1.0, 2.0]], requires_grad=True)
    assert t.shape == (1, 2) and t.ndim == 2 and t.size == 2 and t.is_leaf
    assert np.asarray(t).tolist() == [[1.0, 2.0]] and len(t) == 1
    assert "requires_grad=True" in repr(t)


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating"):
        cr.tensor([1, 2], requires_grad=True)


def test_backward_accumulates_into_leaves_and_skips_constants():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    (x * c).sum().backward()
    (x * x).sum().backward()
    assert_allclose(x.grad.numpy(), [3.0 + 2.0, 4.0 + 4.0])
    assert c.grad is None


def test_broadcasting_forward_is_summation_backward():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    b = cr.tensor(np.ones(3), requires_grad=True)
    s = cr.tensor(2.0, requires_grad=True)
    ((x + b) * s).sum().backward()
    assert_allclose(b.grad.numpy(), [4.0, 4.0, 4.0])
    assert_allclose(s.grad.numpy(), 12.0)
    assert b.grad.shape == (3,) and s.grad.shape == ()


def test_gradients_keep_float32():
    x = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    (x * 2.0 + np.float64(1)).sum().backward()
    assert x.grad.dtype == np.float32
    g = cr.grad(lambda v: cnp.sum(v * np.ones(3)))(np.ones(3, np.float32))
    assert g.dtype == np.float32


def test_no_grad_records_nothing_and_works_as_decorator():
    w = cr.tensor([1.0], requires_grad=True)
    with cr.no_grad():
        y = w * 2
    assert not y.requires_grad and y.is_leaf

    @cr.no_grad()
    def f(v):
        return v * 3

    assert not f(w).requires_grad
    assert (w * 2).requires_grad

    @cr.no_grad                      # bare, as PyTorch allows too
    def g(v):
        return v * 3

    assert not g(w).requires_grad and g.__name__ == "g"
    with cr.no_grad():
        with cr.enable_grad():
            assert (w * 2).requires_grad
        assert not (w * 2).requires_grad


def test_no_grad_inside_a_transformation_stops_its_gradient():
    def f(x):
        with cr.no_grad():
            frozen = x * x
        return x * frozen

    assert_allclose(cr.grad(f)(3.0), 9.0)   # d/dx [x · c] with c = 9 held constant


def test_stop_gradient_is_a_constant_for_every_level():
    assert_allclose(cr.grad(lambda x: x * cr.stop_gradient(x))(3.0), 3.0)
    assert_allclose(cr.jvp(lambda x: x * cr.stop_gradient(x), (3.0,), (1.0,))[1], 3.0)


def test_create_graph_gives_differentiable_gradients():
    x = cr.tensor(2.0, requires_grad=True)
    y = x ** 3
    (g,) = [None]
    y.backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    x.grad = None
    g.backward()
    assert_allclose(x.grad.numpy(), 12.0)   # d²(x³)/dx² = 6x


def test_backward_of_a_non_scalar_needs_a_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(2,\), not a scalar.*gradient="):
        (x * 2).backward()
    (x * 2).backward(gradient=np.array([1.0, 10.0]))
    assert_allclose(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\)"):
        (x * 2).backward(gradient=np.ones(3))


def test_second_backward_through_a_freed_graph_raises():
    x = cr.tensor(1.0, requires_grad=True)
    y = cnp.exp(x) * 2
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = cr.tensor(1.0, requires_grad=True)
    y = cnp.exp(x)
    y.backward(retain_graph=True)
    y.backward()
    assert_allclose(x.grad.numpy(), 2 * np.e)


def test_backward_after_an_in_place_change_raises():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    y = (x * c).sum()
    c.add_(1.0)                     # c was saved for x's gradient
    with pytest.raises(RuntimeError, match=r"input of 'multiply' \(shape \(2,\)\) was changed in place"):
        y.backward()


def test_in_place_changes_elsewhere_or_before_use_do_not_block_backward():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    c = cr.tensor([3.0, 4.0])
    c.add_(1.0)                     # before it is used: fine
    y = (x * c).sum()
    other = cr.tensor([0.0])
    other.add_(1.0)                 # a tensor the graph never saw: fine
    y.backward()
    assert_allclose(x.grad.numpy(), [4.0, 5.0])


def test_in_place_change_of_a_graph_tensor_points_to_the_functional_form():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="index_update"):
        y[0] = 5.0
    with pytest.raises(RuntimeError, match="no_grad"):
        x.sub_(1.0)
    with cr.no_grad():
        x.sub_(1.0)
    assert x.numpy().tolist() == [0.0, 1.0] and x._version > 0


def test_scaled_in_place_updates_round_as_numpy_and_are_seen_by_backward():
    rng = np.random.default_rng(3)
    for dtype in (np.float32, np.float64):
        w, g = rng.normal(size=(5, 7)).astype(dtype), rng.normal(size=(5, 7)).astype(dtype)
        for grad in (g, g.T.copy().T, cr.tensor(g)):       # one pass in C; NumPy; a tensor
            t = cr.tensor(w.copy())
            before = t._version
            t.sub_(grad, alpha=0.1)
            assert t.dtype == dtype and np.array_equal(t.numpy(), w - dtype(0.1) * g)
            assert t._version > before
            t.add_(grad, alpha=0.1)
            assert np.array_equal(t.numpy(), (w - dtype(0.1) * g) + dtype(0.1) * g)
    t = cr.tensor(np.arange(3))
    t.add_(np.ones(3, dtype=int), alpha=2)
    assert t.numpy().tolist() == [2, 3, 4]
    with pytest.raises(TypeError, match=r"add_: alpha=0.5 is not a whole number.*int64"):
        t.add_(np.ones(3, dtype=int), alpha=0.5)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="no_grad"):
        x.sub_(np.ones(2), alpha=0.5)
    c = cr.tensor([3.0, 4.0])
    y = (x * c).sum()
    c.sub_(np.ones(2), alpha=0.5)   # c was saved for x's gradient
    with pytest.raises(RuntimeError, match="changed in place"):
        y.backward()


def test_in_place_operators_on_plain_tensors_follow_numpy():
    t = cr.tensor([1.0, 2.0])
    alias = t
    t += 1
    assert alias.numpy().tolist() == [2.0, 3.0]
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y += x                          # a graph tensor is rebound, like y = y + x
    y.sum().backward()
    assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_shape_errors_name_the_op_and_both_shapes():
    a, b = cr.tensor(np.ones((2, 3))), cr.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) are not aligned"):
        a @ b
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4, 5\) cannot be broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"test_engine.py"):
        cnp.multiply(np.ones(2), cr.tensor(np.ones(3)))


def test_deep_chain_does_not_recurse():
    x = cr.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.backward()
    assert_allclose(x.grad.numpy(), 1.0)


def test_graph_is_freed_after_backward():
    x = cr.tensor(np.ones(1000), requires_grad=True)
    y = (cnp.exp(x) * 2).sum()
    node = y._node
    y.backward()
    assert node.args is None and node.out is None
    del y, node
    gc.collect()


# --- anomalies -----------------------------------------------------------------------------

def test_detect_anomaly_names_the_forward_op_and_the_line():
    x = cr.tensor([1.0, -1.0], requires_grad=True)
    with cr.detect_anomaly(), np.errstate(invalid="ignore"):
        with pytest.raises(FloatingPointError, match=r"log \(forward\) produced NaN.*test_engine.py:\d+"):
            cnp.log(x)


def test_detect_anomaly_names_the_backward_rule_and_where_its_op_was_made():
    x = cr.tensor([0.0, 4.0], requires_grad=True)
    with cr.detect_anomaly(), np.errstate(divide="ignore"):
        y = cnp.sqrt(x).sum()
        with pytest.raises(FloatingPointError,
                           match=r"backward rule of 'sqrt' produced infinity.*test_engine.py:\d+"):
            y.backward()


def test_without_detect_anomaly_nothing_is_checked():
    with np.errstate(invalid="ignore"):
        assert np.isnan(cnp.log(cr.tensor(-1.0)).item())


# --- custom primitives ---------------------------------------------------------------------

@cr.primitive
def cube(x):
    return x ** 3


cr.defvjp(cube, lambda ans, x: lambda g: g * 3 * x ** 2)
cr.defjvp(cube, lambda g, ans, x: g * 3 * x ** 2)


def test_custom_primitive_works_in_both_modes_and_to_higher_order():
    assert_allclose(cr.grad(cube)(2.0), 12.0)
    assert_allclose(cr.jvp(cube, (2.0,), (1.0,))[1], 12.0)
    assert_allclose(cr.grad(cr.grad(cube))(2.0), 12.0)        # 6x
    assert_allclose(cr.grad(cr.grad(cr.grad(cube)))(2.0), 6.0)
    cr.check_grads(cube, np.array([0.5, -1.5]), order=2)
    x = cr.tensor(2.0, requires_grad=True)
    cube(x).backward()
    assert_allclose(x.grad.numpy(), 12.0)


def test_missing_rule_raises_not_implemented_naming_the_primitive_and_mode():
    @cr.primitive
    def only_reverse(x):
        return x * 2.0

    cr.defvjp(only_reverse, lambda ans, x: lambda g: g * 2.0)
    assert_allclose(cr.grad(only_reverse)(1.0), 2.0)
    with pytest.raises(NotImplementedError, match="only_reverse.*forward-mode"):
        cr.jvp(only_reverse, (1.0,), (1.0,))

    @cr.primitive
    def only_forward(x):
        return x * 2.0

    cr.defjvp(only_forward, lambda g, ans, x: g * 2.0)
    with pytest.raises(NotImplementedError, match="only_forward.*reverse-mode"):
        cr.grad(only_forward)(1.0)


def test_a_failed_backward_leaves_nothing_behind_for_the_next_one():
    @cr.primitive
    def forward_only(x):
        return x * 2.0

    cr.defjvp(forward_only, lambda g, ans, x: g * 2.0)
    x = cr.tensor(1.5, requires_grad=True)
    y = cnp.exp(x)
    z = forward_only(y) + y * 3.0    # y * 3 is reached first and sends y its share
    with pytest.raises(NotImplementedError):
        z.backward(retain_graph=True)
    w = y * 3.0                      # a new graph through the same node y
    x.grad = None
    w.backward()
    assert_allclose(x.grad.numpy(), 3.0 * np.exp(1.5))


def test_none_rule_marks_an_argument_not_differentiable():
    @cr.primitive
    def scale(x, k):
        return x * k

    cr.defvjp(scale, lambda ans, x, k: lambda g: g * k, None)
    cr.defjvp(scale, lambda g, ans, x, k: g * k, None)
    assert cr.grad(scale, argnums=(0, 1))(2.0, 3.0) == (3.0, 0.0)


# --- the checker -----------------------------------------------------------------------------

@cr.primitive
def wrong_sin(x):
    return np.sin(x)


cr.defvjp(wrong_sin, lambda ans, x: lambda g: g * cnp.sin(x))   # should be cos
cr.defjvp(wrong_sin, lambda g, ans, x: g * cnp.cos(x))


def test_check_grads_catches_a_wrong_rule_and_says_where():
    with pytest.raises(cr.GradientCheckError) as caught:
        cr.check_grads(wrong_sin, np.array([0.3, 1.1, -0.7]), modes=("rev",))
    message = str(caught.value)
    assert "reverse mode" in message and "argument 0 (x)" in message
    assert "worst entry" in message and "analytic" in message and "relative error" in message
    cr.check_grads(wrong_sin, np.array([0.3, 1.1]), modes=("fwd",))  # the JVP is right


def test_check_grads_catches_a_wrong_second_derivative():
    @cr.primitive
    def square_ish(x):
        return x ** 2

    cr.defvjp(square_ish, lambda ans, x: lambda g: g * 2 * cr.stop_gradient(x))  # 2nd order lost
    cr.defjvp(square_ish, lambda g, ans, x: g * 2 * cr.stop_gradient(x))
    cr.check_grads(square_ish, np.array([0.5, 2.0]), order=1)
    with pytest.raises(cr.GradientCheckError, match="derivative of the derivative"):
        cr.check_grads(square_ish, np.array([0.5, 2.0]), order=2)


def test_converting_a_traced_value_to_numpy_raises_instead_of_dropping_the_gradient():
    def f(x):
        out = np.zeros(2)
        out[:1] = x[:1] ** 2        # NumPy code writing into an array
        return cnp.sum(out)

    with pytest.raises(TypeError, match="cr.index_update"):
        cr.grad(f)(np.array([3.0, 1.0]))
    assert np.asarray(cr.tensor([1.0, 2.0], requires_grad=True)).tolist() == [1.0, 2.0]


def test_numerical_grad_matches_grad_on_trees():
    def f(params, x):
        return cnp.sum(cnp.tanh(params["w"] * x + params["b"]) ** 2)

    params = {"w": np.array([0.3, -0.2]), "b": np.array(0.1)}
    x = np.array([1.0, 2.0])
    analytic = cr.grad(f)(params, x)
    numeric = cr.numerical_grad(f, params, x)
    assert_allclose(analytic["w"], numeric["w"], rtol=1e-7)
    assert_allclose(analytic["b"], numeric["b"], rtol=1e-7)


# --- the facade on plain NumPy values --------------------------------------------------------

def test_facade_returns_exactly_what_numpy_returns_without_tensors():
    a = np.arange(6.0).reshape(2, 3)
    for ours, theirs in [(cnp.sum(a, axis=0), np.sum(a, axis=0)), (cnp.exp(a), np.exp(a)),
                         (cnp.matmul(a, a.T), np.matmul(a, a.T)), (cnp.max(a), np.max(a))]:
        assert type(ours) is type(theirs)
        assert ours.dtype == theirs.dtype
        assert_allclose(ours, theirs, rtol=0)


def test_transformations_refuse_booleans_and_promote_ints():
    with pytest.raises(TypeError, match="boolean"):
        cr.grad(lambda x: x * 1.0)(True)
    g = cr.grad(lambda x: x * x)(3)
    assert g.dtype == np.float64 and g == 6.0
    assert cr.grad(lambda x, y: y * 2.0)(np.ones(3), 1.0).tolist() == [0.0, 0.0, 0.0]


def test_grad_of_a_non_scalar_function_says_what_to_use():
    with pytest.raises(TypeError, match=r"shape \(2,\).*jacrev"):
        cr.grad(lambda x: x * 2)(np.ones(2))


def test_zero_d_tensors_convert_for_python_control_flow():
    def f(x):
        return x * 2 if x > 0 else -x

    assert cr.grad(f)(1.0) == 2.0 and cr.grad(f)(-1.0) == -1.0
    t = cr.tensor(2.5)
    assert float(t) == 2.5 and int(t) == 2 and bool(t) and t.item() == 2.5
