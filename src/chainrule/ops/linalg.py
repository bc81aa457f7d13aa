"""Linear algebra: products of arrays and functions of matrices, with the standard rules.

Products. For C = A B the rules are the whiteboard ones: Ā = C̄ Bᵀ, B̄ = Aᵀ C̄,
and Ċ = Ȧ B + A Ḃ. A 1-D operand is made 2-D first, as NumPy does, so one rule
covers vectors, matrices and stacks of matrices (batch axes broadcast).
``dot``, ``tensordot``, ``outer``, ``inner``, ``vdot``, ``diagonal``, ``trace``,
``diag``, ``triu`` and ``tril`` are compositions of primitives (transposes,
reshapes, ``matmul``, integer indexing, ``where``): their derivatives follow.

Functions of matrices (batched over leading axes as NumPy batches; A⁻ᵀ = (A⁻¹)ᵀ;
sym(M) = ½(M + Mᵀ); solves instead of inverses wherever the formula allows):

* ``inv``:        d A⁻¹ = −A⁻¹ dA A⁻¹;              Ā = −A⁻ᵀ Ḡ A⁻ᵀ
* ``det``:        d det A = det A · tr(A⁻¹ dA);     Ā = ḡ det A · A⁻ᵀ
* ``logabsdet``:  d log|det A| = tr(A⁻¹ dA);        Ā = ḡ A⁻ᵀ      (``slogdet``'s 2nd output)
* ``solve``:      X = A⁻¹B: dX = A⁻¹(dB − dA X);   B̄ = A⁻ᵀ X̄, Ā = −B̄ Xᵀ
* ``cholesky``:   A = L Lᵀ: dL = L Φ(L⁻¹ dA L⁻ᵀ);  Ā = sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹),
  Φ = lower triangle with the diagonal halved (Murray 2016)
* ``eigh``:       A = V diag(w) Vᵀ: dw = diag(Vᵀ dA V), dV = V (F ∘ Vᵀ dA V),
  Ā = V (diag(w̄) + F ∘ Vᵀ V̄) Vᵀ (symmetrized), F_ij = 1/(w_j − w_i), F_ii = 0
  (eigenvalues must be distinct for the eigenvector derivative)
* ``svdvals``:    ds_k = u_kᵀ dA v_k;                Ā = U diag(s̄) Vᵀ (distinct, non-zero s)
* ``norm2``:      the Euclidean/Frobenius norm; d‖x‖ = ⟨x/‖x‖, dx⟩, and 0 at x = 0
  (the smallest subgradient).

``cholesky`` and ``eigh`` read a symmetric matrix: they take sym(A) of their
input (which is A itself for a symmetric A), so their derivatives are symmetric
and agree with numerical differences in every direction. ``inv``, ``det``,
``solve`` need a non-singular matrix (at a singular one NumPy raises).
"""

from __future__ import annotations

import weakref

from chainrule._native import FAST
from chainrule.backend import xp
from chainrule.ops import _factor
from chainrule.ops._primitive import SHORTCUTS, linear, nondifferentiable, primitive, rules


def _ndim(x):
    return len(getattr(x, "shape", ()))


def _shape(x):
    return tuple(getattr(x, "shape", ()))


def _dtype(x):
    return getattr(x, "dtype", xp.float64)


# --- matmul ---------------------------------------------------------------------------------

def _as_matrices(g, x, y):
    """``x``, ``y`` and the output gradient ``g`` with 1-D operands made 2-D."""
    x2 = expand_dims(x, axis=0) if _ndim(x) == 1 else x
    y2 = expand_dims(y, axis=1) if _ndim(y) == 1 else y
    if _ndim(x) == 1:
        g = expand_dims(g, axis=-1 if _ndim(y) == 1 else -2)
    if _ndim(y) == 1:
        g = expand_dims(g, axis=-1)
    return g, x2, y2


