"""The compiled fast path (chainrule._fast): present where a compiler is, and the same package
without it (CHAINRULE_PURE_PYTHON=1)."""

import gc
import os
import shutil
import subprocess
import sys
import sysconfig
import weakref
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import chainrule as cr
import chainrule.numpy as cnp
from chainrule._native import FAST

ROOT = Path(__file__).resolve().parent.parent
needs_fast = pytest.mark.skipif(FAST is None, reason="chainrule._fast is not built here")


def test_the_c_module_is_built_where_a_compiler_and_the_headers_are():
    headers = Path(sysconfig.get_paths()["include"], "Python.h").exists()
    if os.environ.get("CHAINRULE_PURE_PYTHON") or not (shutil.which("cc") and headers):
        pytest.skip("no C compiler or Python headers, or the C module is turned off")
    assert FAST is not None, "pip install should have built chainrule._fast (see setup.py)"
    assert isinstance(cr.tensor(1.0), FAST.TensorBase)


@pytest.mark.parametrize("files", [["test_fast_path.py", "test_numpy_facade.py", "test_engine.py"]])
def test_the_pure_python_package_passes_the_same_tests(files):
    env = {**os.environ, "CHAINRULE_PURE_PYTHON": "1"}
    probe = subprocess.run([sys.executable, "-c", "from chainrule._native import FAST; print(FAST)"],
                           env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "None"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *[str(ROOT / "tests" / f) for f in files]],
                         env=env, capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


@needs_fast
def test_fast_results_are_complete_tensors():
    x = cr.tensor(np.arange(4.0))
    for out in (x * x, x + 1, 2 - x, x / 2, x @ x, -x, abs(x), x.sum(), cnp.tanh(x),
                cnp.multiply(x, 3.0), cnp.multiply(3.0, x)):
        assert type(out) is cr.Tensor and out.is_leaf and not out.requires_grad
        assert out.grad is None and out._version == 0 and out._level == 0
        out.requires_grad = True                      # a fast result is an ordinary leaf
        (out * out).sum().backward()
        assert_array_equal(out.grad, 2 * out.numpy())


@needs_fast
def test_truthy_requires_grad_and_levels_that_are_not_bools_take_the_general_path():
    x = cr.tensor(np.ones(3))
    x.requires_grad = 1
    assert (x * 2.0)._node is not None
    y = cr.tensor(np.ones(3))
    y.requires_grad = np.bool_(False)
    assert (y * 2.0)._node is None


@needs_fast
def test_no_references_leak_on_the_fast_path():
    a, b = np.ones(16), np.ones(16)
    x, y = cr.tensor(a), cr.tensor(b)
    before = sys.getrefcount(a), sys.getrefcount(x), sys.getrefcount(cr.Tensor)
    for _ in range(1000):
        x * y, 2.0 * x, -x, x.sum(), x.sum(axis=0, keepdims=True), cnp.tanh(x), cnp.add(x, y)
        cnp.add(a, b), cnp.tanh(a)
        try:
            x + cr.tensor(np.ones(5))
        except ValueError:
            pass
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(x), sys.getrefcount(cr.Tensor)) == before


@needs_fast
def test_tensors_are_weakly_referable_and_cycles_through_them_are_collected():
    x = cr.tensor(np.ones(3)) * 2.0
    ref = weakref.ref(x)
    x.grad = x                                       # a cycle through a C slot
    del x
    gc.collect()
    assert ref() is None


@needs_fast
def test_a_deleted_slot_reads_as_a_missing_attribute():
    x = cr.tensor(np.ones(3))
    del x.grad
    with pytest.raises(AttributeError, match="grad"):
        x.grad


@needs_fast
def test_the_facade_ufuncs_look_and_bind_like_functions():
    assert cnp.tanh.__name__ == "tanh" and "tanh" in repr(cnp.tanh)
    assert cnp.tanh.__doc__.startswith("NumPy's ``tanh``")
    assert cnp.tanh.__wrapped__.__name__ == "tanh"
    assert cnp.tanh.__module__ == "chainrule.numpy"
    owner = object()
    bound = cnp.tanh.__get__(owner, object)        # as a class attribute: a bound method
    assert bound.__self__ is owner and bound.__func__ is cnp.tanh
    assert cnp.tanh.__get__(None, object) is cnp.tanh
    with pytest.raises(TypeError, match="tanh"):
        cnp.tanh(cr.tensor(1.0), 2.0)
    with pytest.raises(TypeError, match="out="):
        cnp.tanh(cr.tensor(np.ones(2)), out=np.ones(2))
    assert_array_equal(cnp.add(np.ones(2), 1.0, dtype=np.float32), np.full(2, 2.0, np.float32))


