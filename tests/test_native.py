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
