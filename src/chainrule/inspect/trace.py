"""The evaluation trace (Wengert list) of one call, with primals, tangents and adjoints.

How the numbers are obtained, so that the table shows what the engine really
computes and not a re-derivation:

* **Rows and primals.** ``f`` runs once with its inputs traced in reverse mode;
  the recorded nodes, in creation order, are the rows v_{k+1}, v_{k+2}, ...
  after the k inputs; a node's recorded output is the row's primal.
* **Adjoints.** The engine's own reverse pass runs over those nodes from the
  output (seed 1 for a scalar output) while
  :func:`chainrule.core.backward.observe_adjoints` reports each node's
  complete adjoint v̄ as the pass reaches it; the inputs' adjoints are the
  gradient the pass returns.
* **Tangents.** For each tangent column ``f`` runs again, its inputs traced in
  forward mode (carrying the seed tangent) *beneath* a reverse-mode trace
  that only records: each recorded node's output is then a forward-mode value
  holding the tangent v̇ the engine's JVP rules computed for it. The rows of
  the runs are matched by creation order (and checked to be the same
  operations).

Operations whose results do not reach the output are not rows, and nor are
operations on constants only (their results are constants in the table).
"""

from __future__ import annotations

import html
import inspect as _pyinspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from chainrule.core.backward import backprop, observe_adjoints
from chainrule.core.modes import no_grad
from chainrule.core.tensor import Tensor
from chainrule.core.trace import FORWARD, REVERSE, new_trace
from chainrule.inspect import _format
from chainrule.inspect._graph import Rows, walk
from chainrule.transforms import _promote, tree_flatten, tree_unflatten


class Trace:
    """The evaluation trace of one call: rows v1, v2, ... (see :func:`trace`).

    Attributes: ``rows`` (a list of dicts), ``output`` (the primal output),
    ``gradient`` (d output / d arguments, shaped like the arguments; ``None``
    without adjoints), ``directions`` (the names of the tangent columns),
    ``output_name`` (the row of the output), ``input_names``.
    """

    def __init__(self, rows: Rows, output: Any, output_index: int | None,
                 gradient: Any, directions: list[str], input_names: list[str],
                 title: str, has_adjoints: bool) -> None:
        self._rows = rows
        self.rows: list[dict] = rows.rows
        self.output = output
        self.output_name = None if output_index is None else self.rows[output_index]["name"]
        self.gradient = gradient
        self.directions = directions
        self.input_names = input_names
        self.title = title
        self.has_adjoints = has_adjoints

    # --- access ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> dict:
        """A row by position or by name (``t["v3"]``) or label (``t["z1"]``)."""
        if isinstance(key, str):
            for row in self.rows:
                if key in (row["name"], row["label"]):
                    return row
            raise KeyError(f"no row named {key!r}; rows are v1..v{len(self.rows)}")
        return self.rows[key]

    def to_dicts(self, jsonable: bool = False) -> list[dict]:
        """The rows as a list of new dicts; ``jsonable=True`` makes arrays lists and
        non-finite numbers the strings ``"inf"``, ``"-inf"``, ``"nan"``."""
        rows = [dict(row, tangent=dict(row["tangent"]), inputs=list(row["inputs"]),
                     params=dict(row["params"])) for row in self.rows]
        if jsonable:
            for row in rows:
                row["params"] = {k: _param_json(v) for k, v in row["params"].items()}
                for key in ("primal", "tangent", "adjoint", "shape"):
                    row[key] = _format.jsonable(row[key])
        return rows

    def draw(self, **options: Any) -> Any:
        """The computational graph of this trace (see :func:`chainrule.inspect.draw`)."""
        from chainrule.inspect.draw import draw
        return draw(self, **options)

    # --- showing ---------------------------------------------------------------------------
    def columns(self) -> list[tuple[str, Callable[[dict], str]]]:
        """(header, cell) pairs of the table."""
        columns: list[tuple[str, Callable[[dict], str]]] = [
            ("var", lambda row: row["name"]),
            ("operation", lambda row: row["operation"]),
        ]
        if any(row["label"] and row["op"] != "input" for row in self.rows):
            columns.append(("label", lambda row: row["label"] if row["op"] != "input" else ""))
        if any(row["scope"] for row in self.rows):
            columns.append(("scope", lambda row: row["scope"]))
        columns.append(("primal v", lambda row: _format.summary(row["primal"])))
        for direction in self.directions:
            header = "tangent v̇" if direction == "seed" else f"tangent ∂v/∂{direction}"
            columns.append((header, lambda row, d=direction: _format.summary(row["tangent"][d])))
        if self.has_adjoints:
            what = "f" if self.output_name is None else self.output_name
            columns.append((f"adjoint ∂{what}/∂v", lambda row: _format.summary(row["adjoint"])))
        return columns

    def table(self) -> str:
        """The aligned text table (what ``print(trace)`` shows)."""
        columns = self.columns()
        cells = [[header for header, _ in columns]]
        cells += [[cell(row) for _, cell in columns] for row in self.rows]
        widths = [max(_format.width(line[k]) for line in cells) for k in range(len(columns))]
        lines = ["  ".join(_format.pad(text, w) for text, w in zip(line, widths)).rstrip()
                 for line in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def summary_lines(self) -> list[str]:
        """The title, output and gradient in words (printed under the table)."""
        where = self.output_name or "(a constant: it does not depend on the inputs)"
        lines = [f"output {where} = {_format.summary(self.output)}"]
        if self.has_adjoints and self.gradient is not None:
            inputs = [row for row in self.rows if row["op"] == "input"]
            parts = [f"∂f/∂{row['label']} = {_format.summary(row['adjoint'])}" for row in inputs]
            if len(parts) <= 3 and all(not row["shape"] for row in inputs):
                lines.append("gradient: " + ", ".join(parts))
            else:
                lines += ["gradient:", *(f"  {part}" for part in parts)]
        elif not self.has_adjoints:
            lines.append("no adjoints: the output is not a scalar; pass cotangent= to "
                         "choose the combination of its entries to differentiate")
        return lines

    def __str__(self) -> str:
        return "\n".join([self.title, "", self.table(), "", *self.summary_lines()])

    def __repr__(self) -> str:
        return (f"<Trace of {self.title}: {len(self.rows)} rows, output "
                f"{self.output_name} = {_format.summary(self.output)}>")

    def _repr_html_(self) -> str:
        columns = self.columns()
        head = "".join(f"<th>{html.escape(header)}</th>" for header, _ in columns)
        body = []
        for row in self.rows:
            style = ' style="font-weight:bold"' if row["name"] == self.output_name else ""
            cells = "".join(f"<td>{html.escape(cell(row))}</td>" for _, cell in columns)
            body.append(f"<tr{style}>{cells}</tr>")
        notes = "<br>".join(html.escape(line) for line in self.summary_lines())
        return (f"<div><p>{html.escape(self.title)}</p><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table><p>{notes}</p></div>")


def _param_json(value: Any) -> Any:
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, (int, float)) for v in value):
        return list(value)
    return repr(value)


