"""Run the suite: every selected workload for every selected framework, each in a
fresh worker process; print the table; write the results as JSON.

    python -m benchmarks                          # everything installed, as the env is set
    python -m benchmarks --only W1,W2 --frameworks chainrule,numpy,torch
    python -m benchmarks --quick                  # a smoke test: small repeats, short epochs
    python -m benchmarks --full                   # also W1/W1b with OPENBLAS_CORETYPE and
                                                  # OPENBLAS_L2_SIZE removed from the env
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import machine, report
from benchmarks.worker import MARKER
from benchmarks.workloads import QUICK_BATCHES, WORKLOADS

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
FRAMEWORK_ORDER = ("numpy", "chainrule", "chainrule-nn", "chainrule-compile", "torch", "torch-compile",
                   "jax", "jax-jit", "autograd")
UNSET_PASS_WORKLOADS = ("W1", "W1b")      # the workloads --full repeats with the vars unset
AS_SET, UNSET = "as set", "OpenBLAS vars unset"
BUSY = 0.25     # cores kept busy by other processes above which a figure is suspect
SLOWED = 1.3    # a worker's speed probe this much slower than the run's quickest: a slowed host


def _names(text: str | None, known: list[str], what: str) -> list[str]:
    if not text:
        return list(known)
    by_lower = {name.lower(): name for name in known}
    chosen = []
    for name in (part.strip() for part in text.split(",") if part.strip()):
        if name.lower() not in by_lower:
            raise SystemExit(f"unknown {what} {name!r}; choose from {', '.join(known)}")
        chosen.append(by_lower[name.lower()])
    return chosen


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", metavar="W1,W2", help=f"workloads ({', '.join(WORKLOADS)})")
    parser.add_argument("--frameworks", metavar="A,B",
                        help=f"frameworks ({', '.join(FRAMEWORK_ORDER)}); default: all")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: 3 short repeats, 20-batch epochs (figures are rough)")
    parser.add_argument("--repeats", type=int, metavar="N",
                        help="repeats per figure (W1*: timed epochs, at least 2)")
    parser.add_argument("--full", action="store_true",
                        help="also run W1 and W1b with OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE unset")
    parser.add_argument("--env-unset-openblas", action="store_true",
                        help="run every worker with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE "
                             "removed from its environment")
    parser.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                        help="before each worker, wait up to SECONDS for other processes to "
                             "leave the CPU idle (< 0.25 cores busy)")
    parser.add_argument("--rounds", type=int, default=1, metavar="N",
                        help="run the whole plan N times, one round after another, and keep "
                             "for each workload and framework its quickest round (noise on a "
                             "shared host only ever slows a figure down)")
    parser.add_argument("--retry-busy", type=int, default=0, metavar="N",
                        help="run a worker again (up to N times) when other processes kept more "
                             "than 0.25 cores busy during it, or its speed probes ran 1.3x slower "
                             "than the run's quickest (a slowed shared host); the quietest run "
                             "is kept")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="per worker (default 1800, 120 with --quick)")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="results file (default benchmarks/results/<date>-<host>.json)")
    args = parser.parse_args(argv)
    args.workloads = _names(args.only, list(WORKLOADS), "workload")
    chosen = _names(args.frameworks, list(FRAMEWORK_ORDER), "framework")
    args.framework_names = [name for name in FRAMEWORK_ORDER if name in chosen]
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def worker_env(unset_openblas: bool) -> dict:
    env = dict(os.environ)
    if unset_openblas:                       # as `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`
        for name in machine.OPENBLAS_OVERRIDES:
            env.pop(name, None)
    env.setdefault("JAX_PLATFORMS", "cpu")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_worker(workload: str, framework: str, env: dict, args: argparse.Namespace) -> dict:
    command = [sys.executable, "-m", "benchmarks.worker", workload, framework]
    if args.repeats:
        command += ["--repeats", str(args.repeats)]
    if args.quick:
        command.append("--quick")
    timeout = args.timeout or (120 if args.quick else 1800)
    failed = {"workload": workload, "framework": framework, "status": "error", "cases": []}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return {**failed, "notes": [f"worker timed out after {timeout:.0f} s"]}
    lines = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return {**failed, "notes": [f"worker exited with {done.returncode} and no result: "
                                    + " | ".join(tail)]}
    return json.loads(lines[-1][len(MARKER):])


def _quicker(record: dict, other: dict) -> bool:
    """Whether ``record`` ran quicker than ``other`` (same workload and framework): the sum
    over its cases of the median time, relative to the other's."""
    if record["status"] != "ok" or other["status"] != "ok":
        return record["status"] == "ok" and other["status"] != "ok"
    ratios = [statistics.median(a["times"]) / statistics.median(b["times"])
              for a, b in zip(record["cases"], other["cases"]) if statistics.median(b["times"]) > 0]
    return bool(ratios) and statistics.fmean(ratios) < 1


def _note_probe(record: dict, quickest: float) -> float:
    return min([quickest, *record.get("probe_ms", [])])


def _slowdown(record: dict, quickest: float) -> float:
    """How much slower than the quickest probe the machine ran around this worker."""
    probes = record.get("probe_ms") or [quickest]
    return max(probes) / quickest


def _disturbance(record: dict, quickest: float) -> float:
    return max((record.get("other_load") or 0) / BUSY, _slowdown(record, quickest) / SLOWED)


def _disturbed(record: dict, quickest: float) -> str:
    """Why this worker's figures are suspect ("" if they are not)."""
    if (record.get("other_load") or 0) > BUSY:
        return f"busy ({record['other_load']} cores)"
    if _slowdown(record, quickest) > SLOWED:
        return f"slowed ({_slowdown(record, quickest):.1f}x)"
    return ""


