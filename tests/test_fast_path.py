"""The fast path (no transformation, nothing requires grad) gives what the general path gives."""

import operator

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import chainrule as cr
import chainrule.numpy as cnp

rng = np.random.default_rng(3)
X, Y = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)) + 3.0

BINARY = [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
          operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.__name__)
@pytest.mark.parametrize("other", ["tensor", "array", "number"])
def test_operators_on_untracked_tensors_match_numpy_both_ways(op, other):
    y = {"tensor": cr.tensor(Y), "array": Y, "number": 1.5}[other]
    raw = y.numpy() if isinstance(y, cr.Tensor) else y
    x = cr.tensor(np.abs(X) + 0.5)
    result = op(x, y)
    assert isinstance(result, cr.Tensor) and result._node is None and not result.requires_grad
    assert_array_equal(result.numpy(), op(np.abs(X) + 0.5, raw))
    if other != "tensor":   # the reflected form: number - tensor, array * tensor, ...
        assert_array_equal(op(raw, x).numpy(), op(raw, np.abs(X) + 0.5))


def test_matmul_unary_and_reductions_match_numpy():
    x, m = cr.tensor(X), cr.tensor(Y.T)
    assert_array_equal((x @ m).numpy(), X @ Y.T)
    assert_array_equal((Y @ x.T).numpy(), Y @ X.T)        # ndarray @ tensor: reflected
    assert_array_equal((-x).numpy(), -X)
    assert_array_equal(abs(x).numpy(), np.abs(X))
    for name in ("sum", "mean", "prod", "max", "min"):
        assert_array_equal(getattr(x, name)().numpy(), getattr(X, name)())
        assert_array_equal(getattr(x, name)(axis=1, keepdims=True).numpy(),
                           getattr(X, name)(axis=1, keepdims=True))


def test_errors_on_the_fast_path_still_name_the_operation_and_the_shapes():
    with pytest.raises(ValueError, match=r"add: shapes \(3, 4\) and \(5,\)"):
        cr.tensor(X) + cr.tensor(np.ones(5))
    with pytest.raises(ValueError, match="matmul"):
        cr.tensor(X) @ cr.tensor(X)
    with pytest.raises(Exception, match="sum"):
        cr.tensor(X).sum(axis=5)


def test_a_tracked_operand_takes_the_general_path_and_is_recorded():
    w = cr.tensor(Y, requires_grad=True)
    for result in (cr.tensor(X) * w, X * w, w * 2.0, w.sum(), -w, w @ cr.tensor(X.T)):
        assert result._node is not None
    assert cr.grad(lambda v: (v * cr.tensor(X)).sum())(Y).shape == Y.shape


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_detect_anomaly_still_sees_the_fast_path():
    with cr.detect_anomaly(), pytest.raises(FloatingPointError, match="log"):
        cnp.log(cr.tensor(-X ** 2 - 1))
    with cr.detect_anomaly(), pytest.raises(FloatingPointError, match="divide"):
        cr.tensor(np.ones(2)) / cr.tensor(np.zeros(2))


def test_facade_ufuncs_on_untracked_tensors_give_tensors():
    out = cnp.tanh(cr.tensor(X))
    assert isinstance(out, cr.Tensor) and out._node is None
    assert_array_equal(out.numpy(), np.tanh(X))
    assert cnp.tanh(cr.tensor(X, requires_grad=True))._node is not None


@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "divide", "power", "arctan2"])
def test_binary_facade_ufuncs_on_untracked_tensors_both_ways(name):
    fn, ref = getattr(cnp, name), getattr(np, name)
    a, b = np.abs(X) + 0.5, np.abs(Y) + 0.5
    for x, y in ((cr.tensor(a), cr.tensor(b)), (cr.tensor(a), b), (a, cr.tensor(b)), (cr.tensor(a), 2.0)):
        out = fn(x, y)
        assert isinstance(out, cr.Tensor) and out._node is None
        raw = [v.numpy() if isinstance(v, cr.Tensor) else v for v in (x, y)]
        assert_array_equal(out.numpy(), ref(*raw))
    w = cr.tensor(b, requires_grad=True)
    assert fn(cr.tensor(a), w)._node is not None and fn(a, w)._node is not None
    assert fn([1.0, 2.0], cr.tensor([3.0, 4.0], requires_grad=True))._node is not None   # lists


def test_facade_ufuncs_on_plain_arrays_are_numpys_own_results():
    out = cnp.multiply(X, Y)
    assert type(out) is np.ndarray
    assert_array_equal(out, X * Y)
    assert_array_equal(cnp.tanh(X), np.tanh(X))
    assert isinstance(cnp.add(2.0, 3.0), np.floating)
    assert_array_equal(cnp.add([1, 2], [3, 4]), [4, 6])                 # lists: the general path
    assert_array_equal(cnp.multiply(X, 2, dtype=np.float32), (X * 2).astype(np.float32))
    with pytest.raises(TypeError, match=r"multiply\(\) takes from 2 to 3 positional"):
        cnp.multiply(X)


def test_tensors_copy_and_deepcopy_with_every_slot():
    import copy

    w = cr.tensor(X, requires_grad=True)
    (w * w).sum().backward()
    for dup in (copy.copy(w), copy.deepcopy(w)):
        assert type(dup) is cr.Tensor and dup.requires_grad and dup.is_leaf
        assert_array_equal(dup.numpy(), X)
        assert_array_equal(dup.grad, 2 * X)
    assert copy.copy(w)._value is w._value and copy.deepcopy(w)._value is not w._value
