"""Factorizations kept from the forward pass for the backward pass (SciPy's LAPACK).

NumPy's ``linalg`` factorizes inside every call and hands back only the answer,
so a backward pass built on it factorizes the same matrix again: the rule of
``log|det A|`` needs A⁻¹, the rule of ``solve(A, B)`` solves with Aᵀ. When SciPy
is installed (the ``linalg`` extra), ``logabsdet`` and ``solve`` factorize a
2-D matrix once and keep the factors; the rules, which run on that same
matrix, reuse them:

* an exactly symmetric positive definite matrix gets Cholesky, A = L Lᵀ
  (half the work of LU; A⁻¹ from L costs a third of a general inverse);
* any other square matrix gets LU with partial pivoting, P A = L U.

SciPy's wheels bring their own OpenBLAS, beside NumPy's. Two OpenBLAS thread
pools taking turns on the same cores cost milliseconds per turn (the idle
pool's threads spin), so SciPy's pool is held to one thread for these calls
(with ``threadpoolctl``, part of the ``linalg`` extra; without it, NumPy
does the work).

Factors are kept for the last few matrices only, each held by a weak reference
to its matrix (when the matrix goes, so does the entry). Only the rules ask
for kept factors (``reuse=True``): a user's own ``inv(A)`` always factorizes,
so an array changed in place between two calls is never answered from a stale
factor. Without SciPy, or for stacks of matrices, NumPy does the work as before.
"""

from __future__ import annotations

import functools
import weakref

from chainrule.backend import xp

try:  # optional: the best tool for keeping a factorization, not needed for correctness
    from scipy.linalg import lapack
except ImportError:  # pragma: no cover - exercised by the tests that hide SciPy
    lapack = None

_pools: list | None = None   # BLAS pools loaded beside NumPy's (SciPy's own), found on first use


def _other_pools() -> list:
    """SciPy's BLAS thread pools when they are not NumPy's; with no threadpoolctl, SciPy is not used."""
    global _pools, lapack
    if _pools is None:
        try:
            from threadpoolctl import ThreadpoolController
            blas = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
        except Exception:   # no threadpoolctl, or it cannot see the libraries: NumPy does it all
            _pools, lapack = [], None
            return _pools
        _pools = [lib for lib in blas if "numpy" not in lib.filepath.lower()] if len(blas) > 1 else []
    return _pools


def _call(routine, *args, **kwargs):
    """Run a SciPy LAPACK routine with SciPy's own BLAS pool (if separate) at one thread."""
    pools = _other_pools()
    if not pools:
        return routine(*args, **kwargs)
    before = [lib.get_num_threads() for lib in pools]
    for lib in pools:
        lib.set_num_threads(1)
    try:
        return routine(*args, **kwargs)
    finally:
        for lib, n in zip(pools, before):
            lib.set_num_threads(n)


_KEEP = 4          # matrices whose factors are kept at once
_kept: dict = {}   # id(matrix) -> (weak reference to it, factors)


class Factors:
    """One square matrix factorized by LAPACK: Cholesky (``cho``) or LU (``lu``, ``piv``)."""

    __slots__ = ("cho", "lu", "piv", "singular")

    def __init__(self, cho=None, lu=None, piv=None, singular=False):
        self.cho, self.lu, self.piv, self.singular = cho, lu, piv, singular

    def logabsdet(self):
        """``(sign, log|det A|)`` from the diagonal of the factors."""
        if self.cho is not None:
            diag = xp.diagonal(self.cho)
            return diag.dtype.type(1), 2 * xp.log(diag).sum()
        diag = xp.diagonal(self.lu)
        swaps = xp.count_nonzero(self.piv != xp.arange(len(self.piv)))
        sign = (-1) ** (swaps % 2) * xp.prod(xp.sign(diag))
        if sign == 0:
            return sign, diag.dtype.type(-xp.inf)
        return sign, xp.log(xp.abs(diag)).sum()

    def solve(self, b, transposed=False):
        """A⁻¹ b, or A⁻ᵀ b when ``transposed`` (b a vector or a matrix of columns)."""
        self._nonsingular()
        if self.cho is not None:   # A is symmetric: Aᵀ = A
            x, info = _call(_routine("potrs", self.cho), self.cho, b, lower=1)
        else:
            x, info = _call(_routine("getrs", self.lu), self.lu, self.piv, b,
                             trans=int(transposed))
        _check(info, "solve")
        return x

    def inverse(self):
        """A⁻¹ (for Cholesky: from the lower triangle LAPACK fills, mirrored)."""
        self._nonsingular()
        if self.cho is not None:
            c, info = _call(_routine("potri", self.cho), self.cho, lower=1)
            _check(info, "inv")
            return _mirror_lower(c)
        inv, info = _call(_routine("getri", self.lu), self.lu, self.piv)
        _check(info, "inv")
        return inv

    def _nonsingular(self):
        if self.singular:  # as NumPy says it
            raise xp.linalg.LinAlgError("Singular matrix")


