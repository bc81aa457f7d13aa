"""``chainrule.numpy.linalg``: NumPy's ``linalg`` over chainrule's matrix primitives.

Batched over leading axes like NumPy; the derivative rules are the standard
results (see ``chainrule.ops.linalg``) and use solves rather than inverses
wherever the formula allows. With no Tensor among the inputs, each function is
NumPy's own.

Like NumPy, ``cholesky``, ``eigh`` and ``eigvalsh`` read one triangle of the
matrix (the lower one, or the upper one for ``upper=True`` / ``UPLO='U'``), so
their gradients flow to that triangle only: they are the derivatives of
exactly the function NumPy computes. ``eigh``'s eigenvector derivative needs
distinct eigenvalues; ``svdvals`` and ``norm(ord=2 / -2 / 'nuc')`` need
distinct, non-zero singular values.

>>> import chainrule as cr, chainrule.numpy as cnp, numpy as np
>>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
>>> g = cr.grad(lambda A: cnp.linalg.slogdet(A)[1])(A)   # d log|A| / dA = A⁻ᵀ
>>> np.allclose(g, np.linalg.inv(A).T)
True
"""

from typing import Any as _Any

import numpy as _np

from chainrule.numpy import _CATALOG, _Entry, _arr, _facade, _unsupported
from chainrule.ops import compare as _cmp
from chainrule.ops import elementwise as _ew
from chainrule.ops import linalg as _la
from chainrule.ops import reductions as _red
from chainrule.ops import shape as _shape


# NumPy's own result types (named tuples), so that results compare and flatten alike
SlogdetResult = type(_np.linalg.slogdet(_np.eye(1)))
EighResult = type(_np.linalg.eigh(_np.eye(1)))


def _linalg(kind: str, *primitives: str):
    def wrap(fn):
        return _facade(kind, *primitives, numpy_fn=getattr(_np.linalg, fn.__name__),
                       name=f"linalg.{fn.__name__}")(fn)
    return wrap


def _square(name: str, a: _Any) -> _Any:
    a = _arr(a)
    shape = tuple(getattr(a, "shape", ()))
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise _np.linalg.LinAlgError(
            f"linalg.{name}: the last two axes must be a square matrix, got shape {shape}")
    return a


def _from_triangle(a: _Any, upper: bool) -> _Any:
    """The symmetric matrix NumPy's LAPACK call sees: one triangle, mirrored."""
    if upper:
        return _ew.add(_la.triu(a), _la._T(_la.triu(a, 1)))
    return _ew.add(_la.tril(a), _la._T(_la.tril(a, -1)))


@_linalg("primitive", "inv")
def inv(a: _Any) -> _Any:
    """The inverse: d A⁻¹ = −A⁻¹ dA A⁻¹."""
    return _la.inv(_square("inv", a))


@_linalg("primitive", "det")
def det(a: _Any) -> _Any:
    """The determinant: d det A = det A · tr(A⁻¹ dA) (A non-singular)."""
    return _la.det(_square("det", a))


@_linalg("primitive", "logabsdet")
def slogdet(a: _Any) -> SlogdetResult:
    """``(sign, logabsdet)`` of det A: d log|det A| = tr(A⁻¹ dA); the sign has no gradient."""
    a = _square("slogdet", a)
    logabsdet = _la.logabsdet(a)            # first: it leaves the sign for slogdet_sign
    return SlogdetResult(_la.slogdet_sign(a), logabsdet)


@_linalg("primitive", "solve")
def solve(a: _Any, b: _Any) -> _Any:
    """The solution X of A X = B (B a vector if 1-D, else a stack of matrices, as NumPy 2).

    dX = A⁻¹(dB − dA X), by solves: B̄ = A⁻ᵀ X̄ and Ā = −B̄ Xᵀ.
    """
    return _la.solve(_square("solve", a), _arr(b))


@_linalg("primitive", "cholesky", "where", "transpose", "add")
def cholesky(a: _Any, /, *, upper: bool = False) -> _Any:
    """The Cholesky factor L (A = L Lᵀ), or U = Lᵀ with ``upper=True``: dL = L Φ(L⁻¹ dA L⁻ᵀ)."""
    L = _la.cholesky(_from_triangle(_square("cholesky", a), upper), upper=upper)
    return _la._T(L) if upper else L


