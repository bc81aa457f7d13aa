"""The computational graph as a Graphviz drawing.

Inputs are boxes, operations are ovals, and every edge carries the value
flowing along it: the primal on top (green) and, where known, the gradient of
the output with respect to it below (red), as on a whiteboard. Big values
show their shape instead. The DOT text needs nothing installed; SVG and PNG
need Graphviz's ``dot`` program (and use the ``graphviz`` Python package when
it is installed).

Big graphs stay readable: operations made inside a :class:`~chainrule.inspect.scope`
(``with cr.inspect.scope("layer1"): ...``) are collapsed into one node per
top-level scope when there are more than ``max_nodes`` operations, or always
with ``expand=False``; ``expand=True`` shows every operation, boxed by scope.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from chainrule.core.backward import backprop, observe_adjoints
from chainrule.core.modes import no_grad
from chainrule.core.tensor import Tensor
from chainrule.inspect import _format
from chainrule.inspect._graph import INFIX, Rows, _index_text, walk

SYMBOLS = {"add": "+", "subtract": "−", "multiply": "×", "divide": "÷", "power": "^",
           "negative": "−", "matmul": "@", "sigmoid": "σ"}
VALUE_COLOR, GRAD_COLOR, QUIET_COLOR = "#1b7a34", "#c0392b", "#777777"
FORMATS = ("svg", "png", "pdf")


class GraphvizMissing(RuntimeError):
    """Rendering needs Graphviz's ``dot`` program, and it is not installed."""