def _mirror_lower(c, block=64):
    """Copy the lower triangle of ``c`` onto its upper one, in place, block by block.

    (Whole-matrix ways, ``copyto(c, c.T, where=upper)`` or ``tril + tril.T``, cost
    two to ten times as much: they read ``c.T`` with a stride of a whole column.)
    """
    n = len(c)
    for i in range(0, n, block):
        for j in range(i + block, n, block):
            c[i:i + block, j:j + block] = c[j:j + block, i:i + block].T
        d = c[i:i + block, i:i + block]
        xp.copyto(d, d.T, where=_upper(len(d)))
    return c


@functools.lru_cache(maxsize=8)
def _upper(n):
    """The mask of the strict upper triangle of an n×n matrix."""
    return xp.triu(xp.ones((n, n), dtype=bool), 1)


def _routine(name, a):
    return getattr(lapack, ("s" if a.dtype == xp.float32 else "d") + name)


def _check(info, op):
    if info > 0:
        raise xp.linalg.LinAlgError("Singular matrix")
    if info < 0:  # pragma: no cover - a wrong call, not a user's matrix
        raise ValueError(f"{op}: LAPACK rejected argument {-info}")


def usable(a, b=None) -> bool:
    """Whether LAPACK here can factorize ``a`` (and solve for ``b``): SciPy, one real square matrix."""
    return (type(a) is xp.ndarray and _other_pools() is not None and lapack is not None and a.ndim == 2
            and a.shape[0] == a.shape[1] > 0 and a.dtype in (xp.float64, xp.float32)
            and (b is None or (type(b) is xp.ndarray and b.dtype == a.dtype
                               and b.ndim in (1, 2) and b.shape[0] == a.shape[0])))


def factorize(a) -> Factors:
    """Factorize ``a`` (Cholesky if it is symmetric positive definite, else LU) and keep it."""
    factors = None
    if a[0, -1] == a[-1, 0] and xp.array_equal(a, a.T):
        cho, info = _call(_routine("potrf", a), a, lower=1, clean=0)
        if info == 0:
            factors = Factors(cho=cho)
    if factors is None:
        lu, piv, info = _call(_routine("getrf", a), a)
        if info < 0:  # pragma: no cover
            raise ValueError(f"LU factorization: LAPACK rejected argument {-info}")
        factors = Factors(lu=lu, piv=piv, singular=info > 0)   # singular: raises when used
    _keep(a, factors)
    return factors


def kept(a) -> Factors | None:
    """The factors kept for this very matrix, if any."""
    entry = _kept.get(id(a))
    if entry is not None and entry[0]() is a:
        return entry[1]
    return None


def _keep(a, factors):
    key = id(a)
    _kept.pop(key, None)
    while len(_kept) >= _KEEP:
        del _kept[next(iter(_kept))]   # the oldest
    _kept[key] = (weakref.ref(a, lambda _ref, key=key: _forget(key, _ref)), factors)


def _forget(key, ref):
    entry = _kept.get(key)
    if entry is not None and entry[0] is ref:
        del _kept[key]
