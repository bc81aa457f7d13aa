"""``chainrule trace EXPR --at NAME=VALUE ...``: tables, JSON, drawings and refusals."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.cli import main
from chainrule.commands.trace import engine_functions
from chainrule.inspect.expr import DEFAULT_FUNCTIONS

ROOT = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None
COURSE = "x1*x2 + exp(x1*x2) - sin(x2)"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def run_module(*argv, env=None, cwd=None):
    """``python -m chainrule ...`` in a fresh process."""
    environment = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "chainrule", *argv], capture_output=True,
                          text=True, env=environment, cwd=cwd, timeout=120, check=False)


def test_course_expression_prints_primal_tangent_and_adjoint_columns(capsys):
    code, out, err = run_cli(capsys, "trace", COURSE, "--at", "x1=1.5", "--at", "x2=0.5")
    assert code == 0 and err == ""
    for text in ("primal v", "tangent ∂v/∂x1", "tangent ∂v/∂x2", "adjoint ∂v7/∂v",
                 "v1 * v2", "exp(v3)", "sin(v2)", "gradient: ∂f/∂x1 = 1.5585"):
        assert text in out
    # x1*x2 is written twice but computed once, as in a hand-made trace: 7 rows.
    rows = [line.split()[0] for line in out.splitlines() if line[:1] == "v" and line[1:2].isdigit()]
    assert rows == [f"v{k}" for k in range(1, 8)]


EXPRESSIONS = [
    (COURSE, {"x1": 1.5, "x2": 0.5},
     lambda x1, x2: x1 * x2 + cnp.exp(x1 * x2) - cnp.sin(x2)),
    ("(x+y)*z", {"x": 1.0, "y": 2.0, "z": 3.0}, lambda x, y, z: (x + y) * z),
    ("6*exp(-y)/(1+x^2+y^2) + 2*x**3", {"y": 0.3, "x": -1.2},
     lambda y, x: 6 * cnp.exp(-y) / (1 + x ** 2 + y ** 2) + 2 * x ** 3),
    ("sigmoid(w*x + b)", {"w": 0.5, "x": 2.0, "b": -0.3},
     lambda w, x, b: cr.sigmoid(w * x + b)),
    ("sqrt(a)*log(b) - tanh(a/b) + maximum(a, b)^2 - abs(-a) + pi",
     {"a": 2.0, "b": 3.0},
     lambda a, b: cnp.sqrt(a) * cnp.log(b) - cnp.tanh(a / b) + cnp.maximum(a, b) ** 2
     - cnp.abs(-a) + np.pi),
]


@pytest.mark.parametrize("text, at, f", EXPRESSIONS, ids=[e[0] for e in EXPRESSIONS])
def test_json_gradient_matches_cr_grad(capsys, text, at, f):
    argv = ["trace", text, "--json"] + [a for name, v in at.items() for a in ("--at", f"{name}={v}")]
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0
    result = last_json(out)
    values = list(at.values())
    expected = cr.grad(f, argnums=tuple(range(len(values))))(*values)
    assert list(result["gradient"]) == list(at)
    assert_allclose([result["gradient"][name] for name in at], [float(g) for g in expected],
                    rtol=1e-13)
    assert_allclose(result["output"], float(f(*values)), rtol=1e-14)
    assert set(result) >= {"output", "gradient", "rows"}
    assert result["rows"][0]["op"] == "input"


def test_json_rows_carry_the_course_values(capsys):
    code, out, _ = run_cli(capsys, "trace", COURSE, "--at", "x1=1.5", "--at", "x2=0.5", "--json")
    assert code == 0
    rows = last_json(out)["rows"]
    assert [row["op"] for row in rows] == [
        "input", "input", "multiply", "exp", "add", "sin", "subtract"]
    assert rows[2]["inputs"] == ["v1", "v2"] and rows[2]["primal"] == 0.75
    assert rows[2]["tangent"] == {"x1": 0.5, "x2": 1.5}
    assert_allclose(rows[5]["adjoint"], -1.0)


def test_seed_gives_one_tangent_column(capsys):
    code, out, _ = run_cli(capsys, "trace", COURSE, "--at", "x1=1.5", "--at", "x2=0.5",
                           "--seed", "x1=2", "--seed", "x2=-3", "--json")
    assert code == 0
    result = last_json(out)
    _, tangent = cr.jvp(EXPRESSIONS[0][2], (1.5, 0.5), (2.0, -3.0))
    assert_allclose(result["tangent"]["seed"], float(tangent), rtol=1e-13)
    assert "tangent v̇" in out


def test_every_whitelisted_function_has_an_engine_function():
    functions = engine_functions()
    assert set(DEFAULT_FUNCTIONS) <= set(functions)
    for name in ("exp", "sin", "add", "sigmoid"):
        assert functions[name] in (getattr(cnp, name, None), getattr(cr, name, None))


def test_dot_file_is_written(capsys, tmp_path):
    path = tmp_path / "f.dot"
    code, _, _ = run_cli(capsys, "trace", "(x+y)*z", "--at", "x=1", "--at", "y=2", "--at", "z=3",
                         "--dot", str(path))
    assert code == 0
    source = path.read_text()
    assert "(add)" in source and "(multiply)" in source and "digraph" in source


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_svg_and_png_files_are_drawn(capsys, tmp_path):
    code, _, err = run_cli(capsys, "trace", COURSE, "--at", "x1=1.5", "--at", "x2=0.5",
                           "--svg", str(tmp_path / "f.svg"), "--png", str(tmp_path / "f.png"))
    assert code == 0, err
    assert "<svg" in (tmp_path / "f.svg").read_text()
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_svg_without_graphviz_is_one_clear_line(tmp_path):
    done = run_module("trace", "x*2", "--at", "x=1", "--svg", str(tmp_path / "f.svg"),
                      env={"PATH": ""})
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "apt-get install graphviz" in done.stderr
    assert not (tmp_path / "f.svg").exists()


# --- refusals: one line, non-zero, nothing run -----------------------------------------------

HOSTILE = [
    "__import__('os').system('touch {canary}')",
    "open('{canary}', 'w')",
    "x.__class__",
    "x.real",
    "[x for x in (1, 2)]",
    "(lambda: 1)()",
    "exec('import os')",
    "eval('1+1')",
    "getattr(x, 'real')",
    "x; import os",
    "x if x else 1",
    "{canary}",
    "'a' * 3",
    "x[0]",
]


@pytest.mark.parametrize("template", HOSTILE)
def test_hostile_expressions_are_refused_without_running_anything(template, tmp_path):
    canary = tmp_path / "canary"
    text = template.format(canary=canary)
    done = run_module("trace", text, "--at", "x=1", cwd=tmp_path)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("chainrule")
    assert not canary.exists()


MISTAKES = [
    (["trace", "x1 +", "--at", "x1=1"], "unexpected end of expression at column 5"),
    (["trace", "x * (y", "--at", "x=1", "--at", "y=2"], "missing ')' opened at column 5"),
    (["trace", "foo(x)", "--at", "x=1"], "unknown function 'foo' at column 1"),
    (["trace", "exq(x)", "--at", "x=1"], "did you mean 'exp'"),
    (["trace", "x * y", "--at", "x=1"], "no value for 'y': pass --at y=VALUE"),
    (["trace", "x * y", "--at", "x=1", "--at", "y=2", "--at", "z=3"], "no input named 'z'"),
    (["trace", "x", "--at", "x=1", "--at", "x=2"], "given twice"),
    (["trace", "x", "--at", "x=abc"], "VALUE must be a finite number"),
    (["trace", "x", "--at", "x"], "--at expects NAME=VALUE"),
    (["trace", "x", "--at", "x=1", "--seed", "y=1"], "--seed y=...: the expression has no input"),
    (["trace", "2 + 3"], "no inputs"),
    (["trace", "sin(x, x)", "--at", "x=1"], "takes 1 argument"),
]


@pytest.mark.parametrize("argv, message", MISTAKES, ids=[m for _, m in MISTAKES])
def test_mistakes_exit_non_zero_with_one_line_that_points_at_them(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 1 and out == ""
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_missing_expression_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "trace")
    assert code == 2 and "EXPR" in err


def test_values_outside_the_domain_are_shown_with_a_warning(capsys):
    code, out, err = run_cli(capsys, "trace", "log(x) + sqrt(x)", "--at", "x=-1", "--json")
    assert code == 0
    assert last_json(out)["output"] == "nan"
    assert "warning" in err and "Traceback" not in err and "RuntimeWarning" not in err


def test_module_entry_point_runs_the_course_example():
    done = run_module("trace", COURSE, "--at", "x1=1.5", "--at", "x2=0.5", "--json")
    assert done.returncode == 0, done.stderr
    assert_allclose(json.loads(done.stdout.strip().splitlines()[-1])["gradient"]["x2"],
                    3.7979174630286394, rtol=1e-14)
