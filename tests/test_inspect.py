"""cr.inspect: evaluation traces (Wengert lists) and drawings of the computational graph."""

from __future__ import annotations

import doctest
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp
from chainrule.core import backward
from chainrule.inspect import _format
from chainrule.inspect import draw as draw_function
from chainrule.inspect.draw import GraphvizMissing

ROOT = Path(__file__).resolve().parents[1]
HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")

# ---------------------------------------------------------------------------
# The course's evaluation trace of f(x1, x2) = x1 x2 + exp(x1 x2) - sin(x2),
# written the way its table evaluates it, at (1.5, 0.5).
# ---------------------------------------------------------------------------
X1, X2 = 1.5, 0.5


def course_f(x1, x2):
    v3 = x1 * x2
    v4 = cnp.sin(x2)
    v5 = cnp.exp(v3)
    v6 = v3 - v4
    return v5 + v6


def hand_table(x1, x2, seed):
    """Primals, tangents (along ``seed``) and adjoints, by the course's recurrences."""
    v = {1: x1, 2: x2}
    v[3] = v[1] * v[2]
    v[4] = math.sin(v[2])
    v[5] = math.exp(v[3])
    v[6] = v[3] - v[4]
    v[7] = v[5] + v[6]
    d = {1: seed[0], 2: seed[1]}
    d[3] = v[1] * d[2] + d[1] * v[2]
    d[4] = d[2] * math.cos(v[2])
    d[5] = d[3] * math.exp(v[3])
    d[6] = d[3] - d[4]
    d[7] = d[5] + d[6]
    a = {7: 1.0}
    a[6] = a[7]
    a[5] = a[7]
    a[4] = -a[6]
    a[3] = a[5] * v[5] + a[6]
    a[2] = a[3] * v[1] + a[4] * math.cos(v[2])
    a[1] = a[3] * v[2]
    return v, d, a


@pytest.fixture(scope="module")
def course_trace():
    return cr.inspect.trace(course_f, X1, X2)


def test_course_trace_has_the_seven_rows_of_the_table(course_trace):
    ops = [(row["name"], row["op"], row["inputs"]) for row in course_trace.rows]
    assert ops == [
        ("v1", "input", []),
        ("v2", "input", []),
        ("v3", "multiply", ["v1", "v2"]),
        ("v4", "sin", ["v2"]),
        ("v5", "exp", ["v3"]),
        ("v6", "subtract", ["v3", "v4"]),
        ("v7", "add", ["v5", "v6"]),
    ]
    assert [row["label"] for row in course_trace.rows[:2]] == ["x1", "x2"]
    assert course_trace.output_name == "v7"


def test_course_trace_primals_tangents_and_adjoints_equal_the_hand_values(course_trace):
    v, d1, a = hand_table(X1, X2, (1.0, 0.0))
    _, d2, _ = hand_table(X1, X2, (0.0, 1.0))
    assert course_trace.directions == ["x1", "x2"]
    for k, row in enumerate(course_trace.rows, start=1):
        assert_allclose(row["primal"], v[k], rtol=1e-14, err_msg=row["name"])
        assert_allclose(row["tangent"]["x1"], d1[k], rtol=1e-14, atol=0, err_msg=row["name"])
        assert_allclose(row["tangent"]["x2"], d2[k], rtol=1e-14, atol=0, err_msg=row["name"])
        assert_allclose(row["adjoint"], a[k], rtol=1e-14, err_msg=row["name"])
    # The closed forms: x2 + x2 e^(x1 x2) and x1 + x1 e^(x1 x2) - cos x2.
    e = math.exp(X1 * X2)
    assert_allclose(course_trace.gradient, (X2 + X2 * e, X1 + X1 * e - math.cos(X2)), rtol=1e-14)


def test_a_seed_direction_gives_one_tangent_column_along_it(course_trace):
    seeded = cr.inspect.trace(course_f, X1, X2, seed=(2.0, -3.0))
    _, d, _ = hand_table(X1, X2, (2.0, -3.0))
    assert seeded.directions == ["seed"]
    for k, row in enumerate(seeded.rows, start=1):
        assert_allclose(row["tangent"]["seed"], d[k], rtol=1e-13, atol=1e-15)
    by_name = cr.inspect.trace(course_f, X1, X2, seed={"x2": 1.0})
    assert by_name["v7"]["tangent"]["seed"] == course_trace["v7"]["tangent"]["x2"]