# --- bind and the reverse pass's loop in C ---------------------------------------------------

from chainrule.core import backward as _backward  # noqa: E402
from chainrule.core import trace as _trace  # noqa: E402
from chainrule.ops._primitive import Primitive  # noqa: E402
from chainrule.ops.linalg import matmul  # noqa: E402
from chainrule.ops.reductions import sum as sum_p  # noqa: E402


@needs_fast
def test_primitives_are_called_through_the_c_bind_with_binds_results():
    assert isinstance(Primitive.__dict__["__call__"], FAST.Bind)
    assert Primitive.__dict__["__call__"].python is _trace.bind
    a = np.arange(6.0).reshape(2, 3)
    plain = sum_p(a, axis=0)                              # no tensor: the implementation
    assert type(plain) is np.ndarray and plain.tolist() == [3.0, 5.0, 7.0]
    x = cr.tensor(a, requires_grad=True)
    y = sum_p(x, axis=0)                                  # recorded, with its parameters
    assert y.requires_grad and y._node.prim is sum_p and y._node.args == (x,)
    assert y._node.params == {"axis": 0} and y._node.out is y._value
    assert y._node.clock == _trace.STATE.changes and y._node.grad is None
    untracked = sum_p(cr.tensor(a), axis=1)
    assert untracked._node is None and not untracked.requires_grad
    with cr.no_grad():
        assert sum_p(x, axis=0)._node is None
    assert sum_p.__call__(a).tolist() == 15.0             # bound like a method


@needs_fast
def test_the_c_bind_leaves_errors_and_traced_values_to_the_python_bind():
    a, b = np.ones((2, 3)), np.ones((2, 3))
    with pytest.raises(ValueError) as fast:
        matmul(a, b)
    with pytest.raises(ValueError) as python:
        _trace.bind(matmul, a, b)
    where = str(fast.value).rindex("[")                   # both end with the caller's line
    assert str(fast.value)[:where] == str(python.value)[:where] and "matmul" in str(fast.value)
    assert "test_native.py" in str(fast.value)[where:]
    assert cr.grad(lambda v: sum_p(v * v))(np.arange(3.0)).tolist() == [0.0, 2.0, 4.0]
    with cr.detect_anomaly(), pytest.raises(_trace.Anomaly):
        sum_p(cr.tensor(np.array([np.nan]), requires_grad=True))


def _gradients(use_c: bool, monkeypatch) -> list:
    """The gradients of a graph with every kind of node, by the C loop or the Python one."""
    monkeypatch.setattr(_backward, "FAST", FAST if use_c else None)
    rng = np.random.default_rng(0)
    w = cr.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    b = cr.tensor(rng.normal(size=4), requires_grad=True)
    a = cr.tensor(rng.normal(size=(4, 4)), requires_grad=True)
    x = rng.normal(size=(5, 3))
    h = cr.dense(x, w, b, activation="tanh")              # a joint rule; x needs no gradient
    k = a @ a.T                                           # the Gram rule: Aᵀ gets None
    z = (h * b).sum() + (h @ k).sum() + (w * w).sum()     # fan-out, broadcasting (b: fit_to)
    z.backward(retain_graph=True)
    first = [t.grad.numpy().copy() for t in (w, b, a)]
    z.backward()                                          # again: gradients add up
    return first + [t.grad.numpy() for t in (w, b, a)]


@needs_fast
def test_the_c_reverse_loop_gives_the_python_loops_gradients(monkeypatch):
    fast = _gradients(True, monkeypatch)
    slow = _gradients(False, monkeypatch)
    for f, s in zip(fast, slow):
        assert_array_equal(f, s)
    for f, twice in zip(fast[:3], fast[3:]):
        assert_array_equal(2 * f, twice)


