"""The benchmark suite runs end to end (a smoke test: no timed assertions)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_run_writes_results_with_the_expected_keys(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "W2,W3",
         "--frameworks", "chainrule,chainrule-compile,numpy", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert {"schema", "date", "command", "options", "machine", "runs", "notes"} <= set(results)
    assert {"cpu", "cores", "numpy", "numpy_blas", "env"} <= set(results["machine"])
    assert {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} <= set(results["machine"]["env"])
    runs = {(r["workload"], r["framework"]): r for r in results["runs"]}
    assert set(runs) == {(w, fw) for w in ("W2", "W3")
                         for fw in ("chainrule", "chainrule-compile", "numpy")}
    for run in runs.values():
        assert run["status"] == "ok", run.get("notes")
        assert run["peak_rss_mib"] > 0 and len(run["probe_ms"]) == 2
        (case,) = run["cases"]
        assert {"name", "unit", "times", "checks"} <= set(case)
        assert len(case["times"]) >= 2 and all(t > 0 for t in case["times"])
    # the frameworks differentiate the same function: their checksums agree
    for workload in ("W2", "W3"):
        floor = runs[workload, "numpy"]["cases"][0]["checks"]["probe_sum"]
        for fw in ("chainrule", "chainrule-compile"):
            ours = runs[workload, fw]["cases"][0]["checks"]["probe_sum"]
            assert abs(ours - floor) <= 1e-8 * abs(floor)
    assert "W2" in done.stdout and "× NumPy" in done.stdout
    assert "cr.compile against jax.jit and torch.compile" in done.stdout


def test_the_interleaved_w1_comparison_prints_a_ratio_per_trainer(capsys):
    from benchmarks import interleaved

    assert interleaved.main(["--batch", "4", "--rounds", "1", "--steps", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("W1 step, batch 4")
    assert [line.split()[:2] for line in lines[1:]] == [
        ["step", "numpy"], ["step", "chainrule"], ["step", "chainrule-nn"]]
    assert all("× NumPy" in line for line in lines[1:])
    assert lines[1].endswith("× NumPy 1.000")


def test_the_interleaved_w5_comparison_puts_each_loss_beside_its_closed_form(capsys):
    from benchmarks import fw_chainrule, interleaved

    assert interleaved.main(["--workload", "W5", "--rounds", "1", "--calls", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("W5 gradients")
    frameworks = ["numpy", "chainrule", "chainrule-compile"]
    assert [line.split()[:2] for line in lines[1:]] == [
        [loss, name] for loss in ("logdet", "trace") for name in frameworks]
    assert lines[1].endswith("× NumPy 1.000") and lines[4].endswith("× NumPy 1.000")
    assert fw_chainrule.COMPILE is False        # the compiled contender leaves the module as it was