def test_trace_numbers_are_the_engines_own(course_trace):
    g1, g2 = cr.grad(course_f, argnums=(0, 1))(X1, X2)
    assert course_trace.gradient == (float(g1), float(g2))
    _, t1 = cr.jvp(course_f, (X1, X2), (1.0, 0.0))
    _, t2 = cr.jvp(course_f, (X1, X2), (0.0, 1.0))
    assert course_trace["v7"]["tangent"] == {"x1": float(t1), "x2": float(t2)}
    assert course_trace.output == float(course_f(X1, X2))


def test_the_adjoint_observer_is_removed_after_a_trace(course_trace):
    assert backward._observers == []
    cr.inspect.trace(course_f, X1, X2)
    assert backward._observers == []


def test_table_prints_aligned_with_primal_tangent_and_adjoint_columns(course_trace):
    text = str(course_trace)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("var"))
    for column in ("operation", "primal v", "tangent ∂v/∂x1", "tangent ∂v/∂x2", "adjoint ∂v7/∂v"):
        assert column in header
    body = [line for line in lines if re.match(r"v\d+ ", line)]
    assert [line.split()[0] for line in body] == [f"v{k}" for k in range(1, 8)]
    assert "v1 * v2" in text and "sin(v2)" in text and "v5 + v6" in text
    starts = {_format.width(line[: line.index(value)]) for line, value in
              zip(body, ["1.5 ", "0.5 ", "0.75 ", "0.479426", "2.117", "0.270574", "2.38757"])}
    assert len(starts) == 1  # the primal column is aligned
    assert "gradient: ∂f/∂x1 = 1.5585, ∂f/∂x2 = 3.79792" in text


def test_rows_convert_to_dicts_and_json(course_trace):
    rows = course_trace.to_dicts()
    assert rows[2]["operation"] == "v1 * v2" and rows[2]["shape"] == ()
    rows[2]["tangent"]["x1"] = 99.0
    assert course_trace["v3"]["tangent"]["x1"] == 0.5  # a copy
    text = json.dumps(course_trace.to_dicts(jsonable=True), allow_nan=False)
    assert json.loads(text)[6]["adjoint"] == 1.0


def test_html_table_for_jupyter_escapes_and_lists_every_row(course_trace):
    page = course_trace._repr_html_()
    assert page.count("<tr") == 8 and "<table>" in page
    odd = cr.inspect.trace(lambda x: cr.inspect.label(x * 2.0, "<b>&"), 1.0)
    assert "&lt;b&gt;&amp;" in odd._repr_html_()


def test_non_finite_values_show_and_become_strings_in_json():
    with np.errstate(all="ignore"):
        t = cr.inspect.trace(lambda x: cnp.log(x), 0.0)
    assert t.output == -math.inf
    assert "-inf" in str(t)
    assert t.to_dicts(jsonable=True)[1]["primal"] == "-inf"


# --- arrays, trees, tensors ------------------------------------------------------------


def test_array_arguments_give_one_row_each_and_the_gradient_of_cr_grad():
    rng = np.random.default_rng(0)
    W, x = rng.standard_normal((3, 2)), rng.standard_normal(2)

    def f(W, x):
        return cnp.sum(cnp.tanh(W @ x) ** 2)

    t = cr.inspect.trace(f, W, x)
    assert [row["op"] for row in t.rows] == ["input", "input", "matmul", "tanh", "power", "sum"]
    assert t["v1"]["shape"] == (3, 2) and t["v3"]["shape"] == (3,)
    assert t.directions == []  # no scalar input: no default tangent column
    gW, gx = cr.grad(f, argnums=(0, 1))(W, x)
    assert_allclose(t.gradient[0], gW, rtol=0, atol=0)
    assert_allclose(t.gradient[1], gx, rtol=0, atol=0)
    assert "(3, 2) mean" in str(t)  # arrays show shape and a summary
    seeded = cr.inspect.trace(f, W, x, seed=(np.zeros((3, 2)), np.ones(2)))
    _, tangent = cr.jvp(f, (W, x), (np.zeros((3, 2)), np.ones(2)))
    assert_allclose(seeded.rows[-1]["tangent"]["seed"], tangent, rtol=1e-15)


