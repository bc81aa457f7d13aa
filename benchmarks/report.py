"""Tables from a results file: ``python -m benchmarks.report RESULTS.json [--markdown | --readme]``.

One row per case and framework: the median with min–max in the case's unit,
the ratios to hand-written NumPy and to PyTorch eager (time over time, lower
is better: 0.8 means 20 % faster), the worker's peak RSS, and whether its
results agree with the reference (NumPy's, else the first framework's).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REFERENCE, RIVAL = "numpy", "torch"
DEFAULT_PASS = "as set"


def _display(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.{digits}g}"


def _agrees(value, reference, tolerance) -> bool:
    if value is None or reference is None:
        return value is None and reference is None
    kind, tol = tolerance
    if kind == "abs":
        return abs(value - reference) <= tol
    return abs(value - reference) <= tol * max(abs(reference), 1e-300)


def summarize(results: dict) -> list[dict]:
    """Rows in run order: one per (pass, case, framework) measured, with ratios and agreement."""
    rows: list[dict] = []
    for record in results["runs"]:
        if record.get("status") != "ok":
            continue
        for case in record["cases"]:
            times = [t * case["scale"] for t in case["times"]]
            rows.append({
                "pass": record.get("env_pass", DEFAULT_PASS), "case": case["name"],
                "unit": case["unit"], "framework": record["framework"],
                "median": statistics.median(times), "min": min(times), "max": max(times),
                "peak_rss_mib": record.get("peak_rss_mib"), "other_load": record.get("other_load"),
                "slowdown": record.get("slowdown"),
                "checks": case.get("checks", {}), "tolerances": case.get("tolerances", {}),
                "extra": case.get("extra", {}),
            })
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["pass"], row["case"]), []).append(row)
    for group in groups.values():
        by_framework = {row["framework"]: row for row in group}
        reference = by_framework.get(REFERENCE) or group[0]
        for row in group:
            for name, other in (("vs_numpy", by_framework.get(REFERENCE)),
                                ("vs_torch", by_framework.get(RIVAL))):
                row[name] = row["median"] / other["median"] if other else None
            disagree = [name for name, tol in row["tolerances"].items()
                        if name in reference["checks"]
                        and not _agrees(row["checks"].get(name), reference["checks"][name], tol)]
            row["agree"] = "DIFF " + ",".join(disagree) if disagree else "ok"
    return rows


def problems(results: dict) -> list[str]:
    """One line per worker that was skipped or failed, and per note a worker left."""
    lines = []
    for record in results["runs"]:
        where = f"{record['workload']} {record['framework']}"
        if record.get("env_pass", DEFAULT_PASS) != DEFAULT_PASS:
            where += f" ({record['env_pass']})"
        if record.get("status") in ("skipped", "error"):
            lines.append(f"{where}: {record['status']}: " + "; ".join(record.get("notes", [])))
        else:
            lines += [f"{where}: {note}" for note in record.get("notes", [])]
    return list(dict.fromkeys(lines))


def _result_cell(row: dict) -> str:
    parts = []
    if row["checks"].get("test_accuracy") is not None:
        parts.append(f"acc {row['checks']['test_accuracy']:.3f}")
    if "ratio_same_process" in row["extra"]:
        parts.append(f"{row['extra']['ratio_same_process']:.2f}x NumPy in-process")
    if row["tolerances"]:
        parts.append(row["agree"])
    if (row["other_load"] or 0) > 0.25:
        parts.append(f"machine busy ({row['other_load']:.1f} other cores)")
    if (row.get("slowdown") or 1) > 1.3:
        parts.append(f"machine slowed ({row['slowdown']:.1f}x)")
    return ", ".join(parts)


COLUMNS = ("framework", "median", "min–max", "× NumPy", "× PyTorch", "RSS MiB", "result")


def _cells(row: dict) -> list[str]:
    return [row["framework"], _display(row["median"]),
            f"{_display(row['min'])}–{_display(row['max'])}",
            _display(row["vs_numpy"], 2), _display(row["vs_torch"], 2),
            _display(row["peak_rss_mib"]), _result_cell(row)]


def _grouped(rows: list[dict]) -> dict[tuple, list[dict]]:
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["pass"], row["case"], row["unit"]), []).append(row)
    return groups


def format_text(results: dict) -> str:
    rows = summarize(results)
    lines = []
    for (env_pass, case, unit), group in _grouped(rows).items():
        title = f"{case} [{unit}]" + ("" if env_pass == DEFAULT_PASS else f"  ({env_pass})")
        table = [list(COLUMNS)] + [_cells(row) for row in group]
        widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
        lines.append(title)
        for r in table:
            lines.append("  " + "  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w)
                                          for i, (c, w) in enumerate(zip(r, widths))).rstrip())
        lines.append("")
    issues = problems(results)
    if issues:
        lines.append("Notes:")
        lines += [f"  - {line}" for line in issues]
    return "\n".join(lines)


def format_markdown(results: dict) -> str:
    rows = summarize(results)
    lines = ["| case | " + " | ".join(COLUMNS) + " |", "|" + "---|" * (len(COLUMNS) + 1)]
    for (env_pass, case, unit), group in _grouped(rows).items():
        label = f"{case} ({unit})" + ("" if env_pass == DEFAULT_PASS else f", {env_pass}")
        for i, row in enumerate(group):
            lines.append(f"| {label if i == 0 else ''} | " + " | ".join(_cells(row)) + " |")
    issues = problems(results)
    if issues:
        lines += ["", "Notes:", ""] + [f"- {line}" for line in issues]
    return "\n".join(lines)


README_CASES = ("W1", "W1b", "W2", "W4 hessian", "W4 jacfwd", "W4 jacrev", "W5 logdet",
                "W5 trace", "fastpath mul", "fastpath tanh")


def format_readme(results: dict, cases: tuple = README_CASES) -> str:
    """The short table: chainrule against NumPy by hand and PyTorch, as-set pass only."""
    rows = [r for r in summarize(results) if r["pass"] == DEFAULT_PASS]
    lines = [("| workload | unit | chainrule | NumPy by hand | PyTorch | chainrule ÷ NumPy "
              "| chainrule ÷ PyTorch |"), "|---|---|---|---|---|---|---|"]
    for case in cases:
        found = {r["framework"]: r for r in rows if r["case"] == case}
        if not found:
            continue
        ours = found.get("chainrule")
        unit = next(iter(found.values()))["unit"]
        medians = {name: _display(row["median"]) for name, row in found.items()}
        cell = medians.get
        lines.append(f"| {case} | {unit} | {cell('chainrule', '–')} | {cell(REFERENCE, '–')} "
                     f"| {cell(RIVAL, '–')} "
                     f"| {_display(ours['vs_numpy'], 2) if ours else '–'} "
                     f"| {_display(ours['vs_torch'], 2) if ours else '–'} |")
    return "\n".join(lines)


COMPILED = ("chainrule", "chainrule-compile", "jax-jit", "torch-compile")


def format_compiled(results: dict) -> str:
    """Recorded or compiled programs: ``cr.compile`` against ``jax.jit`` and ``torch.compile``."""
    rows = [r for r in summarize(results) if r["pass"] == DEFAULT_PASS]
    cases = list(dict.fromkeys(r["case"] for r in rows if r["framework"] == "chainrule-compile"))
    if not cases:
        return ""
    lines = ["| workload | unit | " + " | ".join(COMPILED) + " | compile ÷ eager "
             "| compile ÷ jax-jit | compile ÷ torch-compile |", "|---|---|" + "---|" * 7]
    for case in cases:
        found = {r["framework"]: r for r in rows if r["case"] == case}
        ours = found["chainrule-compile"]["median"]

        def ratio(name: str) -> str:
            return _display(ours / found[name]["median"], 2) if name in found else "–"

        cells = [_display(found[n]["median"]) if n in found else "–" for n in COMPILED]
        lines.append(f"| {case} | {found['chainrule-compile']['unit']} | " + " | ".join(cells)
                     + f" | {ratio('chainrule')} | {ratio('jax-jit')} | {ratio('torch-compile')} |")
    return "\n".join(lines)


# issue 6's targets: (case, what is compared, limit, strict); "fastpath*" means every fast-path case
TARGETS = [
    ("W1", "vs_numpy", 1.10, False), ("W1", "vs_torch", 1.0, True),
    ("W1b", "vs_numpy", 1.25, False), ("W1b", "vs_torch", 1.0, True),
    ("W2", "vs_torch", 1.0, True),
    ("W4 hessian", "vs_torch", 1.0, True), ("W4 jacfwd", "vs_torch", 1.0, True),
    ("W4 jacrev", "vs_torch", 1.0, True),
    ("W5 logdet", "vs_torch", 1.0, True), ("W5 trace", "vs_torch", 1.0, True),
    ("W5 logdet", "vs_numpy", 1.3, False), ("W5 trace", "vs_numpy", 1.3, False),
    ("W1", "rss_vs_numpy", 1.2, False),
    ("fastpath*", "same_process", 1.5, False),
]
TARGET_LABELS = {"vs_numpy": "chainrule ÷ NumPy by hand", "vs_torch": "chainrule ÷ PyTorch",
                 "rss_vs_numpy": "peak RSS ÷ NumPy's", "same_process": "chainrule ÷ bare NumPy call"}


def targets(results: dict, framework: str = "chainrule") -> list[dict]:
    """Issue 6's targets for ``framework``, as measured in this run (as-set pass)."""
    rows = [r for r in summarize(results) if r["pass"] == DEFAULT_PASS]
    ours = {r["case"]: r for r in rows if r["framework"] == framework}
    floor = {r["case"]: r for r in rows if r["framework"] == REFERENCE}
    out = []
    for case, what, limit, strict in TARGETS:
        names = [c for c in ours if c.startswith("fastpath")] if case == "fastpath*" else [case]
        for name in names:
            row = ours.get(name)
            if row is None:
                value = None
            elif what == "rss_vs_numpy":
                value = (row["peak_rss_mib"] / floor[name]["peak_rss_mib"]) if name in floor else None
            elif what == "same_process":
                value = row["extra"].get("ratio_same_process")
            else:
                value = row[what]
            met = None if value is None else (value < limit if strict else value <= limit)
            out.append({"case": name, "what": TARGET_LABELS[what],
                        "target": f"{'<' if strict else '≤'} {limit:g}", "value": value, "met": met})
    return out


