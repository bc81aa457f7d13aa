"""Factorizations kept from the forward pass for the backward pass (LAPACK).

NumPy's ``linalg`` factorizes inside every call and hands back only the answer,
so a backward pass built on it factorizes the same matrix again: the rule of
``log|det A|`` needs A⁻¹, the rule of ``solve(A, B)`` solves with Aᵀ. Where a
LAPACK is reachable, ``logabsdet`` and ``solve`` factorize a 2-D matrix once and
keep the factors; the rules, which run on that same matrix, reuse them:

* an exactly symmetric positive definite matrix gets Cholesky, A = L Lᵀ
  (half the work of LU; A⁻¹ from L costs a third of a general inverse);
* any other square matrix gets LU with partial pivoting, P A = L U.

Which LAPACK (the first that works; ``CHAINRULE_LAPACK=numpy|scipy|none`` picks one):

* **numpy**: the LAPACK inside NumPy's own OpenBLAS. NumPy's wheels on Linux and
  Windows ship ``scipy-openblas64`` (``numpy.libs/``), which exports LAPACK with
  64-bit integers under ``scipy_<routine>_64_`` names; chainrule calls it with ctypes,
  checks it once on small matrices against NumPy, and so runs on the very thread pool
  NumPy's matmul uses. Nothing to install.
* **scipy**: SciPy's LAPACK wrappers (the ``linalg`` extra). SciPy's wheels bring a
  second OpenBLAS; two pools taking turns on the same cores cost milliseconds a turn
  (the idle pool's threads spin), so SciPy's is held to one thread around these calls
  (with ``threadpoolctl``; without it, SciPy is not used).
* **none**: NumPy does the work, factorizing in every call, as before.

Factors are kept for the last few matrices only, each held by a weak reference
to its matrix (when the matrix goes, so does the entry). Only the rules ask
for kept factors (``reuse=True``): a user's own ``inv(A)`` always factorizes,
so an array changed in place between two calls is never answered from a stale
factor. Stacks of matrices go to NumPy.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import weakref

from chainrule._native import FAST
from chainrule.backend import xp


# --- the LAPACKs ---------------------------------------------------------------------------------
#
# Both speak SciPy's convention: column-major (Fortran-ordered) results, pivots counted from 0,
# ``info`` last; potrf/potrs/potri work on the lower triangle.

class ScipyLapack:
    """SciPy's LAPACK wrappers, SciPy's own BLAS pool held to one thread around each call."""

    name = "scipy"

    def __init__(self, lapack, blas, pools):
        self._lapack, self._blas, self._pools = lapack, blas, pools

    def _run(self, name, dtype, *args, **kwargs):
        prefix = "s" if dtype == xp.float32 else "d"
        routine = getattr(self._lapack, prefix + name, None) or getattr(self._blas, prefix + name)
        if not self._pools:
            return routine(*args, **kwargs)
        before = [lib.get_num_threads() for lib in self._pools]
        for lib in self._pools:
            lib.set_num_threads(1)
        try:
            return routine(*args, **kwargs)
        finally:
            for lib, n in zip(self._pools, before):
                lib.set_num_threads(n)

    def potrf(self, a):
        return self._run("potrf", a.dtype, a, lower=1, clean=0)

    def potrs(self, c, b):
        return self._run("potrs", c.dtype, c, b, lower=1)

    def potri(self, c):
        return self._run("potri", c.dtype, c, lower=1)

    def getrf(self, a):
        return self._run("getrf", a.dtype, a)

    def getrs(self, lu, piv, b, transposed):
        return self._run("getrs", lu.dtype, lu, piv, b, trans=int(transposed))

    def getri(self, lu, piv):
        return self._run("getri", lu.dtype, lu, piv)

    def symm_right(self, alpha, b, c):
        """α B C for a symmetric C of which only the lower triangle is read (BLAS symm)."""
        return self._run("symm", c.dtype, alpha, c, b, side=1, lower=1)


_I64, _ADDRESS = ctypes.c_int64, ctypes.c_void_p


class NumpyLapack:
    """LAPACK from NumPy's own OpenBLAS (scipy-openblas64) through ctypes, Fortran interface.

    Every argument by reference, integers 64-bit, and one hidden length per character
    argument at the end (gfortran's convention; ignored by OpenBLAS's own C routines).
    """

    name = "numpy"

    def __init__(self, lib):
        self._lib = lib

    @functools.lru_cache(maxsize=None)
    def _routine(self, name, dtype):
        fn = getattr(self._lib, f"scipy_{'s' if dtype == xp.float32 else 'd'}{name}_64_")
        fn.restype = None
        return fn

    def _call(self, name, a, chars, *args, blas=False):
        """``name`` on ``a``'s type: ``chars`` (one-letter options), then ``args``; returns
        LAPACK's info (a BLAS routine, ``blas``, has none: 0)."""
        info = _I64(0)
        fn = self._routine(name, a.dtype)
        fn(*[ctypes.c_char_p(c.encode()) for c in chars], *[_ref(x) for x in args],
           *([] if blas else [ctypes.byref(info)]), *[ctypes.c_size_t(1) for _ in chars])
        return info.value

    def potrf(self, a):
        c = a.copy().T            # Fortran order; a is exactly symmetric here, so c equals a
        n = len(c)
        return c, self._call("potrf", c, "L", n, c, n)

    def potrs(self, c, b):
        x = _fortran_copy(b)
        n = len(c)
        return x, self._call("potrs", c, "L", n, _columns(x), c, n, x, n)

    def potri(self, c):
        inverse = xp.array(c, order="F")
        n = len(c)
        return inverse, self._call("potri", c, "L", n, inverse, n)

    def getrf(self, a):
        lu = _fortran_copy(a)
        n = len(lu)
        piv = xp.empty(n, dtype=xp.int64)
        info = self._call("getrf", lu, "", n, n, lu, n, piv)
        return lu, piv - 1, info

    def getrs(self, lu, piv, b, transposed):
        x = _fortran_copy(b)
        n = len(lu)
        return x, self._call("getrs", lu, "T" if transposed else "N", n, _columns(x), lu, n,
                             piv + 1, x, n)

    def getri(self, lu, piv):
        inverse = xp.array(lu, order="F")
        n = len(lu)
        work = xp.empty(max(1, 64 * n), dtype=lu.dtype)
        return inverse, self._call("getri", lu, "", n, inverse, n, piv + 1, work, len(work))

    def symm_right(self, alpha, b, c):
        out = xp.empty(b.shape, dtype=c.dtype, order="F")
        m, n = b.shape
        scalars = xp.array([alpha, 0.0], dtype=c.dtype)   # α and β, in c's type
        self._call("symm", c, "RL", m, n, scalars, c, n, b, m, scalars[1:], out, m, blas=True)
        return out


