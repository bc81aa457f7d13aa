"""The clock: repeats of auto-sized loops, each giving seconds per call.

A statement is compiled into a tight loop (as ``timeit`` does, so a one-line
statement pays no extra Python call), but, unlike ``timeit``, the garbage
collector stays on: an engine that makes reference cycles pays for them here
as it would in a user's program.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any


def compile_loop(stmt: str | Callable[[], Any], namespace: dict | None = None) -> Callable[[int], None]:
    """``loop(n)`` runs ``stmt`` (a statement, or a callable with no arguments) n times."""
    namespace = dict(namespace or {})
    if callable(stmt):
        namespace["_fn"] = stmt
        stmt = "_fn()"
    source = f"def _loop(_n):\n    for _ in range(_n):\n        {stmt}\n"
    exec(compile(source, "<benchmark loop>", "exec"), namespace)  # noqa: S102 (our own template)
    return namespace["_loop"]


def _seconds(loop: Callable[[int], None], number: int) -> float:
    start = time.perf_counter()
    loop(number)
    return time.perf_counter() - start


def calls_per_sample(loop: Callable[[int], None], min_time: float) -> int:
    """How many calls make a sample of at least ``min_time`` seconds (after one warm-up call)."""
    first = _seconds(loop, 1)          # warm-up: caches, JIT compilation, BLAS threads
    if first >= min_time:
        return 1
    number = max(1, math.ceil(min_time / max(_seconds(loop, 1), 1e-9)))
    while True:
        elapsed = _seconds(loop, number)
        if elapsed >= min_time * 0.5:
            return max(1, math.ceil(number * min_time / elapsed))
        number *= 4


def measure(stmt: str | Callable[[], Any], namespace: dict | None = None, *,
            repeats: int, min_time: float) -> list[float]:
    """Seconds per call of ``stmt``, one figure per repeat."""
    return measure_side_by_side([(stmt, namespace)], repeats=repeats, min_time=min_time)[0]


def measure_side_by_side(candidates: list[tuple[Any, dict | None]], *, repeats: int,
                         min_time: float) -> list[list[float]]:
    """Like :func:`measure` for several statements, their repeats interleaved.

    Interleaving (a, b, a, b, ...) puts every candidate under the same drift of
    the machine (frequency, other processes), which matters for ratios.
    """
    loops = [compile_loop(stmt, namespace) for stmt, namespace in candidates]
    numbers = [calls_per_sample(loop, min_time) for loop in loops]
    samples: list[list[float]] = [[] for _ in loops]
    for _ in range(repeats):
        for loop, number, out in zip(loops, numbers, samples):
            out.append(_seconds(loop, number) / number)
    return samples