def wait_for_idle(limit: float) -> float:
    """Wait (at most ``limit`` s) until other processes leave the CPU idle; the seconds waited."""
    start = time.perf_counter()
    while time.perf_counter() - start < limit:
        load = machine.other_load(1.0)
        if load is None or load < BUSY:
            break
    return round(time.perf_counter() - start, 1)


def plan(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    """(workload, framework, env pass) in the order they run."""
    openblas_set = [name for name in machine.OPENBLAS_OVERRIDES if name in os.environ]
    runs = []
    for workload in args.workloads:
        passes = [UNSET if args.env_unset_openblas else AS_SET]
        if args.full and not args.env_unset_openblas and workload in UNSET_PASS_WORKLOADS \
                and openblas_set:
            passes.append(UNSET)
        for env_pass in passes:
            runs += [(workload, framework, env_pass) for framework in args.framework_names]
    return runs


def _progress(record: dict) -> str:
    if record["status"] != "ok":
        return f"{record['status']}: " + "; ".join(record.get("notes", []))[:150]
    parts = []
    for case in record["cases"]:
        times = sorted(t * case["scale"] for t in case["times"])
        parts.append(f"{case['name']} {report._display(times[len(times) // 2])} {case['unit']}")
    return ", ".join(parts)


def default_out(quick: bool) -> Path:
    stamp = datetime.date.today().isoformat()
    host = machine.describe()["host"].split(".")[0] or "host"
    return RESULTS_DIR / f"{stamp}-{host}{'-quick' if quick else ''}.json"


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.chmod(temporary, 0o644)            # mkstemp makes it private; results are for all
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    results = {
        "schema": "chainrule-benchmarks/1",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m benchmarks " + shlex.join(argv),
        "options": {"workloads": args.workloads, "frameworks": args.framework_names,
                    "quick": args.quick, "repeats": args.repeats, "full": args.full,
                    "env_unset_openblas": args.env_unset_openblas},
        "machine": machine.describe(),
        "notes": [],
        "runs": [],
    }
    runs = plan(args)
    if args.quick:
        results["notes"].append(f"--quick: rough figures; a W1* epoch is {QUICK_BATCHES} batches "
                                f"and its accuracy means little")
    if args.full and not args.env_unset_openblas and not any(
            name in os.environ for name in machine.OPENBLAS_OVERRIDES):
        results["notes"].append("--full: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set here, "
                                "so the pass with them unset would repeat the first; not run")
    started = time.perf_counter()
    quickest = min(machine.speed_probe() for _ in range(3))   # the machine's own speed, at rest
    kept: dict[tuple, dict] = {}   # (workload, framework, pass) -> its quickest round's record
    rounds = max(1, args.rounds)
    for i, (workload, framework, env_pass) in enumerate(runs * rounds, 1):
        waited = wait_for_idle(args.wait_idle) if args.wait_idle else 0.0
        label = f"[{i}/{len(runs) * rounds}] {workload} {framework}" + (
            "" if env_pass == AS_SET else f" ({env_pass})")
        print(label + " ...", end=" ", file=sys.stderr, flush=True)
        record = run_worker(workload, framework, worker_env(env_pass == UNSET), args)
        quickest = _note_probe(record, quickest)
        for _ in range(args.retry_busy):
            if record["status"] != "ok" or not _disturbed(record, quickest):
                break
            print(f"{_disturbed(record, quickest)}, again ...", end=" ", file=sys.stderr, flush=True)
            waited += wait_for_idle(args.wait_idle) if args.wait_idle else 0.0
            again = run_worker(workload, framework, worker_env(env_pass == UNSET), args)
            quickest = _note_probe(again, quickest)
            if again["status"] == "ok" and _disturbance(again, quickest) < _disturbance(record, quickest):
                record = again
        record["slowdown"] = round(_slowdown(record, quickest), 2)
        record["env_pass"] = env_pass
        if waited:
            record["waited_for_idle_s"] = waited
        print(_progress(record), file=sys.stderr, flush=True)
        key = (workload, framework, env_pass)
        if record["status"] != "n/a" and (key not in kept or _quicker(record, kept[key])):
            record["round"] = (i - 1) // len(runs) + 1
            kept[key] = record
    results["runs"] = list(kept.values())
    if rounds > 1:
        results["notes"].append(f"--rounds {rounds}: each figure is from the quickest of "
                                f"{rounds} rounds (its 'round' in the results file)")
    results["seconds"] = round(time.perf_counter() - started, 1)
    busy = [r for r in results["runs"] if (r.get("other_load") or 0) > BUSY]
    if busy:
        results["notes"].append(
            "other processes kept the CPU busy during " + ", ".join(
                f"{r['workload']} {r['framework']}"
                + ("" if r["env_pass"] == AS_SET else f" [{r['env_pass']}]")
                + f" ({r['other_load']} cores)" for r in busy)
            + ": those figures are pessimistic")
    slowed = [r for r in results["runs"] if (r.get("slowdown") or 1) > SLOWED]
    if slowed:
        results["notes"].append(
            "the machine ran slower than at its quickest (speed probe) around " + ", ".join(
                f"{r['workload']} {r['framework']} ({r['slowdown']}x)" for r in slowed)
            + ": those figures are pessimistic")
    out = args.out or default_out(args.quick)
    write_atomically(out, json.dumps(results, indent=1) + "\n")
    print(report.format_text(results))
    for note in results["notes"]:
        print(f"  - {note}")
    if any(r["framework"] == "chainrule" for r in results["runs"]):
        print("\nchainrule against issue 6's targets:")
        print(report.format_targets(results))
    compiled = report.format_compiled(results)
    if compiled:
        print("\ncr.compile against jax.jit and torch.compile:")
        print(compiled)
    print(f"\nresults: {out}")
    return 0