def _matmul_vjp_x(g, ans, x, y, gram=False):
    if gram and SHORTCUTS[0]:  # C = A Aᵀ: both uses of A in one product, Ā = (C̄ + C̄ᵀ) A
        return matmul(add_transpose(g), x)
    if _ndim(x) == 2 and _ndim(y) == 2:  # the common case, as on the whiteboard: Ā = C̄ Bᵀ
        return matmul(g, y.T)
    g2, x2, y2 = _as_matrices(g, x, y)
    gx = sum_to(matmul(g2, swapaxes(y2)), shape=_shape(x2))
    return reshape(gx, shape=_shape(x))


def _matmul_vjp_y(g, ans, x, y, gram=False):
    if gram and SHORTCUTS[0]:  # the Gram rule above gave A all of it: nothing for Aᵀ
        return None
    if _ndim(x) == 2 and _ndim(y) == 2:  # B̄ = Aᵀ C̄  (.T: NumPy's view, or the transpose op)
        return matmul(x.T, g)
    g2, x2, y2 = _as_matrices(g, x, y)
    gy = sum_to(matmul(swapaxes(x2), g2), shape=_shape(y2))
    return reshape(gy, shape=_shape(y))


def _matmul_impl(x, y, gram=False):
    return xp.matmul(x, y)


