"""``einsum``: any sum of products over labelled axes, and its derivative, also an einsum.

``einsum`` is linear in each operand, so its JVP is itself with one operand
replaced by its tangent. Its VJP for operand i is an einsum of the output
gradient with the other operands, whose output labels are operand i's labels:

    X̄_i[s_i] = Σ  Ḡ[s_out] Π_{j≠i} X_j[s_j]

Two details make that exact in general: a label repeated in s_i (a diagonal, as
in ``"ii->i"``) is renamed and tied to the original by an identity matrix (the
gradient lands on the diagonal only), and a label found in no other term (a sum
over an axis of X_i alone, as in ``"ij->i"``) gets a vector of ones (the
gradient is broadcast along it). Broadcast size-1 axes are summed back by the
engine, as everywhere.

The primitive takes explicit subscripts without ellipses (``"ij,jk->ik"``);
:func:`einsum` turns NumPy's every form (implicit output, ``...``, the
operand/sublist form) into that.
"""

from __future__ import annotations

import string

from chainrule.backend import xp
from chainrule.ops._primitive import primitive

LETTERS = string.ascii_letters


def _einsum_impl(*operands, subscripts):
    return xp.einsum(subscripts, *operands, optimize=len(operands) > 2)


def _split(subscripts):
    inputs, output = subscripts.split("->")
    return inputs.split(","), output


def _einsum_vjp(i):
    def vjp(g, ans, *operands, subscripts):
        inputs, output = _split(subscripts)
        mine = inputs[i]
        terms = [output] + [s for j, s in enumerate(inputs) if j != i]
        args = [g] + [x for j, x in enumerate(operands) if j != i]
        dtype = getattr(g, "dtype", xp.float64)
        sizes = dict(zip(mine, getattr(operands[i], "shape", ())))
        unused = iter(c for c in LETTERS if c not in subscripts)
        target, seen = [], set()
        for c in mine:
            if c in seen:                       # a diagonal: X̄[.., c, c', ..] with δ(c, c')
                fresh = next(unused)
                terms.append(c + fresh)
                args.append(xp.eye(sizes[c], dtype=dtype))
                target.append(fresh)
            else:
                seen.add(c)
                target.append(c)
        present = set("".join(terms))
        for c in seen - present:                # summed over X_i alone: broadcast back
            terms.append(c)
            args.append(xp.ones(sizes[c], dtype=dtype))
        return einsum_p(*args, subscripts=",".join(terms) + "->" + "".join(target))
    return vjp


def _einsum_jvp_all(tangents, ans, *operands, subscripts):
    total = None
    for i, t in enumerate(tangents):
        if t is None:
            continue
        args = list(operands)
        args[i] = t
        term = einsum_p(*args, subscripts=subscripts)
        total = term if total is None else add(total, term)
    return total


einsum_p = primitive(_einsum_impl, name="einsum", reference=_einsum_impl, cases=[
    (((2, 3), (3, 4)), {"subscripts": "ij,jk->ik"}),
    (((3,), (3,)), {"subscripts": "i,i->"}),
    (((3,), (2,)), {"subscripts": "i,j->ij"}),
    (((2, 2, 3), (2, 3, 2)), {"subscripts": "bij,bjk->bik"}),
    (((3, 3),), {"subscripts": "ii->i"}),
    (((3, 3),), {"subscripts": "ii->"}),
    (((2, 3),), {"subscripts": "ij->i"}),
    (((2, 3, 2),), {"subscripts": "ijk->kij"}),
    (((2, 3), (3,), (3, 2)), {"subscripts": "ij,j,jk->ik"}),
    (((2, 1), (2, 3)), {"subscripts": "ij,ij->ij"}),
    (((2, 2, 3),), {"subscripts": "iij->ij"}),
])
einsum_p.shape_error = "do not fit the subscripts"
einsum_p.variadic_vjp = _einsum_vjp
einsum_p.jvp_all = _einsum_jvp_all


# --- NumPy's forms, made explicit ---------------------------------------------------------

_SUBLIST_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # in the order of the ints


def _sublist_letters(sublist):
    return "".join("..." if item is Ellipsis else _SUBLIST_LETTERS[item] for item in sublist)


def _from_interleaved(args):
    """``einsum(a, [0, 1], b, [1, 2], [0, 2])`` -> ``("AB,BC->AC", [a, b])``."""
    pairs = args[:len(args) // 2 * 2]
    operands, sublists = list(pairs[0::2]), pairs[1::2]
    spec = ",".join(_sublist_letters(s) for s in sublists)
    if len(args) % 2:
        spec += "->" + _sublist_letters(args[-1])
    return spec, operands


def explicit_subscripts(spec, shapes):
    """NumPy's subscripts (implicit output, ``...``) as explicit ones, for these shapes."""
    spec = spec.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands")
    spare = iter(c for c in reversed(LETTERS) if c not in spec)
    widths = [len(shape) - len(term.replace("...", "")) for term, shape in zip(terms, shapes)]
    width = max([w for term, w in zip(terms, widths) if "..." in term], default=0)
    dots = "".join(next(spare) for _ in range(width))
    terms = [term.replace("...", dots[width - w:]) for term, w in zip(terms, widths)]
    for term, shape in zip(terms, shapes):
        if len(term) != len(shape):
            raise ValueError(f"einsum: subscripts {term!r} do not fit an operand of shape {shape}")
    if arrow:
        output = output.replace("...", dots)
    else:
        counts = {c: "".join(terms).count(c) for c in "".join(terms)}
        output = dots + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in dots))
    return ",".join(terms) + "->" + output


def einsum(*args, **kwargs):
    """NumPy's ``einsum`` (string or interleaved form), differentiable in every operand."""
    if isinstance(args[0], str):
        spec, operands = args[0], list(args[1:])
    else:
        spec, operands = _from_interleaved(args)
    shapes = [tuple(getattr(x, "shape", ())) for x in operands]
    return einsum_p(*operands, subscripts=explicit_subscripts(spec, shapes))


from chainrule.ops.elementwise import add  # noqa: E402