def _fortran_copy(a):
    """A copy of ``a`` in Fortran order, for LAPACK to overwrite.

    From C order in C where the fast path is built, block by block: NumPy's copy reads a
    whole row apart, and rows a power of two bytes apart share a few cache sets (256×256
    float64: 35 against 150 µs).
    """
    if FAST is not None and a.ndim == 2 and not a.flags.f_contiguous:
        out = xp.empty(a.shape, dtype=a.dtype, order="F")
        if FAST.copy_into(a, out):
            return out
    return xp.array(a, order="F")


def _ref(x):
    """A Fortran argument: an array's data pointer, or an integer by reference."""
    if isinstance(x, xp.ndarray):
        return _ADDRESS(x.ctypes.data)
    return ctypes.byref(_I64(x))


def _columns(b):
    return 1 if b.ndim == 1 else b.shape[1]


def _numpy_lapack():
    """NumPy's bundled OpenBLAS, if this NumPy has one with 64-bit LAPACK and it answers right."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(xp.__file__)))
    for path in sorted(glob.glob(os.path.join(here, "numpy.libs", "libscipy_openblas64_*"))):
        try:
            lib = ctypes.CDLL(path)     # already loaded by NumPy: the same library, the same pool
            names = [f"scipy_{t}{r}_64_" for t in "sd"
                     for r in ("potrf", "potrs", "potri", "getrf", "getrs", "getri", "symm")]
            if all(hasattr(lib, name) for name in names):
                candidate = NumpyLapack(lib)
                if _answers_right(candidate):
                    return candidate
        except (OSError, ValueError, AttributeError, xp.linalg.LinAlgError):
            continue
    return None


def _scipy_lapack():
    """SciPy's LAPACK, with the BLAS pools beside NumPy's (SciPy's own) found by threadpoolctl."""
    try:
        from scipy.linalg import blas, lapack
        from threadpoolctl import ThreadpoolController
        found = [lib for lib in ThreadpoolController().lib_controllers if lib.user_api == "blas"]
    except Exception:   # not installed, or the pools cannot be seen: not used
        return None
    pools = [lib for lib in found if "numpy" not in lib.filepath.lower()] if len(found) > 1 else []
    return ScipyLapack(lapack, blas, pools)


def _answers_right(lapack) -> bool:
    """Cholesky, LU, their solves and inverses, and a symmetric product on small matrices,
    against NumPy."""
    spd = xp.array([[4.0, 2.0, 0.5], [2.0, 3.0, 1.0], [0.5, 1.0, 2.0]])
    general = xp.array([[0.0, 2.0, 1.0], [3.0, 1.0, 0.0], [1.0, 0.0, 4.0]])   # needs pivoting
    rhs = xp.array([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])
    for dtype, tolerance in ((xp.float64, 1e-12), (xp.float32, 1e-5)):
        a, m, b = spd.astype(dtype), general.astype(dtype), rhs.astype(dtype)
        c, info = lapack.potrf(a)
        ok = info == 0 and xp.allclose(xp.tril(c), xp.linalg.cholesky(a), atol=tolerance)
        x, info = lapack.potrs(c, b)
        ok = ok and info == 0 and xp.allclose(x, xp.linalg.solve(a, b), atol=tolerance)
        inverse, info = lapack.potri(c)
        ok = ok and info == 0 and xp.allclose(xp.tril(inverse), xp.tril(xp.linalg.inv(a)),
                                              atol=tolerance)
        lu, piv, info = lapack.getrf(m)
        ok = ok and info == 0
        for transposed in (False, True):
            x, info = lapack.getrs(lu, piv, b[:, 0], transposed)
            ok = ok and info == 0 and xp.allclose(x, xp.linalg.solve(m.T if transposed else m,
                                                                     b[:, 0]), atol=tolerance)
        inverse, info = lapack.getri(lu, piv)
        ok = ok and info == 0 and xp.allclose(inverse, xp.linalg.inv(m), atol=tolerance)
        lower = xp.asfortranarray(xp.tril(a))                      # symm reads a's lower half
        product = lapack.symm_right(2.0, xp.asfortranarray(m), lower)
        ok = ok and xp.allclose(product, 2 * m @ a, atol=tolerance)
        if not ok:
            return False
    return True


_FOUND: dict = {}


def lapack():
    """The LAPACK the kept factorizations use (found on first use), or None."""
    if "lapack" not in _FOUND:
        choice = os.environ.get("CHAINRULE_LAPACK", "").strip().lower()
        finders = {"numpy": [_numpy_lapack], "scipy": [_scipy_lapack], "none": []}.get(
            choice, [_numpy_lapack, _scipy_lapack])
        _FOUND["lapack"] = next((found for found in (find() for find in finders) if found), None)
    return _FOUND["lapack"]


_KEEP = 4          # matrices whose factors are kept at once
_kept: dict = {}   # id(matrix) -> (weak reference to it, factors)


class Factors:
    """One square matrix factorized by ``lapack``: Cholesky (``cho``) or LU (``lu``, ``piv``)."""

    __slots__ = ("lapack", "cho", "lu", "piv", "singular", "_inverse", "_lower")

    def __init__(self, lapack, cho=None, lu=None, piv=None, singular=False):
        self.lapack, self.cho, self.lu, self.piv, self.singular = lapack, cho, lu, piv, singular
        self._inverse = None   # A⁻¹, made by the first rule that needs it whole
        self._lower = None     # A⁻¹'s lower triangle (Cholesky), for a symmetric product

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
            x, info = self.lapack.potrs(self.cho, b)
        else:
            x, info = self.lapack.getrs(self.lu, self.piv, b, transposed)
        _check(info, "solve")
        return x

    def inverse(self):
        """A⁻¹ (for Cholesky: from the lower triangle LAPACK fills, mirrored)."""
        self._nonsingular()
        if self.cho is not None:
            return _mirror_lower(self._lower_inverse())
        inverse, info = self.lapack.getri(self.lu, self.piv)
        _check(info, "inv")
        return inverse

    def solve_many(self, b, transposed=False):
        """A⁻¹ b (or A⁻ᵀ b) for many columns, as one product with A⁻¹ (made once, kept).

        For the rules only: each column's value is as accurate as a solve's (both err
        by about cond(A)·ε), its residual is not; and on OpenBLAS a triangular solve
        for n columns takes three times as long as a product. Forward solves stay solves.
        """
        if self._inverse is None:
            self._inverse = (self.inverse() if self._lower is None
                             else _mirror_lower(self._lower))   # in place: still its lower triangle
        inverse = self._inverse.T if transposed else self._inverse
        if b.shape[0] == b.shape[1] and _diagonal_only(b):   # a trace's cotangent, say:
            return inverse * xp.diagonal(b)                  # A⁻¹ D scales A⁻¹'s columns
        return xp.matmul(inverse, b)

    def solve_outer(self, g, x):
        """−A⁻¹ G Xᵀ, the solve rule's Ā (X = A⁻¹B, G its cotangent), for Cholesky factors
        and a diagonal G (a trace's cotangent, say); None for anything else.

        The rule's primitives take A⁻¹ G (A⁻¹ mirrored whole, its columns scaled), a product
        with Xᵀ and a negation: three passes over n×n arrays besides the product. Here it is
        one symmetric product (BLAS symm reads A⁻¹'s lower triangle), the scale and the sign
        in its α: Āᵀ = −X G A⁻¹.
        """
        if self.cho is None:
            return None
        n = len(self.cho)
        if (g.shape != (n, n) or x.shape != (n, n) or g.dtype != self.cho.dtype
                or x.dtype != self.cho.dtype or not _diagonal_only(g)):
            return None
        if self._lower is None and self._inverse is None:
            self._lower = self._lower_inverse()
        scale = xp.diagonal(g)
        uniform = bool((scale == scale[0]).all())          # c·I: c goes into α
        columns = x if uniform else x * scale               # X G: X's columns scaled
        alpha = -scale[0] if uniform else -1.0
        lower = self._lower if self._inverse is None else self._inverse
        return self.lapack.symm_right(alpha, xp.asfortranarray(columns), lower).T

    def _lower_inverse(self):
        """A⁻¹ from the Cholesky factor, a new array: LAPACK fills only its lower triangle."""
        c, info = self.lapack.potri(self.cho)
        _check(info, "inv")
        return c

    def _nonsingular(self):
        if self.singular:  # as NumPy says it
            raise xp.linalg.LinAlgError("Singular matrix")


def solve_outer(a, g, x):
    """The solve rule's Ā = −A⁻¹ G Xᵀ in one product from ``a``'s kept factors, where
    ``Factors.solve_outer`` can (arrays only: with Tensors the rule's primitives record
    their graph, to be differentiated again); None otherwise."""
    if not (isinstance(g, xp.ndarray) and isinstance(x, xp.ndarray)):
        return None
    factors = kept(a)
    return None if factors is None else factors.solve_outer(g, x)


def _mirror_lower(c, block=64):
    """Copy the lower triangle of ``c`` onto its upper one, in place, block by block.

    In C where the fast path is built. (Whole-matrix ways, ``copyto(c, c.T, where=upper)``
    or ``tril + tril.T``, cost two to ten times as much as the blocks: they read ``c.T``
    with a stride of a whole column.)
    """
    if FAST is not None and FAST.mirror_lower(c):
        return c
    n = len(c)
    for i in range(0, n, block):
        for j in range(i + block, n, block):
            c[i:i + block, j:j + block] = c[j:j + block, i:i + block].T
        d = c[i:i + block, i:i + block]
        xp.copyto(d, d.T, where=_upper(len(d)))
    return c


def _symmetric(a, block=64):
    """Whether ``a`` equals its transpose exactly, compared block by block (as _mirror_lower).

    In C where the fast path is built (a third of the time at 256×256); here otherwise.
    """
    if FAST is not None:
        answer = FAST.symmetric(a)
        if answer is not None:
            return answer
    if a[0, -1] != a[-1, 0]:
        return False
    n = len(a)
    for i in range(0, n, block):
        for j in range(i, n, block):
            if not xp.array_equal(a[i:i + block, j:j + block], a[j:j + block, i:i + block].T):
                return False
    return True


def _diagonal_only(b):
    """Whether every entry of the matrix ``b`` off its main diagonal is zero (NaN is not)."""
    answer = FAST.diagonal_only(b) if FAST is not None else None
    if answer is None:
        answer = xp.count_nonzero(b) == xp.count_nonzero(xp.diagonal(b))
    return answer


@functools.lru_cache(maxsize=8)
def _upper(n):
    """The mask of the strict upper triangle of an n×n matrix."""
    return xp.triu(xp.ones((n, n), dtype=bool), 1)


def _check(info, op):
    if info > 0:
        raise xp.linalg.LinAlgError("Singular matrix")
    if info < 0:  # pragma: no cover - a wrong call, not a user's matrix
        raise ValueError(f"{op}: LAPACK rejected argument {-info}")


def usable(a, b=None) -> bool:
    """Whether a LAPACK here can factorize ``a`` (and solve for ``b``): one real square matrix."""
    return (type(a) is xp.ndarray and lapack() is not None and a.ndim == 2
            and a.shape[0] == a.shape[1] > 0 and a.dtype in (xp.float64, xp.float32)
            and (b is None or (type(b) is xp.ndarray and b.dtype == a.dtype
                               and b.ndim in (1, 2) and b.shape[0] == a.shape[0])))


def factorize(a) -> Factors:
    """Factorize ``a`` (Cholesky if it is symmetric positive definite, else LU) and keep it."""
    factors, found = None, lapack()
    if _symmetric(a):
        cho, info = found.potrf(a)
        if info == 0:
            factors = Factors(found, cho=cho)
    if factors is None:
        lu, piv, info = found.getrf(a)
        if info < 0:  # pragma: no cover
            raise ValueError(f"LU factorization: LAPACK rejected argument {-info}")
        factors = Factors(found, lu=lu, piv=piv, singular=info > 0)   # singular: raises when used
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