def test_tree_arguments_give_one_row_per_leaf():
    params = {"w": np.array([1.0, 2.0]), "b": 0.5}
    t = cr.inspect.trace(lambda p, x: cnp.sum(p["w"] * x) + p["b"], params, 3.0)
    assert [row["label"] for row in t.rows if row["op"] == "input"] == ["p['w']", "p['b']", "x"]
    assert t.directions == ["p['b']", "x"]
    assert_allclose(t.gradient[0]["w"], [3.0, 3.0])
    assert t.gradient[0]["b"] == 1.0 and t.gradient[1] == 3.0


def test_imperative_tensors_can_be_traced_and_keep_their_grad():
    x = cr.tensor(2.0, requires_grad=True)
    t = cr.inspect.trace(lambda x: x * x * x, x)
    assert t.gradient == 12.0 and x.grad is None


def test_constants_are_shown_and_dead_code_is_not_a_row():
    def f(x):
        unused = cnp.cos(x)  # noqa: F841  (does not reach the output)
        return 3.0 * x ** 2

    t = cr.inspect.trace(f, 2.0)
    assert [row["operation"] for row in t.rows] == ["input x", "v1 ** 2", "3 * v2"]
    assert t.gradient == 12.0


def test_non_scalar_output_has_adjoints_only_with_a_cotangent():
    f = lambda x: x * cnp.array([1.0, 2.0])
    t = cr.inspect.trace(f, 3.0)
    assert not t.has_adjoints and t.gradient is None and "adjoint ∂" not in str(t)
    t = cr.inspect.trace(f, 3.0, cotangent=np.array([1.0, 10.0]))
    assert t.gradient == 21.0


def test_a_function_that_changes_between_runs_is_refused():
    calls = []

    def f(x):
        calls.append(1)
        return cnp.sin(x) if len(calls) % 2 else cnp.cos(x)

    with pytest.raises(RuntimeError, match="different operations"):
        cr.inspect.trace(f, 1.0)


def test_tuple_outputs_are_refused_clearly():
    with pytest.raises(TypeError, match="one array or number"):
        cr.inspect.trace(lambda x: (x, x * 2), 1.0)


# --- scopes and labels ----------------------------------------------------------------------


def test_scopes_and_labels_mark_rows():
    def f(x, y):
        with cr.inspect.scope("outer"):
            with cr.inspect.scope("inner"):
                a = cr.inspect.label(x * y, "a")
            b = cnp.exp(a)
        return b - y

    t = cr.inspect.trace(f, 1.0, 2.0)
    assert [(row["scope"], row["label"]) for row in t.rows[2:]] == [
        ("outer/inner", "a"), ("outer", ""), ("", "")]
    assert t["a"]["name"] == "v3"
    assert "outer/inner" in str(t)


def test_scope_of_an_imperative_tensor():
    x = cr.tensor(1.0, requires_grad=True)
    with cr.inspect.scope("layer1"):
        y = x * 2
    z = y + 1
    assert cr.inspect.scope_of(y) == "layer1" and cr.inspect.scope_of(z) == ""
    with pytest.raises(ValueError):
        cr.inspect.scope("a/b")


# --- drawings -----------------------------------------------------------------------------


def test_dot_source_contains_every_operation_and_value(course_trace):
    source = cr.inspect.draw(course_trace).source
    for row in course_trace.rows[2:]:
        assert f"({row['op']})" in source  # the tooltip names the operation
        assert f"n{row['name'][1:]} [" in source
    assert source.count("->") == 9  # 8 edges of the graph, and one to the output
    assert "2.388" in source and "3.117" in source  # values and adjoints on edges
    assert source.startswith("digraph computation {") and source.rstrip().endswith("}")


