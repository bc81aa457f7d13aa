"""The machine the figures come from, and how busy it is.

Stored with every results file: CPU model and cores, memory, Python, NumPy and
its BLAS (as built, and as loaded at run time: OpenBLAS picks its kernels by
CPU type, which ``OPENBLAS_CORETYPE`` overrides), the environment variables that
steer BLAS threading and kernels, and the repository's commit.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "OPENBLAS_VERBOSE")
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")   # what --env-unset-openblas removes


def _cpuinfo() -> dict:
    info: dict = {}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor() or platform.machine()}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and "model" not in info:
            info["model"] = value
        elif key == "flags" and "simd" not in info:
            flags = set(value.split())
            info["simd"] = [f for f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16",
                                        "amx_tile") if f in flags]
        elif key == "cache size" and "cache" not in info:
            info["cache"] = value
    return info


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def _numpy_blas() -> dict:
    try:
        config = np.show_config(mode="dicts")["Build Dependencies"]
        blas = config.get("blas", {})
        return {"name": blas.get("name"), "version": blas.get("version"),
                "configuration": blas.get("openblas configuration")}
    except Exception:  # noqa: BLE001 (older NumPy: no dict form)
        return {}


def _git(*args: str) -> str | None:
    try:
        root = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                             timeout=10, check=False)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _chainrule_source() -> dict:
    """The commit measured, and whether the engine's files differed from it."""
    changed = _git("status", "--porcelain", "--", "src")
    return {"commit": _git("rev-parse", "--short", "HEAD"),
            "src_modified": None if changed is None else bool(changed)}


def describe() -> dict:
    """What the results were measured on."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "host": socket.gethostname(),
        "cpu": _cpuinfo(),
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "numpy_blas": _numpy_blas(),
        "env": {name: os.environ.get(name) for name in BLAS_ENV},
        "chainrule": _chainrule_source(),
    }


def cpu_busy_seconds() -> float | None:
    """CPU seconds all processes have spent busy since boot (all cores), from /proc/stat."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def other_load(seconds: float = 1.0) -> float | None:
    """Cores kept busy by other processes over the next ``seconds`` (this one sleeps)."""
    before = cpu_busy_seconds()
    if before is None:
        return None
    time.sleep(seconds)
    return (cpu_busy_seconds() - before) / seconds


def speed_probe() -> float:
    """Milliseconds for a fixed bit of work (float32 matmuls and Python bytecode), the
    quickest of seven after a warm-up.

    On a shared host another tenant can slow this machine down while no process of its own
    is busy; a worker whose probes run slower than the quickest probe of the run was
    measured on a slowed machine (the driver runs it again with ``--retry-busy``).
    """
    a = np.ones((192, 192), dtype=np.float32)
    for _ in range(4):   # BLAS threads started, pages touched
        a @ a
    times = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(4):
            a @ a
        total = 0
        for i in range(20000):
            total += i
        times.append(time.perf_counter() - start)
    return round(min(times) * 1e3, 3)