def format_targets(results: dict, markdown: bool = False) -> str:
    found = [t for t in targets(results) if t["met"] is not None]
    if not found:
        return "  (no case with a target was measured)"
    verdict = {True: "met", False: "NOT met", None: "not measured"}
    if markdown:
        lines = ["| case | ratio | target | measured | |", "|---|---|---|---|---|"]
        lines += [f"| {t['case']} | {t['what']} | {t['target']} | {_display(t['value'], 3)} "
                  f"| {verdict[t['met']]} |" for t in found]
        return "\n".join(lines)
    width = max(len(t["case"] + t["what"]) for t in found) + 3
    return "\n".join(f"  {(t['case'] + ': ' + t['what']).ljust(width)} {t['target']:>7}  "
                     f"{_display(t['value'], 3):>6}  {verdict[t['met']]}" for t in found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    style = parser.add_mutually_exclusive_group()
    style.add_argument("--markdown", action="store_true", help="the full table in Markdown")
    style.add_argument("--readme", action="store_true", help="the README's short table")
    style.add_argument("--targets", action="store_true", help="issue 6's targets, met or not")
    style.add_argument("--compiled", action="store_true",
                       help="cr.compile against jax.jit and torch.compile")
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text())
    if args.markdown:
        print(format_markdown(results))
    elif args.readme:
        print(format_readme(results))
    elif args.targets:
        print(format_targets(results, markdown=True))
    elif args.compiled:
        print(format_compiled(results))
    else:
        print(format_text(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
