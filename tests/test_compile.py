"""``cr.compile``: a recorded program gives the function's own numbers, or refuses."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.ops.losses import softmax_cross_entropy

rng = np.random.default_rng(5)
X = rng.normal(size=16)


def chain(x):
    v = x
    for _ in range(10):
        v = v + cnp.tanh(cnp.sin(v) * 0.1)
    return cnp.sum(v)


def test_replayed_gradient_equals_the_eager_one_on_new_inputs():
    g, compiled = cr.grad(chain), cr.compile(cr.grad(chain))
    assert_array_equal(compiled(X), g(X))
    for shift in (1.0, -2.5):
        assert_array_equal(compiled(X + shift), g(X + shift))
    assert compiled.stats == {"recorded": 1, "replayed": 2, "eager": 0}


def test_a_new_shape_or_dtype_or_static_argument_records_a_new_program():
    f = cr.compile(lambda x, p: cnp.sum(x ** p))
    assert f(X, 2) == pytest.approx(np.sum(X ** 2))
    assert f(X, 3) == pytest.approx(np.sum(X ** 3))          # numbers are part of the key
    assert f(X[:5], 2) == pytest.approx(np.sum(X[:5] ** 2))
    assert f(X.astype(np.float32), 2).dtype == np.float32
    assert f.stats["recorded"] == 4 and len(f.programs) == 4
    f(X + 1, 3)
    assert f.stats["replayed"] == 1


def test_trees_keyword_arguments_and_outputs_that_are_inputs():
    def loss(params, x, *, target):
        h = cnp.tanh(x @ params["w"] + params["b"])
        return cnp.mean((h - target) ** 2)

    params = {"w": rng.normal(size=(3, 2)), "b": np.zeros(2)}
    x, t = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    eager = cr.value_and_grad(loss)
    compiled = cr.compile(eager)
    for k in range(3):
        value, grads = compiled(params, x + k, target=t)
        want_value, want = eager(params, x + k, target=t)
        assert value == want_value
        assert_array_equal(grads["w"], want["w"])
        assert_array_equal(grads["b"], want["b"])
    same = cr.compile(lambda a, b: (a, a + b))
    a, b = same(X, X)
    assert a is X
    a, b = same(X + 1, X)
    assert_array_equal(a, X + 1)
    assert_array_equal(b, (X + 1) + X)


def test_forward_mode_and_vmap_inside_are_recorded_too():
    w = rng.normal(size=(4, 4))
    jac = lambda v: cnp.tanh(w @ v)  # noqa: E731
    for transform in (cr.jacfwd, cr.jacrev, cr.hessian):
        f = transform(jac) if transform is not cr.hessian else cr.hessian(lambda v: cnp.sum(jac(v)))
        compiled = cr.compile(f)
        v = rng.normal(size=4)
        compiled(v)
        assert_array_equal(compiled(v + 1), f(v + 1))


def test_training_steps_replayed_end_at_the_same_weights_as_eager_ones():
    def loss(params, x, onehot):
        w1, b1, w2, b2 = params
        h = cr.relu(x @ w1 + b1)
        return softmax_cross_entropy(h @ w2 + b2, onehot)

    init = [rng.normal(size=(6, 8)) * 0.5, np.zeros(8), rng.normal(size=(8, 3)) * 0.5, np.zeros(3)]
    x, labels = rng.normal(size=(20, 6)), rng.integers(0, 3, size=20)
    onehot = np.eye(3)[labels]

    def train(step):
        params = [p.copy() for p in init]
        for k in range(0, 20, 5):
            _, grads = step(params, x[k:k + 5], onehot[k:k + 5])
            for p, g in zip(params, grads):
                p -= 0.1 * g
        return params

    for eager, replayed in zip(train(cr.value_and_grad(loss)), train(cr.compile(cr.value_and_grad(loss)))):
        assert_array_equal(eager, replayed)


@pytest.mark.parametrize("body", [
    lambda x: x * 2 if float(cnp.sum(x)) > 0 else x,        # float() of a traced value
    lambda x: x * 2 if cnp.sum(x) > 0 else x,               # bool() of a traced comparison
    lambda x: x * cr.stop_gradient(x),                      # a value read out as a constant
    lambda x: cnp.take(x, cnp.argmax(x)),                   # an index computed from an argument
])
def test_reading_a_value_while_recording_is_refused_with_the_line(body):
    with pytest.raises(cr.CompileError, match=r"reads a value while it is recorded.*test_compile"):
        cr.compile(body)(X)


def test_a_result_computed_outside_the_ops_is_caught_by_the_check_run():
    calls = []

    def f(x):  # a side effect: the recording would freeze len(calls)
        calls.append(1)
        return x * float(len(calls))

    with pytest.raises(cr.CompileError, match="does not reproduce"):
        cr.compile(f)(X)


def test_a_tracked_tensor_from_outside_is_refused_and_plain_ones_are_constants():
    w = cr.tensor(rng.normal(size=16), requires_grad=True)
    with pytest.raises(cr.CompileError, match="pass it as an argument"):
        cr.compile(lambda x: cnp.sum(x * w))(X)
    c = cr.tensor(rng.normal(size=16))
    f = cr.compile(lambda x: cnp.sum(x * c))
    f(X)
    assert f(X + 1) == pytest.approx(np.sum((X + 1) * c.numpy()))


def test_inside_a_transformation_or_on_the_tape_the_function_runs_eagerly():
    square = cr.compile(lambda x: x ** 2)
    assert_array_equal(cr.grad(lambda x: cnp.sum(square(x)))(X), 2 * X)
    t = cr.tensor(X, requires_grad=True)
    cnp.sum(square(t)).backward()
    assert_array_equal(t.grad.numpy(), 2 * X)
    assert square.stats == {"recorded": 0, "replayed": 0, "eager": 2}


def test_an_error_while_recording_is_the_functions_own_and_nothing_is_kept():
    f = cr.compile(lambda a, b: a @ b)
    with pytest.raises(ValueError, match="matmul"):
        f(np.ones((2, 3)), np.ones((2, 3)))
    assert not f.programs


def test_intermediate_arrays_are_released_after_their_last_use():
    f = cr.compile(cr.grad(chain))
    f(X)
    program = next(iter(f.programs.values()))
    released = sum(len(step.dead) for step in program.steps)
    assert released >= len(program) // 2
    assert sum(v is not None for v in program.template) < len(program)   # only constants kept


def test_results_go_into_dying_operands_but_never_into_arguments_constants_or_views():
    x = rng.normal(size=(128, 128))      # 128 KiB: large enough to reuse
    c = np.ones((128, 128))

    def f(a):
        t = a * 2.0            # an intermediate that dies in the next step: may be reused
        u = t + c              # c is a constant: never written
        v = u.T                # a view of u: u's buffer must not be reused while v lives
        return cnp.sum(cnp.sin(v) * u), a

    compiled = cr.compile(f)
    compiled(x)
    program = next(iter(compiled.programs.values()))
    assert any(step.into is not None for step in program.steps)
    before, c_before = x.copy(), c.copy()
    for shift in (0.5, 1.5):
        value, same = compiled(x + shift)
        assert value == f(x + shift)[0]
    compiled(x)
    assert_array_equal(x, before)
    assert_array_equal(c, c_before)


def test_the_c_loop_and_the_python_loop_replay_the_same_numbers():
    x = rng.normal(size=(128, 128))          # large enough for results to go into buffers

    def f(a, w):
        h = cnp.tanh(a @ w) * 2.0
        return cnp.sum(h + 1.0, axis=0), cnp.mean(cnp.exp(-h))

    compiled = cr.compile(cr.value_and_grad(lambda a, w: cnp.sum(f(a, w)[0]) + f(a, w)[1],
                                            argnums=(0, 1)))
    compiled(x, x.T.copy())
    program = next(iter(compiled.programs.values()))
    if program.native is None:
        pytest.skip("chainrule._fast is not built here")
    assert any(step.into is not None for step in program.steps)
    assert any(step.params for step in program.steps)
    for shift in (0.25, -1.0):
        c_loop = compiled(x + shift, x.T + shift)
        native, program.native = program.native, None
        python_loop = compiled(x + shift, x.T + shift)
        program.native = native
        assert_array_equal(c_loop[0], python_loop[0])
        for c_grad, python_grad in zip(c_loop[1], python_loop[1]):
            assert_array_equal(c_grad, python_grad)