class Drawing:
    """A drawing of a computational graph: ``.source`` is the DOT text.

    ``render(path)`` writes SVG, PNG or PDF (by the file's suffix) with
    Graphviz; in Jupyter the drawing shows inline as SVG.
    """

    def __init__(self, source: str, nodes: int) -> None:
        self.source = source
        self.nodes = nodes

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        return f"<Drawing: {self.nodes} nodes; .source is the DOT text, .render(path) draws it>"

    def pipe(self, format: str = "svg", dpi: int | None = None) -> bytes:
        """The drawing rendered by Graphviz, as bytes (``format``: svg, png or pdf)."""
        if format not in FORMATS:
            raise ValueError(f"draw: format must be one of {FORMATS}, got {format!r}")
        source = self.source
        if dpi is not None:
            source = source.replace("graph [", f"graph [dpi={int(dpi)}, ", 1)
        try:
            import graphviz
        except ImportError:
            graphviz = None
        if graphviz is not None:
            try:
                return graphviz.Source(source).pipe(format=format)
            except graphviz.ExecutableNotFound:
                raise GraphvizMissing(_MISSING) from None
        dot = shutil.which("dot")
        if dot is None:
            raise GraphvizMissing(_MISSING)
        done = subprocess.run([dot, f"-T{format}"], input=source.encode(),
                              capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"draw: dot failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout

    def render(self, path: str | os.PathLike, format: str | None = None,
               dpi: int | None = None) -> str:
        """Write the drawing to ``path`` (SVG, PNG or PDF by suffix; ``.dot``/``.gv``: the text).

        ``dpi`` sets a PNG's resolution (Graphviz's default is 96). The file is
        written whole or not at all (a temporary file, then a rename).
        """
        path = os.fspath(path)
        suffix = os.path.splitext(path)[1].lower().lstrip(".")
        format = format or (suffix if suffix else "svg")
        data = self.source.encode() if format in ("dot", "gv") else self.pipe(format, dpi)
        write_atomically(path, data)
        return path

    def _repr_svg_(self) -> str | None:
        try:
            return self.pipe("svg").decode()
        except (GraphvizMissing, RuntimeError):
            return None


_MISSING = ("draw: rendering needs Graphviz's `dot` program, which is not installed "
            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz; "
            "conda: conda install graphviz); the DOT text is in .source without it")


def can_render() -> bool:
    """Is Graphviz's ``dot`` program installed (so that SVG and PNG can be made)?"""
    return shutil.which("dot") is not None


def write_atomically(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".draw-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as open() would make it, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def draw(tensor_or_trace: Any, *, expand: bool | None = None, max_nodes: int = 30,
         names: Mapping[Any, str] | None = None, values: bool = True,
         title: str | None = None, rankdir: str = "LR") -> Drawing:
    """The computational graph behind a tensor, or of a :class:`~chainrule.inspect.Trace`.

    * a Trace (``cr.inspect.trace(f, ...)``): every row, with its value and
      its adjoint (the gradient of the output) on the edges;
    * a tensor from the imperative API (``y = ...; draw(y)``): the recorded
      graph behind it, with leaves that require grad as inputs. For a scalar,
      the gradients on the edges come from a reverse pass of the engine's
      own that neither touches ``.grad`` nor frees the graph. Draw before
      ``backward()`` (which frees the graph) or use ``backward(retain_graph=True)``.

    ``names`` maps input tensors to names; ``values=False`` leaves values off
    the edges; ``expand`` and ``max_nodes`` decide whether scopes collapse.

    >>> import chainrule as cr
    >>> x = cr.tensor(2.0, requires_grad=True)
    >>> d = cr.inspect.draw(x * x + 1.0, names={x: "x"})
    >>> "multiply" in d.source and "add" in d.source
    True
    """
    from chainrule.inspect.trace import Trace

    if isinstance(tensor_or_trace, Trace):
        rows, output_index = tensor_or_trace._rows, tensor_or_trace.rows.index(
            tensor_or_trace[tensor_or_trace.output_name]) if tensor_or_trace.output_name else None
        title = tensor_or_trace.title if title is None else title
    elif isinstance(tensor_or_trace, Tensor):
        rows, output_index = _rows_of_tensor(tensor_or_trace, names or {}, values)
    else:
        raise TypeError(f"draw: expected a Tensor or a Trace (from cr.inspect.trace), got "
                        f"{type(tensor_or_trace).__name__}; to draw a function, draw "
                        f"cr.inspect.trace(f, *args)")
    return _Dot(rows, output_index, expand, max_nodes, values, title, rankdir).drawing()


def _rows_of_tensor(t: Tensor, names: Mapping[Any, str],
                    gradients: bool) -> tuple[Rows, int | None]:
    level = t._level
    leaves, nodes = walk([t], level)
    by_id = {id(key): str(value) for key, value in names.items()}
    inputs = [(leaf, by_id.get(id(leaf), ""), True) for leaf in leaves
              if leaf.requires_grad or level > 0]
    rows = Rows(inputs, nodes, level)
    output_index = rows.index_of(t)
    if gradients and level == 0 and t.size == 1 and output_index is not None:
        _tape_adjoints(t, rows)
    return rows, output_index


def _tape_adjoints(t: Tensor, rows: Rows) -> None:
    """Every row's ∂t/∂v, by the engine's reverse pass, leaving ``.grad`` and the graph alone."""
    adjoints: dict[int, Any] = {}

    def record(node: Any, g: Any) -> None:
        adjoints[id(node)] = g

    seed = np.ones(t.shape, dtype=t.dtype if np.dtype(t.dtype).kind in "fc" else np.float64)
    with observe_adjoints(record), no_grad():  # no_grad: the pass itself is not recorded
        leaf_grads = backprop([(t, seed)], 0, keep_tensors=False, retain=True)
    for key, index in rows.index_of_node.items():
        rows.rows[index]["adjoint"] = _format.plain(adjoints.get(key, np.zeros(rows.rows[index]["shape"])))
    for key, index in rows.index_of_leaf.items():
        g = leaf_grads[key][1] if key in leaf_grads else np.zeros(rows.rows[index]["shape"])
        rows.rows[index]["adjoint"] = _format.plain(g)


class _Dot:
    """Writes the DOT text for rows (collapsing scopes when asked or when big)."""

    def __init__(self, rows: Rows, output_index: int | None, expand: bool | None,
                 max_nodes: int, values: bool, title: str | None, rankdir: str) -> None:
        self.rows, self.parents = rows.rows, rows.parents
        self.output_index = output_index
        self.values = values
        self.title = title
        self.rankdir = rankdir
        operations = [row for row in self.rows if row["op"] not in ("input", "constant")]
        has_scopes = any(row["scope"] for row in operations)
        if expand is None:
            self.collapse = has_scopes and len(operations) > max_nodes
        else:
            self.collapse = has_scopes and not expand
        self.lines: list[str] = []
        self.count = 0
        self.group_ids: dict[str, int] = {}
        self.clusters = 0

    # --- which drawn node stands for a row --------------------------------------------
    def group_of(self, index: int) -> str | None:
        row = self.rows[index]
        if not self.collapse or not row["scope"] or row["op"] in ("input", "constant"):
            return None
        return row["scope"].split("/")[0]

    def node_id(self, index: int) -> str:
        group = self.group_of(index)
        return self.group_id(group) if group is not None else f"n{index + 1}"

    def group_id(self, group: str) -> str:
        return f"group{self.group_ids.setdefault(group, len(self.group_ids) + 1)}"

    # --- the text ---------------------------------------------------------------------------
    def drawing(self) -> Drawing:
        out = self.lines
        out.append("digraph computation {")
        out.append(f"  graph [rankdir={self.rankdir}, fontname=\"Helvetica\", fontsize=11, "
                   f"nodesep=0.3, ranksep=0.45{self._graph_label()}];")
        out.append("  node [fontname=\"Helvetica\", fontsize=11];")
        out.append("  edge [fontname=\"Helvetica\", fontsize=9, arrowsize=0.7];")
        self.emit_nodes()
        self.emit_edges()
        out.append("}")
        return Drawing("\n".join(out) + "\n", self.count)

    def _graph_label(self) -> str:
        parts = []
        if self.title:
            parts.append(html.escape(self.title))
        if self.values and any(row["adjoint"] is not None for row in self.rows):
            parts.append(f'<font color="{VALUE_COLOR}">value</font> and '
                         f'<font color="{GRAD_COLOR}">gradient of the output</font> on each edge')
        if not parts:
            return ""
        return ", labelloc=t, label=<" + "<br/>".join(parts) + ">"

    def emit_nodes(self) -> None:
        groups: dict[str, list[int]] = {}
        tree: dict = {}
        for index, row in enumerate(self.rows):
            group = self.group_of(index)
            if group is not None:
                groups.setdefault(group, []).append(index)
            elif row["scope"] and self.rows[index]["op"] not in ("input", "constant"):
                place = tree
                for part in row["scope"].split("/"):
                    place = place.setdefault(part, {})
                place.setdefault("", []).append(index)
            else:
                tree.setdefault("", []).append(index)
        self.emit_tree(tree, "  ", ())
        for group, members in groups.items():
            self.emit_group(group, members)
        if self.output_index is not None:
            self.count += 1
            row = self.rows[self.output_index]
            self.lines.append(f'  output [shape=box, style="rounded,bold", '
                              f'label=<<b>output</b><br/><font point-size="9">{row["name"]}'
                              f'</font>>];')

    def emit_tree(self, tree: dict, indent: str, path: tuple) -> None:
        for index in tree.get("", []):
            self.emit_row(index, indent)
        for name, subtree in tree.items():
            if name == "":
                continue
            inner = path + (name,)
            self.clusters += 1
            self.lines.append(f'{indent}subgraph cluster{self.clusters} {{')
            self.lines.append(f'{indent}  label="{_quote(name)}"; style="rounded,dashed"; '
                              f'color="{QUIET_COLOR}"; fontcolor="{QUIET_COLOR}";')
            self.emit_tree(subtree, indent + "  ", inner)
            self.lines.append(f"{indent}}}")

    def emit_row(self, index: int, indent: str) -> None:
        row = self.rows[index]
        self.count += 1
        name = row["name"]
        small = f'<font point-size="9" color="{QUIET_COLOR}">{_html(_detail(row))}</font>'
        if row["op"] in ("input", "constant"):
            title = _html(row["label"] or name)
            if not row["label"]:  # the name is the title already: the shape is the detail
                shape = _format.shape_text(row["shape"]) if row["shape"] else "scalar"
                small = f'<font point-size="9" color="{QUIET_COLOR}">{shape}</font>'
            self.lines.append(f'{indent}n{index + 1} [shape=box, style="rounded,filled", '
                              f'fillcolor="#e8f0fb", label=<<b>{title}</b><br/>{small}>];')
            return
        symbol = _html(_operation_label(row["op"], self.parents[index]))
        if row["op"] == "getitem" and set(row["params"]) == {"index"}:
            symbol = _html("·[" + _index_text(row["params"]["index"]) + "]")
        params = "" if row["op"] == "getitem" else "".join(f'<br/><font point-size="9">{_html(key)}={_html(_short_param(v))}'
                         f"</font>" for key, v in row["params"].items()
                         if v is not None and v is not False)
        if row["label"]:
            small = (f'<font point-size="9" color="{QUIET_COLOR}">{_html(_detail(row))} '
                     f'<b>{_html(row["label"])}</b></font>')
        tooltip = _quote(f"{name} = {row['operation']}  ({row['op']})")
        self.lines.append(f'{indent}n{index + 1} [shape=ellipse, style=filled, '
                          f'fillcolor="#fdf3e1", tooltip="{tooltip}", '
                          f'label=<<b>{symbol}</b>{params}<br/>{small}>];')

    def emit_group(self, group: str, members: list[int]) -> None:
        self.count += 1
        ops: list[str] = []
        for index in members:
            if self.rows[index]["op"] not in ops:
                ops.append(self.rows[index]["op"])
        listed = ", ".join(ops[:5]) + (", ..." if len(ops) > 5 else "")
        last = self.rows[members[-1]]
        shape = f' {_format.shape_text(last["shape"])}' if last["shape"] else ""
        count = f"{len(members)} op" + ("s" if len(members) > 1 else "")
        tooltip = _quote("; ".join(f"{self.rows[i]['name']} = {self.rows[i]['operation']}"
                                   for i in members)[:2000])
        self.lines.append(
            f'  {self.group_id(group)} [shape=box3d, tooltip="{tooltip}", style=filled, fillcolor="#eeeeee", '
            f'label=<<b>{_html(group)}</b><br/><font point-size="9">{count}: '
            f'{_html(listed)}<br/>out: {_html(last["name"])}{_html(shape)}</font>>];')

    def emit_edges(self) -> None:
        drawn: set[tuple[str, str]] = set()
        for index, parents in enumerate(self.parents):
            target = self.node_id(index)
            for kind, ref in parents:
                if kind == "row":
                    source = self.node_id(ref)
                    if source == target or (source, target) in drawn:
                        continue
                    drawn.add((source, target))
                    self.lines.append(f"  {source} -> {target}{self.edge_label(ref)};")
        if self.output_index is not None:
            self.lines.append(f"  {self.node_id(self.output_index)} -> output"
                              f"{self.edge_label(self.output_index)};")

    def edge_label(self, index: int) -> str:
        if not self.values:
            return ""
        row = self.rows[index]
        value = row["primal"]
        if _format.as_array(value).size > _format.SMALL:
            return f' [label=<<font color="{QUIET_COLOR}">{_html(_format.short(value))}</font>>]'
        parts = [f'<font color="{VALUE_COLOR}">{_html(_format.short(value))}</font>']
        if row["adjoint"] is not None:
            parts.append(f'<font color="{GRAD_COLOR}">{_html(_format.short(row["adjoint"]))}</font>')
        return " [label=<" + "<br/>".join(parts) + ">]"


def _operation_label(op: str, parents: list) -> str:
    """The operation's symbol; constants it takes are written in place (``· ^ 2``, ``6 × ·``)."""
    symbol = SYMBOLS.get(op, op)
    if all(kind == "row" for kind, _ in parents):
        return symbol
    texts = ["·" if kind == "row" else _format.short(value) for kind, value in parents]
    if op in INFIX and len(texts) == 2:
        return f"{texts[0]} {symbol} {texts[1]}"
    return f"{symbol}({', '.join(texts)})"


def _detail(row: dict) -> str:
    shape = row["shape"]
    return f"{row['name']} {_format.shape_text(shape)}" if shape else row["name"]


def _short_param(value: Any) -> str:
    text = _format.short(value) if hasattr(value, "shape") else repr(value)
    return text if len(text) <= 20 else text[:17] + "..."


def _html(text: str) -> str:
    return html.escape(str(text), quote=True)


def _quote(text: str) -> str:
    return str(text).replace("\\", "\\\\").replace('"', '\\"')