# --- recording -----------------------------------------------------------------------------

class _Run:
    """``f`` run once on inputs boxed at a reverse level (above a forward level if tangents)."""

    def __init__(self, f: Callable, args: tuple, leaves: list[list], tangents: list | None):
        self.forward = new_trace(FORWARD) if tangents is not None else None
        self.reverse = new_trace(REVERSE)
        self.boxes: list[Tensor] = []
        boxed_args = []
        flat_tangents = iter(tangents or ())
        for arg_leaves, structure in leaves:
            boxed = []
            for x in arg_leaves:
                if self.forward is not None:
                    x = Tensor(x, self.forward, None, True, next(flat_tangents))
                box = Tensor(x, self.reverse, None, True)
                self.boxes.append(box)
                boxed.append(box)
            boxed_args.append(tree_unflatten(structure, boxed))
        out = f(*boxed_args)
        out_leaves = tree_flatten(out)[0]
        if len(out_leaves) != 1:
            raise TypeError(f"trace: the function must return one array or number, but it "
                            f"returned {len(out_leaves)} values; trace each output separately")
        self.out = out_leaves[0]
        _, self.nodes = walk([self.out], self.reverse.level)

    def value_of(self, x: Any) -> Any:
        """``x`` with the reverse (and forward) boxes taken off."""
        if isinstance(x, Tensor) and x._level == self.reverse.level:
            x = x._value
        if self.forward is not None and isinstance(x, Tensor) and x._level == self.forward.level:
            x = x._value
        return x

    def tangent_of(self, value_below_reverse: Any) -> Any:
        """The forward-mode tangent carried by a node's recorded output."""
        x = value_below_reverse
        if isinstance(x, Tensor) and x._level == self.forward.level:
            return _format.plain(x._tangent)
        return _format.plain(np.zeros(np.shape(_format.as_array(x))))