@needs_fast
def test_the_c_reverse_loop_hands_freed_and_changed_nodes_to_python():
    x = cr.tensor(np.ones(3), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    w = cr.tensor(np.ones(3), requires_grad=True)
    z = (w * w).sum()
    with cr.no_grad():
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="changed in place"):
        z.backward()


@needs_fast
def test_no_references_leak_through_bind_and_the_reverse_loop():
    a = np.ones((4, 3))
    x = cr.tensor(a, requires_grad=True)
    w = np.ones(3)
    before = sys.getrefcount(a), sys.getrefcount(x), sys.getrefcount(w), sys.getrefcount(sum_p)
    for _ in range(300):
        sum_p(a, axis=0), sum_p(cr.tensor(a), axis=1)
        (cr.dense(x, np.ones((3, 2)), np.zeros(2), activation="relu").sum() + sum_p(x * w)).backward()
        try:
            matmul(a, a)
        except ValueError:
            pass
    x.grad = None
    gc.collect()
    assert (sys.getrefcount(a), sys.getrefcount(x), sys.getrefcount(w),
            sys.getrefcount(sum_p)) == before


@needs_fast
def test_the_c_symmetry_check_agrees_with_numpys_blockwise_one():
    from chainrule.ops import _factor
    rng = np.random.default_rng(0)
    for n in (1, 2, 31, 32, 33, 64, 100, 257):
        a = rng.normal(size=(n, n))
        k = a + a.T
        for m in (k, k.astype(np.float32), np.asfortranarray(k), k[::2, ::2] if n > 1 else k):
            assert FAST.symmetric(m) is True
        for i, j in {(0, n - 1), (n - 1, 0), (n // 2, n // 3), (max(n - 2, 0), n - 1)}:
            if i != j:
                off = k.copy()
                off[i, j] += 1e-12 * max(1.0, abs(off[i, j]))
                assert FAST.symmetric(off) is False and _factor._symmetric(off) is False
    nan = np.eye(3)
    nan[0, 1] = nan[1, 0] = np.nan                   # as NumPy's array_equal: NaN ≠ NaN
    assert FAST.symmetric(nan) is False
    for other in (np.ones((2, 3)), np.ones((3, 3), dtype=int), np.ones(3), [[1.0]]):
        assert FAST.symmetric(other) is None         # Python decides
    assert _factor._symmetric(np.ones((3, 3), dtype=int)) is True


@needs_fast
def test_a_joint_rule_with_too_few_cotangents_is_named():
    twice = cr.primitive(lambda a, b: 2 * a + b, name="twice_plus")
    twice.vjp_all = lambda g, ans, a, b, wanted: (2 * g,)     # forgot b's
    a, b = cr.tensor(np.ones(2), requires_grad=True), cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="twice_plus.*1 cotangents for 2 inputs"):
        twice(a, b).sum().backward()


@needs_fast
def test_the_c_matrix_copies_agree_with_numpy_in_every_layout():
    rng = np.random.default_rng(1)
    for n in (1, 2, 15, 16, 17, 33, 100):
        k = rng.normal(size=(n, n))
        for m in (k, k.astype(np.float32), np.asfortranarray(k), k[::-1, ::2][:, :n // 2 + 1]
                  if n > 1 else k):
            if m.shape[0] == m.shape[1]:
                out = np.full_like(m, np.nan, order="C")
                assert FAST.add_transpose(m, out) is True
                assert np.array_equal(out, m + m.T)
                lower = np.asfortranarray(m)
                assert FAST.mirror_lower(lower) is True
                assert np.array_equal(lower, np.tril(m) + np.tril(m, -1).T)
            into = np.full(m.shape, np.nan, dtype=m.dtype, order="F")
            assert FAST.copy_into(m, into) is True and np.array_equal(into, m)
    m = np.ones((3, 3))
    for bad in (np.ones((3, 2)), np.ones((3, 3), dtype=np.float32), m):   # shape, type, itself
        assert FAST.add_transpose(m, bad) is None and FAST.copy_into(np.ones((2, 3)), bad) is None
    grid = np.arange(36.0).reshape(6, 6)
    overlapping = [(grid[:4, :4], grid[1:5, 1:5]), (grid[::-1], grid), (grid[:3, :3], grid[2:5, 2:5])]
    for a, out in overlapping:
        before = grid.copy()
        assert FAST.copy_into(a, out) is None and FAST.add_transpose(a, out) is None
        assert np.array_equal(grid, before)                # overlapping memory: nothing written
    assert FAST.add_transpose(grid[:3, :3], grid[3:, 3:]) is True   # apart: written
    assert np.array_equal(grid[3:, 3:], grid[:3, :3] + grid[:3, :3].T)
    read_only = np.ones((3, 3))
    read_only.flags.writeable = False
    assert FAST.mirror_lower(read_only) is None and FAST.mirror_lower(np.ones((2, 3))) is None
    assert FAST.mirror_lower(np.ones((3, 3), dtype=int)) is None


@needs_fast
def test_the_c_diagonal_check_finds_any_entry_off_the_diagonal():
    from chainrule.ops import _factor
    for n, m in ((1, 1), (4, 4), (40, 40), (5, 3), (3, 5)):
        d = np.eye(n, m) * np.arange(1.0, m + 1)[:m]
        for v in (d, d.astype(np.float32), np.asfortranarray(d)):
            assert FAST.diagonal_only(v) is True and _factor._diagonal_only(v)
        for i in range(n):
            for j in {0, m - 1, (i + 1) % m}:
                if i != j:
                    off = d.copy()
                    off[i, j] = -0.0 if (i + j) % 3 == 0 else np.nan
                    expected = bool(off[i, j] == 0)  # -0.0 is zero; NaN is not
                    assert FAST.diagonal_only(off) is expected
                    assert bool(_factor._diagonal_only(off)) is expected
    assert FAST.diagonal_only(np.eye(3, dtype=int)) is None and FAST.diagonal_only(np.ones(3)) is None


@needs_fast
def test_the_c_axpy_gives_numpys_two_passes_to_the_last_bit():
    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        for shape in [(0,), (1,), (3,), (4,), (5,), (17,), (7, 9), (2, 3, 5)]:
            y, x = rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)
            for alpha in (0.1, -0.37, 3.0):
                expected = y + dtype(alpha) * x            # the product rounded to the type first
                got = y.copy()
                assert FAST.axpy(got, x, alpha) is True
                assert got.dtype == dtype and np.array_equal(got, expected)
        same = rng.normal(size=(6, 5)).astype(dtype)
        expected = same + dtype(0.5) * same
        assert FAST.axpy(same, same, 0.5) is True and np.array_equal(same, expected)   # y += αy
    special = np.array([np.inf, -np.inf, np.nan, 1.0, -0.0])
    got = np.zeros(5)
    assert FAST.axpy(got, special, 2.0) is True
    assert np.array_equal(got, 0.0 + 2.0 * special, equal_nan=True)


@needs_fast
def test_the_c_axpy_refuses_what_it_cannot_do_and_writes_nothing():
    y = np.arange(12.0).reshape(3, 4)
    read_only = np.ones((3, 4))
    read_only.flags.writeable = False
    refused = [(y, np.ones((4, 3))),                       # same size, another shape
               (y, np.ones((3, 4), dtype=np.float32)),     # another type
               (y, np.ones((3, 4)).T.copy().T),            # not C-contiguous
               (y[:, :2], np.ones((3, 2))),                # a strided view to write
               (read_only, np.ones((3, 4))),
               (np.ones(3, dtype=int), np.ones(3, dtype=int)),
               (y.ravel()[1:], y.ravel()[:-1])]            # overlapping, not the same buffer
    for target, source in refused:
        before = target.copy()
        assert FAST.axpy(target, source, 2.0) is None
        assert np.array_equal(target, before)
    assert FAST.axpy(y, np.ones((3, 4)), "two") is None
    with pytest.raises(TypeError, match="axpy"):
        FAST.axpy(y, np.ones((3, 4)))


def _bits(a):
    return a.view(np.int64 if a.dtype == np.float64 else np.int32)


@needs_fast
def test_the_c_mask_positive_gives_numpys_product_with_a_mask_to_the_last_bit():
    rng = np.random.default_rng(3)
    for dtype in (np.float64, np.float32):
        for shape in [(0,), (1,), (3,), (4,), (5,), (17,), (7, 9), (2, 3, 5)]:
            g = rng.normal(size=shape).astype(dtype)
            y = np.maximum(rng.normal(size=shape), 0).astype(dtype)   # a relu output: 0s and more
            out = np.full(shape, 7.0, dtype)
            assert FAST.mask_positive(out, g, y) is True
            assert np.array_equal(_bits(out), _bits(g * (y > 0)))
        # g·0 is -0.0 for a negative g and NaN for an infinite one; y NaN or -0.0 is not > 0
        g = np.array([np.inf, -np.inf, np.nan, -3.0, -0.0, 2.0, 5.0, -1.0, np.nan], dtype)
        y = np.array([0.0, 0.0, 0.0, 0.0, 1.0, np.nan, -0.0, 1e-300, 2.0], dtype)
        out = np.empty_like(g)
        assert FAST.mask_positive(out, g, y) is True
        with np.errstate(invalid="ignore"):
            expected = g * (y > 0)
        assert np.array_equal(_bits(out), _bits(expected))


@needs_fast
def test_the_c_mask_positive_refuses_what_it_cannot_do_and_writes_nothing():
    g, y = np.arange(12.0).reshape(3, 4), np.ones((3, 4))
    read_only = np.zeros((3, 4))
    read_only.flags.writeable = False
    refused = [(np.zeros((4, 3)), g, y),                          # same size, another shape
               (np.zeros((3, 4)), g, np.ones(4)),                 # broadcasting: NumPy's job
               (np.zeros((3, 4)), g, y.astype(np.float32)),       # mixed types
               (np.zeros((3, 4), dtype=np.float32), g, y),
               (np.zeros((3, 4)), g.T.copy().T, y),               # not C-contiguous
               (read_only, g, y),
               (np.zeros(3, dtype=int), np.ones(3, dtype=int), np.ones(3, dtype=int))]
    for out, gg, yy in refused:
        before = out.copy()
        assert FAST.mask_positive(out, gg, yy) is None
        assert np.array_equal(out, before)
    shared = g.copy()
    assert FAST.mask_positive(shared, shared, y) is None           # out must be apart from both
    assert np.array_equal(shared, g)
    with pytest.raises(TypeError, match="mask_positive"):
        FAST.mask_positive(g, y)


@needs_fast
def test_the_c_replay_runs_steps_on_slots_and_refuses_malformed_ones():
    a, b = np.arange(3.0), np.full(3, 2.0)
    slots = [a, b, None, None, None]
    steps = ((np.multiply, (0, 1), None, 2, (), -1),          # slot 2 = a·b
             (np.sum, (2,), {"keepdims": True}, 3, (), -1),    # slot 3 = Σ slot 2, with params
             (np.add, (2, 1), None, 4, (2,), 2))               # slot 4 = slot 2 + b, into slot 2
    assert FAST.replay(steps[:1], slots) is None
    buffer_before = slots[2]
    FAST.replay(steps[1:], slots)
    assert_array_equal(slots[3], [6.0])
    assert slots[2] is None
    assert slots[4] is buffer_before and slots[4].tolist() == [2.0, 4.0, 6.0]
    assert_array_equal(a, [0.0, 1.0, 2.0])                     # operands not written
    with pytest.raises(ValueError, match="step 0 reads slot 9"):
        FAST.replay(((np.negative, (9,), None, 2, (), -1),), slots)
    with pytest.raises(ValueError, match="does not fit"):
        FAST.replay(((np.negative, (0,), None, 7, (), -1),), slots)
    with pytest.raises(TypeError, match="parameters are not a dict"):
        FAST.replay(((np.sum, (0,), [("axis", 0)], 2, (), -1),), slots)
    with pytest.raises(TypeError, match="6-tuple"):
        FAST.replay(((np.negative, (0,)),), slots)
    with pytest.raises(ZeroDivisionError):                     # an implementation's own error
        FAST.replay(((lambda x: 1 / 0, (0,), None, 2, (), -1),), slots)
    before = sys.getrefcount(a), sys.getrefcount(np.multiply)
    for _ in range(200):
        FAST.replay(steps, [a, b, None, None, None])
    assert (sys.getrefcount(a), sys.getrefcount(np.multiply)) == before