matmul = primitive(_matmul_impl, name="matmul", reference=xp.matmul, shapes=[
    ((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
    ((2, 2, 3), (3, 2)), ((1, 2, 3), (2, 3, 2)),
])
matmul.shape_error = "are not aligned"
rules(matmul, vjp=[_matmul_vjp_x, _matmul_vjp_y],
      jvp=[lambda t, ans, x, y, gram=False: matmul(t, y),
           lambda t, ans, x, y, gram=False: matmul(x, t)])

# Gram matrices. A Aᵀ is common (kernels, covariances, the course's αAAᵀ + β⁻¹I); its
# reverse rule as two products, C̄ (Aᵀ)ᵀ for A and Aᵀ C̄ for Aᵀ (then transposed back),
# costs one matrix product more than the sum (C̄ + C̄ᵀ) A. ``product`` flags the
# matmul whose right operand is the transpose of its left one in the graph, and the
# rules then do the one product. The graph keeps its shape (Aᵀ and the matmul stay
# nodes); only Aᵀ's adjoint is skipped, so the shortcut is off where every node's
# adjoint is shown (SHORTCUTS: chainrule.inspect).


def product(x, y):
    """``x @ y``, with a Gram matrix ``A @ A.T`` flagged for its one-product reverse rule."""
    made = getattr(y, "_node", None)   # how a graph tensor was computed (core.tensor.Node)
    if (made is not None and made.prim is transpose and made.args[0] is x
            and _ndim(x) == 2 and SHORTCUTS[0]):
        return matmul(x, y, gram=True)
    return matmul(x, y)


# --- products built on matmul -----------------------------------------------------------------

def _axis_list(axes, ndim):
    return [a % ndim for a in ((axes,) if isinstance(axes, int) else axes)]


def _prod(sizes):
    n = 1
    for s in sizes:
        n *= s
    return n


def tensordot(a, b, axes=2):
    """NumPy's ``tensordot``: contract ``axes`` of ``a`` with ``axes`` of ``b``.

    Done as NumPy does it: move the summed axes together, reshape both to
    matrices, one ``matmul``, reshape to the free axes of ``a`` then ``b``.
    """
    sa, sb = _shape(a), _shape(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(len(sa) - axes, len(sa))), list(range(axes))
    else:
        axes_a, axes_b = _axis_list(axes[0], len(sa)), _axis_list(axes[1], len(sb))
    if len(axes_a) != len(axes_b) or any(sa[i] != sb[j] for i, j in zip(axes_a, axes_b)):
        raise ValueError(f"tensordot: shapes {sa} and {sb} do not match along axes "
                         f"{axes_a} and {axes_b}")
    free_a = [i for i in range(len(sa)) if i not in axes_a]
    free_b = [j for j in range(len(sb)) if j not in axes_b]
    summed = _prod(sa[i] for i in axes_a)
    a2 = reshape(_permuted(a, free_a + axes_a), shape=(_prod(sa[i] for i in free_a), summed))
    b2 = reshape(_permuted(b, axes_b + free_b), shape=(summed, _prod(sb[j] for j in free_b)))
    return reshape(matmul(a2, b2), shape=tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


def _permuted(x, axes):
    return x if list(axes) == list(range(_ndim(x))) else transpose(x, axes=tuple(axes))


def dot(x, y):
    """NumPy's ``dot``: a product for scalars, ``matmul`` up to 2-D, else a ``tensordot``
    over the last axis of ``x`` and the second-to-last of ``y`` (the last, if 1-D)."""
    if _ndim(x) == 0 or _ndim(y) == 0:
        return multiply(x, y)
    if _ndim(x) <= 2 and _ndim(y) <= 2:
        return matmul(x, y)
    return tensordot(x, y, axes=([_ndim(x) - 1], [max(_ndim(y) - 2, 0)]))


def inner(x, y):
    """NumPy's ``inner``: sum over the last axes of both."""
    if _ndim(x) == 0 or _ndim(y) == 0:
        return multiply(x, y)
    return tensordot(x, y, axes=([_ndim(x) - 1], [_ndim(y) - 1]))


def outer(x, y):
    """NumPy's ``outer``: out[i, j] = x.ravel()[i] · y.ravel()[j]."""
    return multiply(reshape(x, shape=(-1, 1)), reshape(y, shape=(1, -1)))


def vdot(x, y):
    """NumPy's ``vdot`` for real arrays: the sum of the products of the flattened arrays."""
    return matmul(reshape(x, shape=(-1,)), reshape(y, shape=(-1,)))


# --- diagonals and triangles: integer indexing and masks ---------------------------------------

def _diagonal_index(n, m, offset):
    length = max(0, min(n, m - offset)) if offset >= 0 else max(0, min(n + offset, m))
    rows = xp.arange(length) + max(0, -offset)
    return rows, rows + offset


def diagonal(x, offset=0, axis1=0, axis2=1):
    """NumPy's ``diagonal``: the diagonal of axes ``axis1``, ``axis2``, as the last axis."""
    shape = _shape(x)
    a1, a2 = axis1 % len(shape), axis2 % len(shape)
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 cannot be the same (shape {shape})")
    rest = [i for i in range(len(shape)) if i not in (a1, a2)]
    rows, cols = _diagonal_index(shape[a1], shape[a2], offset)
    return getitem(_permuted(x, rest + [a1, a2]), index=(Ellipsis, rows, cols))


def trace(x, offset=0, axis1=0, axis2=1):
    """NumPy's ``trace``: the sum of a diagonal (its gradient is the identity pattern)."""
    return sum(diagonal(x, offset, axis1, axis2), axis=-1)


def _trace_last(x):
    """tr over the last two axes (batched)."""
    return trace(x, axis1=-2, axis2=-1)


def diag(v, k=0):
    """NumPy's ``diag``: a 1-D ``v`` put on the ``k``-th diagonal, or a 2-D ``v``'s diagonal."""
    if _ndim(v) == 2:
        return diagonal(v, k)
    if _ndim(v) != 1:
        raise ValueError(f"diag: input must be 1-D or 2-D, got shape {_shape(v)}")
    n = _shape(v)[0] + (k if k >= 0 else -k)
    return untake(v, index=_diagonal_index(n, n, k), shape=(n, n))


def _triangle(x, keep):
    zero = xp.zeros((), dtype=_dtype(x))
    return where(keep, x, zero)


def tril(x, k=0):
    """NumPy's ``tril``: entries above the ``k``-th diagonal set to 0 (last two axes)."""
    return _triangle(x, xp.tri(*_shape(x)[-2:], k=k, dtype=bool))


def triu(x, k=0):
    """NumPy's ``triu``: entries below the ``k``-th diagonal set to 0 (last two axes)."""
    return _triangle(x, ~xp.tri(*_shape(x)[-2:], k=k - 1, dtype=bool))


# --- functions of matrices ----------------------------------------------------------------------

def _T(x):
    return swapaxes(x, -1, -2)


def _add_transpose_impl(x):
    """M + Mᵀ over the last two axes (in C, block by block, for one float matrix: a strided
    read of Mᵀ as a whole costs 3-4 times as much at 256×256)."""
    shape = xp.shape(x)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"M + Mᵀ needs square matrices in the last two axes, "
                         f"got shape {shape}")
    if x.__class__ is xp.ndarray and x.ndim == 2 and FAST is not None:
        out = xp.empty_like(x, order="C")
        if FAST.add_transpose(x, out):
            return out
    return x + xp.swapaxes(x, -1, -2)


add_transpose = primitive(_add_transpose_impl, name="add_transpose",
                          shapes=[((3, 3),), ((2, 3, 3),), ((1, 1),), ((40, 40),)],
                          reference=lambda x: x + xp.swapaxes(x, -1, -2))
linear(add_transpose, lambda g, ans, x: add_transpose(g))   # its own transpose


def _sym(x):
    return multiply(0.5, add_transpose(x))


def _sym_raw(x):
    return 0.5 * _add_transpose_impl(x)


def _as_matrix_pair(v):
    return reshape(v, shape=_shape(v) + (1, 1))


def _invertible(rng, shape):
    """Well-conditioned test matrices: Gaussian plus n·I."""
    n = shape[-1]
    return rng.normal(size=shape) + n * xp.eye(n)


def _spd(rng, shape):
    """Symmetric positive definite test matrices: M Mᵀ + n·I."""
    m = rng.normal(size=shape)
    return m @ xp.swapaxes(m, -1, -2) + shape[-1] * xp.eye(shape[-1])


def _separated_symmetric(rng, shape):
    """Symmetric test matrices with well-separated eigenvalues: Q diag(w) Qᵀ."""
    q, _ = xp.linalg.qr(rng.normal(size=shape))
    w = xp.linspace(-1.5, 2.5, shape[-1]) + rng.uniform(-0.2, 0.2, size=shape[:-1])
    return _sym_raw((q * w[..., None, :]) @ xp.swapaxes(q, -1, -2))


SQUARE = [((3, 3),), ((2, 3, 3),), ((1, 1),)]


def _matrix_op(impl, name, make, shapes=SQUARE, reference=None):
    return primitive(impl, name=name, shapes=shapes, reference=reference or impl,
                     make_args=lambda rng, shapes: tuple(make(rng, s) for s in shapes))


def _inv_impl(x, reuse=False):
    """A⁻¹; ``reuse`` (rules only) takes the factors kept when ``x`` was last factorized."""
    factors = _factor.kept(x) if reuse and _factor.usable(x) else None
    if factors is not None:
        return factors.inverse()
    return xp.linalg.inv(x)


inv = _matrix_op(_inv_impl, "inv", _invertible, reference=lambda x, reuse=False: xp.linalg.inv(x))
inv.meta.params = ({}, {"reuse": True})
inv.shape_error = "are not square matrices"
rules(inv, vjp=[lambda g, ans, x, reuse=False: negative(matmul(_T(ans), matmul(g, _T(ans))))],
      jvp=[lambda t, ans, x, reuse=False: negative(matmul(ans, matmul(t, ans)))])


def _det_impl(x):
    return xp.linalg.det(x)


det = _matrix_op(_det_impl, "det", _invertible)
rules(det, vjp=[lambda g, ans, x: multiply(_as_matrix_pair(multiply(g, ans)), _T(inv(x, reuse=True)))],
      jvp=[lambda t, ans, x: multiply(ans, _trace_last(solve(x, t, reuse=True)))])


# slogdet factorizes once: logabsdet keeps the sign of the matrix it last saw, and the
# sign op (asked right after, by cnp.linalg.slogdet) reads it instead of factorizing again.
_last_sign: list = [None, None]   # [a weak reference to the matrix, its sign]


def _logabsdet_impl(x):
    if _factor.usable(x):   # factors kept for the rule's A⁻¹
        sign, logabs = _factor.factorize(x).logabsdet()
    else:
        sign, logabs = xp.linalg.slogdet(x)
    _last_sign[:] = [_weak(x), sign]
    return logabs


def _slogdet_sign_impl(x):
    matrix, sign = _last_sign
    _last_sign[:] = [None, None]
    if matrix is not None and matrix() is x:
        return sign
    return xp.linalg.slogdet(x)[0]


def _weak(x):
    try:
        return weakref.ref(x)
    except TypeError:  # not an ndarray: nothing to remember
        return None


logabsdet = _matrix_op(_logabsdet_impl, "logabsdet", _invertible,
                       reference=lambda x: xp.linalg.slogdet(x)[1])
rules(logabsdet, vjp=[lambda g, ans, x: multiply(_as_matrix_pair(g), _T(inv(x, reuse=True)))],
      jvp=[lambda t, ans, x: _trace_last(solve(x, t, reuse=True))])

slogdet_sign = nondifferentiable(_slogdet_sign_impl, "slogdet_sign")


def _solve_impl(a, b, transposed=False, reuse=False):
    """A⁻¹B, or A⁻ᵀB when ``transposed``; ``reuse`` (rules only) takes A's kept factors.

    Where a LAPACK is reachable (ops/_factor.py) a solve factorizes A and keeps the
    factors for the rule's solve with Aᵀ; with SciPy's, which runs on one thread beside
    NumPy's pool, only for a few columns: for many, NumPy's own solve is quicker.
    """
    if _factor.usable(a, b):
        factors = _factor.kept(a) if reuse else None
        if factors is not None and b.ndim == 2 and 4 * b.shape[1] > b.shape[0]:
            return factors.solve_many(b, transposed)   # a rule's solve for many columns
        if factors is None and (_factor.lapack().name == "numpy" or b.ndim == 1
                                or 4 * b.shape[1] <= b.shape[0]):
            factors = _factor.factorize(a)
        if factors is not None:
            return factors.solve(b, transposed)
    return _numpy_solve(a, b, transposed)


def _columns(v, b):
    """A right-hand side (or something shaped like one) as a stack of columns."""
    return expand_dims(v, axis=-1) if _ndim(b) == 1 else v


def _uncolumns(v, b):
    return squeeze(v, axis=-1) if _ndim(b) == 1 else v


def _solve_vjp_a(g, x, a, b, transposed=False, reuse=False):
    fused = None if transposed else _factor.solve_outer(a, g, x)   # Ā for a trace, say
    if fused is not None:
        return fused
    gb = solve(a, _columns(g, b), transposed=not transposed, reuse=True)  # B̄ = A⁻ᵀ X̄
    xc = _columns(x, b)
    return negative(matmul(xc, _T(gb)) if transposed else matmul(gb, _T(xc)))  # Ā = −B̄ Xᵀ


def _solve_vjp_b(g, x, a, b, transposed=False, reuse=False):
    return _uncolumns(solve(a, _columns(g, b), transposed=not transposed, reuse=True), b)


def _solve_jvp_a(t, x, a, b, transposed=False, reuse=False):   # dX = −A⁻¹ dA X
    dx = matmul(_T(t) if transposed else t, _columns(x, b))
    return _uncolumns(negative(solve(a, dx, transposed=transposed, reuse=True)), b)


def _solve_jvp_b(t, x, a, b, transposed=False, reuse=False):   # dX = A⁻¹ dB
    return _uncolumns(solve(a, _columns(t, b), transposed=transposed, reuse=True), b)


def _numpy_solve(a, b, transposed=False, reuse=False):
    return xp.linalg.solve(xp.swapaxes(a, -1, -2) if transposed else a, b)


solve = primitive(_solve_impl, name="solve", reference=_numpy_solve, shapes=[
    ((3, 3), (3,)), ((3, 3), (3, 2)), ((2, 3, 3), (2, 3, 1)), ((2, 3, 3), (3,)),
    ((2, 3, 3), (3, 2)),
], params=({}, {"transposed": True}, {"reuse": True}),
   make_args=lambda rng, shapes: (_invertible(rng, shapes[0]), rng.normal(size=shapes[1])))
solve.shape_error = "do not fit (a must be square, b must have as many rows)"
rules(solve, vjp=[_solve_vjp_a, _solve_vjp_b], jvp=[_solve_jvp_a, _solve_jvp_b])


def _cholesky_impl(x, upper=False):
    if upper:  # LAPACK on the upper triangle, as NumPy's cholesky(upper=True); L = Uᵀ
        return xp.swapaxes(xp.linalg.cholesky(_sym_raw(x), upper=True), -1, -2)
    return xp.linalg.cholesky(_sym_raw(x))


def _phi(x):
    """The lower triangle of x with its diagonal halved."""
    n = _shape(x)[-1]
    weights = xp.tril(xp.ones((n, n), dtype=_dtype(x)), -1) + 0.5 * xp.eye(n, dtype=_dtype(x))
    return multiply(x, weights)


def _cholesky_jvp(t, L, x, upper=False):
    s = _sym(t)
    inner = _T(solve(L, _T(solve(L, s))))                    # L⁻¹ Ṡ L⁻ᵀ
    return matmul(L, _phi(inner))


def _cholesky_vjp(g, L, x, upper=False):
    q = solve(_T(L), _phi(matmul(_T(L), g)))                 # L⁻ᵀ Φ(Lᵀ L̄)
    return _sym(_T(solve(_T(L), _T(q))))                     # sym(L⁻ᵀ Φ(Lᵀ L̄) L⁻¹)


cholesky = primitive(_cholesky_impl, name="cholesky", cases=[
    (((3, 3),), {}), (((2, 3, 3),), {}), (((3, 3),), {"upper": True}), (((1, 1),), {}),
], make_args=lambda rng, shapes: (_spd(rng, shapes[0]),),
    reference=lambda x, upper=False: xp.linalg.cholesky(x))
rules(cholesky, vjp=[_cholesky_vjp], jvp=[_cholesky_jvp])


def _eigh_values_impl(x, UPLO="L"):
    return xp.linalg.eigh(_sym_raw(x), UPLO)[0]


def _eigh_vectors_impl(x, UPLO="L"):
    return xp.linalg.eigh(_sym_raw(x), UPLO)[1]


def _gap_reciprocals(x, UPLO):
    """F_ij = 1 / (w_j − w_i) off the diagonal, 0 on it."""
    w = eigh_values(x, UPLO=UPLO)
    n = _shape(w)[-1]
    off = ~xp.eye(n, dtype=bool)
    gaps = subtract(expand_dims(w, axis=-2), expand_dims(w, axis=-1))
    return where(off, divide(1.0, where(off, gaps, 1.0)), 0.0)


def _eigh_op(impl, name, reference):
    return primitive(impl, name=name, reference=reference, cases=[
        (((3, 3),), {"UPLO": "L"}), (((2, 3, 3),), {"UPLO": "L"}), (((3, 3),), {"UPLO": "U"}),
        (((1, 1),), {"UPLO": "L"}),
    ], make_args=lambda rng, shapes: (_separated_symmetric(rng, shapes[0]),))


eigh_values = _eigh_op(_eigh_values_impl, "eigh_values",
                       lambda x, UPLO="L": xp.linalg.eigh(x, UPLO)[0])
rules(eigh_values,   # dw_k = v_kᵀ dA v_k;  Ā = V diag(w̄) Vᵀ
      vjp=[lambda g, w, x, UPLO="L": matmul(multiply(eigh_vectors(x, UPLO=UPLO),
                                                     expand_dims(g, axis=-2)),
                                            _T(eigh_vectors(x, UPLO=UPLO)))],
      jvp=[lambda t, w, x, UPLO="L": sum(multiply(eigh_vectors(x, UPLO=UPLO),
                                                  matmul(t, eigh_vectors(x, UPLO=UPLO))), axis=-2)])

eigh_vectors = _eigh_op(_eigh_vectors_impl, "eigh_vectors",
                        lambda x, UPLO="L": xp.linalg.eigh(x, UPLO)[1])
rules(eigh_vectors,   # dV = V (F ∘ Vᵀ dA V);  Ā = sym(V (F ∘ Vᵀ V̄) Vᵀ)
      vjp=[lambda g, V, x, UPLO="L": _sym(matmul(V, matmul(
          multiply(_gap_reciprocals(x, UPLO), matmul(_T(V), g)), _T(V))))],
      jvp=[lambda t, V, x, UPLO="L": matmul(V, multiply(
          _gap_reciprocals(x, UPLO), matmul(_T(V), matmul(_sym(t), V))))])


def _svdvals_impl(x):
    return xp.linalg.svd(x, compute_uv=False)


def _singular_vectors(x, s):
    """U and V of x (k = min(m, n) columns each), from the eigenvectors of xᵀx or xxᵀ.

    Built from differentiable primitives so that the rules differentiate again:
    for m ≥ n, V = eigvecs(xᵀx) (reordered to descending), U = x V / s.
    """
    m, n = _shape(x)[-2:]
    flip = (Ellipsis, slice(None, None, -1))
    if m >= n:
        v = getitem(eigh_vectors(matmul(_T(x), x)), index=flip)
        return divide(matmul(x, v), expand_dims(s, axis=-2)), v
    u = getitem(eigh_vectors(matmul(x, _T(x))), index=flip)
    return u, divide(matmul(_T(x), u), expand_dims(s, axis=-2))


def _svdvals_vjp(g, s, x):
    u, v = _singular_vectors(x, s)
    return matmul(multiply(u, expand_dims(g, axis=-2)), _T(v))        # U diag(s̄) Vᵀ


def _svdvals_jvp(t, s, x):
    u, v = _singular_vectors(x, s)
    return sum(multiply(u, matmul(t, v)), axis=-2)                    # ṡ_k = u_kᵀ Ȧ v_k


svdvals = primitive(_svdvals_impl, name="svdvals", reference=_svdvals_impl,
                    shapes=[((3, 3),), ((3, 2),), ((2, 4),), ((2, 3, 2),)],
                    make_args=lambda rng, shapes: (_distinct_singular(rng, shapes[0]),))
rules(svdvals, vjp=[_svdvals_vjp], jvp=[_svdvals_jvp])


def _distinct_singular(rng, shape):
    """Test matrices with singular values 1, 2, 3, ... (distinct, non-zero)."""
    m, n = shape[-2:]
    k = min(m, n)
    u, _ = xp.linalg.qr(rng.normal(size=shape[:-2] + (m, m)))
    v, _ = xp.linalg.qr(rng.normal(size=shape[:-2] + (n, n)))
    return (u[..., :, :k] * (1.0 + xp.arange(k))) @ xp.swapaxes(v[..., :, :k], -1, -2)


# --- the Euclidean norm --------------------------------------------------------------------------

def _norm2_impl(x, axis=None, keepdims=False):
    return xp.sqrt(xp.sum(xp.square(x), axis=axis, keepdims=keepdims))


def _unit(ans, x, axis, keepdims):
    """x / ‖x‖, and 0 where ‖x‖ = 0 (then x = 0 too)."""
    norm = _keep(ans, x, axis, keepdims)
    return divide(x, where(equal(norm, 0.0), 1.0, norm))


norm2 = primitive(_norm2_impl, name="norm2", reference=_norm2_impl, cases=[
    (((3,),), {"axis": None, "keepdims": False}), (((2, 3),), {"axis": None, "keepdims": False}),
    (((2, 3),), {"axis": -1, "keepdims": True}), (((2, 3, 2),), {"axis": (1, 2), "keepdims": False}),
])
rules(norm2,
      vjp=[lambda g, ans, x, axis=None, keepdims=False:
           multiply(spread(g, x, axis, keepdims), _unit(ans, x, axis, keepdims))],
      jvp=[lambda t, ans, x, axis=None, keepdims=False:
           sum(multiply(t, _unit(ans, x, axis, keepdims)), axis=axis, keepdims=keepdims)])


from chainrule.ops.compare import equal  # noqa: E402
from chainrule.ops.elementwise import (  # noqa: E402
    divide, multiply, negative, subtract, where,
)
from chainrule.ops.indexing import getitem, untake  # noqa: E402
from chainrule.ops.reductions import _keep, spread, sum  # noqa: E402
from chainrule.ops.shape import (  # noqa: E402
    expand_dims, reshape, squeeze, sum_to, swapaxes, transpose,
)