def _argument_names(f: Callable, n: int) -> list[str]:
    try:
        params = list(_pyinspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = names[:n]
    return names + [f"x{k + 1}" for k in range(len(names), n)]


def _leaf_names(arg_name: str, arg: Any, count: int) -> list[str]:
    if count == 1 and not isinstance(arg, (tuple, list, dict)):
        return [arg_name]
    return [f"{arg_name}{path}" for path in _tree_paths(tree_flatten(arg)[1])]


def _tree_paths(structure: Any, prefix: str = "") -> list[str]:
    if structure == "leaf":
        return [prefix]
    if structure is None:
        return []
    if structure[0] is dict:
        _, keys, children = structure
        return [p for key, child in zip(keys, children) for p in _tree_paths(child, f"{prefix}[{key!r}]")]
    _, children = structure
    return [p for k, child in enumerate(children) for p in _tree_paths(child, f"{prefix}[{k}]")]


def _directions(seed: Any, args: tuple, leaves: list, names: list[str],
                leaf_names: list[str]) -> list[tuple[str, list]]:
    """The tangent columns: (name, one tangent per input leaf)."""
    flat = [x for arg_leaves, _ in leaves for x in arg_leaves]
    zeros = [np.zeros(np.shape(x), dtype=x.dtype) for x in flat]
    if seed is None:
        columns = []
        for k, x in enumerate(flat):
            if np.ndim(x) == 0:
                tangents = list(zeros)
                tangents[k] = np.ones((), dtype=x.dtype)
                columns.append((leaf_names[k], tangents))
        return columns
    if isinstance(seed, dict):
        unknown = [key for key in seed if key not in names]
        if unknown:
            raise ValueError(f"trace: seed names {unknown} are not arguments of the function "
                             f"(its arguments are {names})")
        per_arg = [seed.get(name, None) for name in names]
    elif isinstance(seed, tuple) and len(seed) == len(args):
        per_arg = list(seed)
    elif len(args) == 1:
        per_arg = [seed]
    elif isinstance(seed, list) and len(seed) == len(args):
        per_arg = list(seed)
    else:
        raise ValueError(f"trace: seed must give one tangent per argument ({len(args)}), "
                         f"as a tuple or as a dict by argument name")
    tangents = []
    for (arg_leaves, structure), tangent in zip(leaves, per_arg):
        if tangent is None:
            tangents += [np.zeros(np.shape(x), dtype=x.dtype) for x in arg_leaves]
            continue
        t_leaves = tree_flatten(tangent)[0]
        if len(t_leaves) != len(arg_leaves):
            raise ValueError("trace: a seed must have the same structure as its argument")
        for x, t in zip(arg_leaves, t_leaves):
            t = np.asarray(_format.as_array(t), dtype=x.dtype)
            if t.shape != np.shape(x):
                t = np.broadcast_to(t, np.shape(x)).copy()
            tangents.append(t)
    return [("seed", tangents)]


def trace(f: Callable, *args: Any, seed: Any = None, cotangent: Any = None,
          names: Sequence[str] | None = None) -> Trace:
    """The evaluation trace of ``f(*args)``: every input and intermediate, in order.

    Rows are named ``v1, v2, ...``: first one per input (a number or an array;
    an argument that is a tuple, list or dict gives one row per entry), then one
    per operation in the order it was evaluated. Each row has its operation and
    inputs, its primal value, its tangents and its adjoint:

    * tangents (forward mode): by default one column per scalar input, seeding
      that input with 1 and the others with 0, so the column of input x is
      ∂v/∂x; with ``seed`` (a tangent per argument, as a tuple or a dict by
      argument name) one column along that direction.
    * adjoints (reverse mode): ∂f/∂v from the output, seeded with 1 for a
      scalar output (or with ``cotangent``).

    Every number is the one chainrule's engine computed (see the module's
    documentation). ``names`` names the arguments (default: ``f``'s parameter
    names).

    >>> import chainrule as cr, chainrule.numpy as cnp
    >>> t = cr.inspect.trace(lambda x, y: (x + y) * 3.0, 1.0, 2.0)
    >>> [row["operation"] for row in t.rows]
    ['input x', 'input y', 'v1 + v2', 'v3 * 3']
    >>> t.output, t.gradient
    (9.0, (3.0, 3.0))
    >>> t["v3"]["tangent"], t["v3"]["adjoint"]
    ({'x': 1.0, 'y': 1.0}, 3.0)
    """
    if not args:
        raise TypeError("trace: pass the arguments to call f with: trace(f, 1.0, 2.0)")
    names = list(names) if names is not None else _argument_names(f, len(args))
    if len(names) != len(args):
        raise ValueError(f"trace: {len(names)} names for {len(args)} arguments")
    leaves = []
    leaf_names: list[str] = []
    for name, arg in zip(names, args):
        arg_leaves, structure = tree_flatten(arg)
        arg_leaves = [_promote(x, "trace") for x in arg_leaves]
        leaves.append((arg_leaves, structure))
        leaf_names += _leaf_names(name, arg, len(arg_leaves))

    main = _Run(f, args, leaves, None)
    level = main.reverse.level
    rows = Rows([(box, leaf_name, True) for box, leaf_name in zip(main.boxes, leaf_names)],
                main.nodes, level)
    output_index = rows.index_of(main.out)
    output = _format.plain(main.value_of(main.out))

    gradient, has_adjoints = _adjoints(main, rows, output, output_index, cotangent, leaves)

    directions = _directions(seed, args, leaves, names, leaf_names)
    for direction, tangents in directions:
        _tangents(f, args, leaves, tangents, direction, rows, main)

    title = _title(f, names, args)
    return Trace(rows, output, output_index, gradient, [d for d, _ in directions], names,
                 title, has_adjoints)


def _adjoints(main: _Run, rows: Rows, output: Any, output_index: int | None, cotangent: Any,
              leaves: list) -> tuple[Any, bool]:
    """Run the engine's reverse pass; fill each row's adjoint; return the gradient."""
    size = np.size(output)
    if cotangent is None and size != 1:
        return None, False
    seed = np.ones(np.shape(output), dtype=_float_dtype(output)) if cotangent is None else \
        np.broadcast_to(np.asarray(_format.as_array(cotangent), dtype=_float_dtype(output)),
                        np.shape(output)).copy()
    for row in rows.rows:
        row["adjoint"] = _format.plain(np.zeros(row["shape"]))
    adjoints: dict[int, Any] = {}
    leaf_grads: dict = {}
    if output_index is not None:
        def record(node: Any, g: Any) -> None:
            adjoints[id(node)] = g
        with observe_adjoints(record), no_grad():  # no_grad: the pass itself is not recorded
            leaf_grads = backprop([(main.out, seed)], main.reverse.level, keep_tensors=False,
                                  retain=False)
    for key, index in rows.index_of_node.items():
        if key in adjoints:
            rows.rows[index]["adjoint"] = _format.plain(adjoints[key])
    grads = []
    for box in main.boxes:
        g = leaf_grads[id(box)][1] if id(box) in leaf_grads else np.zeros(box.shape)
        g = _format.plain(g)
        rows.rows[rows.index_of_leaf[id(box)]]["adjoint"] = g
        grads.append(g)
    per_arg, position = [], 0
    for arg_leaves, structure in leaves:
        per_arg.append(tree_unflatten(structure, grads[position:position + len(arg_leaves)]))
        position += len(arg_leaves)
    return (per_arg[0] if len(per_arg) == 1 else tuple(per_arg)), True


def _tangents(f: Callable, args: tuple, leaves: list, tangents: list, direction: str,
              rows: Rows, main: _Run) -> None:
    """Run ``f`` in forward mode along ``tangents``; fill one tangent column."""
    run = _Run(f, args, leaves, tangents)
    if [n.prim.name for n in run.nodes] != [n.prim.name for n in main.nodes]:
        raise RuntimeError(
            "trace: the function made different operations when run again (does it depend "
            "on randomness or on state it changes?); make it deterministic to trace it")
    for box, tangent in zip(main.boxes, tangents):
        rows.rows[rows.index_of_leaf[id(box)]]["tangent"][direction] = _format.plain(tangent)
    for main_node, node in zip(main.nodes, run.nodes):
        index = rows.index_of_node[id(main_node)]
        rows.rows[index]["tangent"][direction] = run.tangent_of(node.out)


def _float_dtype(x: Any) -> Any:
    dtype = np.asarray(x).dtype
    return dtype if dtype.kind in "fc" else np.float64


def _title(f: Callable, names: list[str], args: tuple) -> str:
    what = getattr(f, "__name__", "f")
    if what == "<lambda>":
        what = "f"
    values = ", ".join(f"{name}={_value_text(arg)}" for name, arg in zip(names, args))
    return f"trace of {what}({', '.join(names)}) at {values}"


def _value_text(arg: Any) -> str:
    if isinstance(arg, (tuple, list, dict)):
        return "..."
    array = _format.as_array(arg)
    return _format.number(array.item()) if array.ndim == 0 else _format.shape_text(array.shape)
