"""Run one workload for one framework, in this (fresh) process, and print one JSON line.

    python -m benchmarks.worker W2 chainrule [--repeats N] [--quick]

The last line of standard output is ``RESULT {json}``: the status (``ok``,
``skipped``: the framework is missing or cannot do it, ``n/a``: the workload does
not apply to it, ``error``: it failed), the cases measured, the notes, the
framework's version and the peak resident memory of this process.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import resource
import sys
import time
import traceback

from benchmarks.machine import cpu_busy_seconds, speed_probe

MARKER = "RESULT "

# name -> (module in this package, options for its configure(), module that must be importable)
FRAMEWORKS: dict[str, tuple[str, dict, str | None]] = {
    "numpy": ("fw_numpy", {}, None),
    "chainrule": ("fw_chainrule", {}, None),
    "chainrule-nn": ("fw_chainrule_nn", {}, None),
    "chainrule-compile": ("fw_chainrule", {"compile": True}, None),
    "torch": ("fw_torch", {}, "torch"),
    "torch-compile": ("fw_torch", {"compile": True}, "torch"),
    "jax": ("fw_jax", {"jit": False}, "jax"),
    "jax-jit": ("fw_jax", {"jit": True}, "jax"),
    "autograd": ("fw_autograd", {}, "autograd"),
}


def peak_rss_mib() -> float:
    """This process's peak resident set size (``ru_maxrss`` is in KiB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def _own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def blas_runtime() -> list[dict]:
    """What BLAS libraries this process loaded, and how they run (needs threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return []
    keep = ("user_api", "internal_api", "version", "num_threads", "architecture", "threading_layer")
    return [{k: info.get(k) for k in keep} for info in threadpool_info()]


def run(workload: str, framework: str, repeats: int | None = None, quick: bool = False) -> dict:
    from benchmarks.workloads import PROTOCOLS, WORKLOADS, Settings, Skip

    record: dict = {"workload": workload, "framework": framework, "status": "ok", "cases": [],
                    "notes": [], "version": None}
    spec = WORKLOADS[workload]
    module_name, options, requirement = FRAMEWORKS[framework]
    if requirement and importlib.util.find_spec(requirement) is None:
        return {**record, "status": "skipped",
                "notes": [f"{requirement} is not installed (pip install '.[bench]')"]}
    probe_before = speed_probe()
    start, own_start, busy_start = time.perf_counter(), _own_cpu_seconds(), cpu_busy_seconds()
    try:
        module = importlib.import_module(f"benchmarks.{module_name}")
        if options:
            module.configure(**options)
        applies = getattr(module, "applies", lambda name: True)
        if not hasattr(module, spec.function) or not applies(workload):
            return {**record, "status": "n/a"}
        record["version"] = module.version()
        cases, notes = PROTOCOLS[workload](spec, module, Settings(repeats=repeats, quick=quick))
        record["cases"] = [case.as_dict() for case in cases]
        record["notes"] += notes
    except Skip as reason:
        record.update(status="skipped", notes=record["notes"] + [str(reason)])
    except Exception as error:  # noqa: BLE001 (an engine bug is reported, not fatal)
        record.update(status="error", notes=record["notes"] + [f"{type(error).__name__}: {error}"],
                      traceback=traceback.format_exc()[-4000:])
    else:
        record["notes"] += list(dict.fromkeys(getattr(module, "NOTES", [])))
    wall = time.perf_counter() - start
    record["seconds"] = round(wall, 2)
    if busy_start is not None and wall > 0:       # cores other processes kept busy meanwhile
        others = cpu_busy_seconds() - busy_start - (_own_cpu_seconds() - own_start)
        record["other_load"] = round(max(0.0, others / wall), 2)
    record["probe_ms"] = [probe_before, speed_probe()]   # how fast the machine ran, before and after
    record["peak_rss_mib"] = peak_rss_mib()
    record["blas_runtime"] = blas_runtime()
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workload")
    parser.add_argument("framework", choices=sorted(FRAMEWORKS))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    record = run(args.workload, args.framework, args.repeats, args.quick)
    sys.stdout.write("\n" + MARKER + json.dumps(record) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