@needs_dot
def test_dot_source_parses_with_graphviz(course_trace, tmp_path):
    path = tmp_path / "trace.dot"
    path.write_text(course_trace.draw().source)
    done = subprocess.run(["dot", "-Tsvg", str(path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout and "sin" in done.stdout


@needs_dot
def test_render_writes_png_and_svg(course_trace, tmp_path):
    drawing = course_trace.draw()
    png = drawing.render(tmp_path / "f.png")
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = drawing.render(tmp_path / "f.svg")
    assert "<svg" in Path(svg).read_text()
    assert "<svg" in drawing._repr_svg_()
    assert drawing.render(tmp_path / "f.dot") and (tmp_path / "f.dot").read_text() == drawing.source


@needs_dot
def test_rendering_works_with_dot_alone_without_the_python_package(course_trace, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    assert course_trace.draw().pipe("svg").lstrip().startswith(b"<?xml")


def test_rendering_without_graphviz_says_what_to_install(course_trace, monkeypatch):
    monkeypatch.setenv("PATH", "")
    monkeypatch.setitem(sys.modules, "graphviz", None)  # the package missing too
    drawing = course_trace.draw()
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        drawing.pipe("svg")
    assert drawing._repr_svg_() is None
    assert "digraph" in drawing.source


def mlp_loss(W0, b0, W1, b1, X, y):
    with cr.inspect.scope("hidden"):
        z = cr.sigmoid(X @ W0 + b0)
    with cr.inspect.scope("output"):
        out = z @ W1 + b1
    return cnp.mean((out - y) ** 2)


def mlp_args():
    rng = np.random.default_rng(1)
    return (rng.standard_normal((2, 4)), np.zeros(4), rng.standard_normal((4, 1)), np.zeros(1),
            rng.standard_normal((8, 2)), rng.standard_normal((8, 1)))


def test_scopes_collapse_into_one_node_each_unless_expanded():
    t = cr.inspect.trace(mlp_loss, *mlp_args())
    collapsed = cr.inspect.draw(t, expand=False).source
    assert collapsed.count("box3d") == 2 and "3 ops: matmul, add, sigmoid" in collapsed
    assert "cluster" not in collapsed
    expanded = cr.inspect.draw(t, expand=True).source
    assert "box3d" not in expanded and expanded.count("subgraph cluster") == 2
    small = cr.inspect.draw(t).source  # few operations: expanded by default
    assert "box3d" not in small
    big = cr.inspect.draw(t, max_nodes=3).source
    assert big.count("box3d") == 2


def test_big_graphs_collapse_by_default():
    def deep(x):
        for k in range(20):
            with cr.inspect.scope(f"block{k}"):
                x = cnp.tanh(x * 1.1 + 0.1)
        return cnp.sum(x)

    source = cr.inspect.draw(cr.inspect.trace(deep, np.ones(3))).source
    assert source.count("box3d") == 20
    assert source.count("shape=ellipse") == 1  # only the final sum stays an operation


@needs_dot
def test_collapsed_and_expanded_drawings_render(tmp_path):
    t = cr.inspect.trace(mlp_loss, *mlp_args())
    for expand in (False, True):
        assert t.draw(expand=expand).pipe("svg").startswith(b"<?xml")


def test_drawing_an_imperative_tensor_leaves_grad_and_graph_alone():
    x = cr.tensor(2.0, requires_grad=True)
    w = cr.tensor([1.0, -1.0], requires_grad=True)
    y = (cnp.tanh(x * w) ** 2).sum()
    source = cr.inspect.draw(y, names={x: "x", w: "w"}).source
    assert x.grad is None and w.grad is None
    assert "<b>x</b>" in source and "<b>w</b>" in source and "(tanh)" in source
    expected = float(cr.grad(lambda x: cnp.sum(cnp.tanh(x * np.array([1.0, -1.0])) ** 2))(2.0))
    assert _format.short(expected) in source  # x's gradient on its edge
    y.backward()  # the graph was kept: backward still works
    assert_allclose(float(x.grad), expected, rtol=1e-14)
    with pytest.raises(RuntimeError, match="freed by backward"):
        cr.inspect.draw(y)


def test_draw_refuses_other_objects():
    with pytest.raises(TypeError, match="Tensor or a Trace"):
        draw_function(lambda x: x)


# --- the docstrings' examples and the gallery ------------------------------------------


@pytest.mark.parametrize("module", ["chainrule.inspect.trace", "chainrule.inspect.draw",
                                    "chainrule.inspect.scope"])
def test_docstring_examples_run(module):
    import importlib
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_gallery_examples_run(path, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip()
