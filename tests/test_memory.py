"""chainrule asks glibc to keep freed memory for reuse and NumPy to align arrays, unless told not to."""

import subprocess
import sys

import numpy as np
import pytest

import chainrule._memory as memory
from chainrule._native import FAST

glibc = sys.platform.startswith("linux") and "glibc" in " ".join(
    __import__("platform").libc_ver())


def _run(code: str, **env) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PATH": "", **env}, check=True).stdout.strip()


@pytest.mark.skipif(not glibc, reason="mallopt is glibc's")
def test_malloc_keeps_freed_memory_on_glibc():
    assert memory.KEPT is True


@pytest.mark.parametrize("setting, kept", [("default", "False"), ("", "True" if glibc else "False")])
def test_chainrule_malloc_default_leaves_malloc_alone(setting, kept):
    assert _run("import chainrule._memory as m; print(m.KEPT)", CHAINRULE_MALLOC=setting) == kept


# --- arrays on 64-byte boundaries (the C fast path's NumPy allocator) ---------------------------


needs_fast = pytest.mark.skipif(FAST is None, reason="the aligned allocator is in the C fast path")


def _handler_name() -> str:
    multiarray = getattr(np, "_core", None) or np.core
    return multiarray.multiarray.get_handler_name()


def _offsets(arrays) -> set:
    return {a.ctypes.data % 64 for a in arrays}



@needs_fast
def test_arrays_made_after_import_start_on_64_byte_boundaries():
    assert memory.ALIGNED is True
    assert _handler_name() == "chainrule_aligned64"
    x = np.ones((128, 784), dtype=np.float32)
    made = [np.empty(n, dtype=np.float32) for n in (0, 1, 3, 17, 1000, 12345, 1 << 20)]
    made += [np.zeros((784, 256), dtype=np.float32), np.arange(5.0), x @ x.T, x * 2, x.T.copy(),
             np.exp(x), x.sum(axis=0), np.concatenate([x, x])]
    assert _offsets(made) == {0}


@needs_fast
def test_the_aligned_allocator_keeps_values_through_resize_and_zeroes_calloc():
    a = np.arange(10.0)
    for n in (200_000, 3, 5000, 17, 1 << 20, 1000, 50, 300_000, 2):   # realloc, up and down
        kept = min(len(a), n)
        a.resize(n, refcheck=False)
        assert a.ctypes.data % 64 == 0
        assert np.array_equal(a[:kept], np.arange(kept, dtype=float)), n
        a[:] = np.arange(n)
    z = np.zeros(3_000_000)                    # calloc, large enough for lazy pages
    assert not z.any() and z.ctypes.data % 64 == 0


@needs_fast
def test_align_arrays_switches_back_to_numpys_allocator_and_on_again():
    try:
        assert FAST.align_arrays(False) is True
        assert _handler_name() == "default_allocator"
        plain = np.ones(1000)
    finally:
        assert FAST.align_arrays(True) is True
    assert _handler_name() == "chainrule_aligned64"
    del plain                                  # freed by the allocator that made it
    assert np.ones(1000).ctypes.data % 64 == 0


@pytest.mark.parametrize("env", [{"CHAINRULE_MALLOC": "default"}, {"CHAINRULE_PURE_PYTHON": "1"}])
def test_numpys_allocator_stays_when_opted_out_or_pure_python(env):
    code = ("import chainrule._memory as m, numpy as np; "
            "core = getattr(np, '_core', None) or np.core; "
            "print(m.ALIGNED, core.multiarray.get_handler_name())")
    assert _run(code, **env) == "False default_allocator"


@needs_fast
def test_arrays_made_before_the_import_are_freed_by_numpys_allocator():
    code = ("import numpy as np; before = [np.ones(n) for n in (10, 10**5, 10**6)]; "
            "import chainrule; after = np.ones(10**6); del before; "
            "again = [np.ones(n) for n in (10, 10**5, 10**6)]; "
            "print(after.ctypes.data % 64, {a.ctypes.data % 64 for a in again}, after.sum())")
    assert _run(code) == "0 {0} 1000000.0"


@needs_fast
def test_freed_blocks_come_back_newest_first_and_zeroed_when_asked():
    n = 1 << 17                                # 1 MiB of float64: kept for reuse when freed
    older, newer = np.ones(n), np.ones(n)
    older_at, newer_at = older.ctypes.data, newer.ctypes.data
    del older, newer                           # freed oldest first
    again = np.empty(n)                        # malloc's bins would give the older one
    assert again.ctypes.data == newer_at
    zeros = np.zeros(n)                        # calloc from a kept (dirty) block
    assert zeros.ctypes.data == older_at
    assert not zeros.any()
    grown = np.arange(float(n))                # a kept block resized keeps its values
    grown.resize(3 * n, refcheck=False)
    assert grown.ctypes.data % 64 == 0 and np.array_equal(grown[:n], np.arange(float(n)))


@needs_fast
def test_kept_blocks_are_given_only_for_their_own_size():
    n = 1 << 15
    block = np.full(n, 7.0)
    at = block.ctypes.data
    del block
    other = np.empty(n + 1)                    # 8 bytes more: not the kept block
    assert other.ctypes.data != at
    same = np.full(n, 1.0)
    assert same.ctypes.data == at and np.all(same == 1.0)