@_linalg("primitive", "eigh_values", "eigh_vectors", "where", "transpose", "add")
def eigh(a: _Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors of a symmetric matrix.

    dw = diag(Vᵀ dA V) and dV = V (F ∘ Vᵀ dA V), F_ij = 1/(w_j − w_i): the
    eigenvalues must be distinct for the eigenvectors to be differentiable.
    """
    UPLO = UPLO.upper()
    s = _from_triangle(_square("eigh", a), UPLO == "U")
    return EighResult(_la.eigh_values(s, UPLO=UPLO), _la.eigh_vectors(s, UPLO=UPLO))


@_linalg("primitive", "eigh_values", "where", "transpose", "add")
def eigvalsh(a: _Any, UPLO: str = "L") -> _Any:
    """The eigenvalues (ascending) of a symmetric matrix: dw = diag(Vᵀ dA V)."""
    UPLO = UPLO.upper()
    return _la.eigh_values(_from_triangle(_square("eigvalsh", a), UPLO == "U"), UPLO=UPLO)


@_linalg("primitive", "svdvals")
def svdvals(x: _Any, /) -> _Any:
    """The singular values (descending): ds_k = u_kᵀ dA v_k (distinct, non-zero)."""
    x = _arr(x)
    if len(getattr(x, "shape", ())) < 2:
        raise _np.linalg.LinAlgError("linalg.svdvals: the input must be at least 2-D")
    return _la.svdvals(x)


@_linalg("composite", "norm2", "abs", "max", "min", "sum", "power", "svdvals", "transpose",
         "reshape", "astype")
def norm(x: _Any, ord: _Any = None, axis: _Any = None, keepdims: bool = False) -> _Any:
    """Vector and matrix norms, as NumPy's ``norm`` (every ``ord`` and ``axis``).

    The 2-norm and the Frobenius norm are one primitive whose gradient x/‖x‖ is
    taken as 0 at x = 0; ord 1 and inf use ``abs`` (0 at 0) and ``max`` (ties
    split evenly).
    """
    x = _arr(x)
    ndim = len(getattr(x, "shape", ()))
    if axis is None:
        if ord is None or (ord in ("f", "fro") and ndim == 2) or (ord == 2 and ndim == 1):
            return _la.norm2(x, axis=None, keepdims=keepdims)
        if ndim not in (1, 2):
            raise ValueError("Improper number of dimensions to norm.")
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    axes = tuple(a % ndim for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        if axes[0] == axes[1]:
            raise ValueError("Duplicate axes given.")
        out = _matrix_norm(x, ord, *axes)
        if keepdims:
            shape = list(x.shape)
            shape[axes[0]] = shape[axes[1]] = 1
            out = _shape.reshape(out, shape=tuple(shape))
        return out
    raise ValueError("Improper number of dimensions to norm.")


def _vector_norm(x: _Any, ord: _Any, axis: int, keepdims: bool) -> _Any:
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    if ord is None or ord == 2:
        return _la.norm2(x, axis=axis, keepdims=keepdims)
    size = _ew.abs(x)
    if ord == _np.inf:
        return _red.max(size, axis=axis, keepdims=keepdims)
    if ord == -_np.inf:
        return _red.min(size, axis=axis, keepdims=keepdims)
    if ord == 0:
        nonzero = _cmp.not_equal(x, 0).astype(x.dtype)
        return _red.sum(nonzero, axis=axis, keepdims=keepdims)
    if ord == 1:
        return _red.sum(size, axis=axis, keepdims=keepdims)
    total = _red.sum(_ew.power(size, float(ord)), axis=axis, keepdims=keepdims)
    return _ew.power(total, 1.0 / ord)


def _matrix_norm(x: _Any, ord: _Any, row: int, col: int) -> _Any:
    if ord in (None, "fro", "f"):
        return _la.norm2(x, axis=(row, col))
    if ord == "nuc" or ord in (2, -2):
        s = _la.svdvals(_shape.moveaxis(x, (row, col), (-2, -1)))
        if ord == "nuc":
            return _red.sum(s, axis=-1)
        return (_red.max if ord == 2 else _red.min)(s, axis=-1)
    if ord in (1, -1):
        col = col - 1 if col > row else col
        sums = _red.sum(_ew.abs(x), axis=row)
        return (_red.max if ord == 1 else _red.min)(sums, axis=col)
    if ord in (_np.inf, -_np.inf):
        row = row - 1 if row > col else row
        sums = _red.sum(_ew.abs(x), axis=col)
        return (_red.max if ord == _np.inf else _red.min)(sums, axis=row)
    raise ValueError("Invalid norm order for matrices.")


LinAlgError = _np.linalg.LinAlgError
_CATALOG["linalg.LinAlgError"] = _Entry("passthrough")
_CATALOG["linalg.SlogdetResult"] = _Entry("passthrough")
_CATALOG["linalg.EighResult"] = _Entry("passthrough")


def __getattr__(name: str) -> _Any:
    """Other ``numpy.linalg`` functions: for plain arrays only (no derivative rules)."""
    if name.startswith("__"):
        raise AttributeError(name)
    try:
        obj = getattr(_np.linalg, name)
    except AttributeError:
        raise AttributeError(f"module 'chainrule.numpy.linalg' has no attribute {name!r} "
                             f"(nor has numpy.linalg)") from None
    if isinstance(obj, type) or not callable(obj):
        return obj
    return _unsupported(name, obj, where="numpy.linalg")
