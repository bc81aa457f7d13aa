"""Keep freed memory for reuse instead of handing it back to the kernel at once.

Derivatives make many temporary arrays of the same sizes, step after step. glibc's
malloc returns a large freed block to the kernel (its mmap and trim thresholds
start at 128 KiB and 1 MiB), so the next array of that size page-faults its way
back in: a fault per 4 KiB page, zeroed by the kernel, and on a virtual machine
each fault may also cost the host a trip. For the 256×256 matrices of the
course's matrix losses that is a third of the time of a gradient. At import,
chainrule asks glibc (Linux only) to keep up to 64 MiB of freed memory in the
heap and to serve arrays up to 32 MiB from it, as PyTorch's and JAX's tuning
guides get by preloading jemalloc or tcmalloc. The cost: up to 64 MiB that the
process keeps after it frees it. ``CHAINRULE_MALLOC=default`` (set before the
import) leaves malloc as it is.
"""

from __future__ import annotations

import os
import sys

TRIM_THRESHOLD = 64 << 20   # freed memory kept at the top of the heap
MMAP_THRESHOLD = 32 << 20   # arrays up to this size come from the heap
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc's mallopt parameters


def keep_freed_memory() -> bool:
    """Set glibc's thresholds as above; whether it was done (Linux with glibc, not opted out)."""
    if os.environ.get("CHAINRULE_MALLOC", "").lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):   # not glibc (musl has no mallopt): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD))


KEPT = keep_freed_memory()
