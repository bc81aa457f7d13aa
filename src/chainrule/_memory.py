"""Where arrays live: freed memory kept for reuse, and arrays on cache-line boundaries.

Derivatives make many temporary arrays of the same sizes, step after step. glibc's
malloc returns a large freed block to the kernel (its mmap and trim thresholds
start at 128 KiB and 1 MiB), so the next array of that size page-faults its way
back in: a fault per 4 KiB page, zeroed by the kernel, and on a virtual machine
each fault may also cost the host a trip. For the 256×256 matrices of the
course's matrix losses that is a third of the time of a gradient. At import,
chainrule asks glibc (Linux only) to keep up to 64 MiB of freed memory in the
heap and to serve arrays up to 32 MiB from it, as PyTorch's and JAX's tuning
guides get by preloading jemalloc or tcmalloc. The cost: up to 64 MiB that the
process keeps after it frees it.

malloc also puts an array anywhere within a 64-byte cache line, and NumPy's loops run
slower over an array that starts mid-line (its vector loads straddle two lines): 5-35%
for a float32 update of a 784×256 matrix, 6% for a whole training step of W1. Where the
C fast path is built, chainrule installs a NumPy allocator (NEP 49) that starts every
array on a 64-byte boundary, as PyTorch's allocator does, for the arrays made from then
on in the importing thread's context (NumPy's allocator is a context variable: other
threads keep NumPy's own). Every array is freed by the allocator that made it. That
allocator also keeps the blocks of the last arrays of 16 KiB or more that were freed (up to
32 blocks, 64 MiB) and gives the newest one of the right size to the next array: glibc gives
the one freed longest ago, no longer in the cache.

``CHAINRULE_MALLOC=default`` (set before the import) leaves both as they are.
"""

from __future__ import annotations

import os
import sys

from chainrule._native import FAST

TRIM_THRESHOLD = 64 << 20   # freed memory kept at the top of the heap
MMAP_THRESHOLD = 32 << 20   # arrays up to this size come from the heap
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters


def _opted_out() -> bool:
    return os.environ.get("CHAINRULE_MALLOC", "").lower() == "default"


def keep_freed_memory() -> bool:
    """Set glibc's thresholds as above; whether it was done (Linux with glibc, not opted out)."""
    if _opted_out() or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # not glibc (musl has no mallopt): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def align_arrays() -> bool:
    """Install the 64-byte aligned NumPy allocator; whether it was (C fast path, NumPy >= 1.22)."""
    if _opted_out() or FAST is None:
        return False
    return FAST.align_arrays(True)


KEPT = keep_freed_memory()
ALIGNED = align_arrays()
