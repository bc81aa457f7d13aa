"""Property: random compositions of facade functions on random shapes differentiate right.

Hypothesis draws a shape and a chain of 1 to 6 NumPy calls, each with
arguments fitted to the shape it receives (axes, permutations, repeats, ...).
The chain is run with NumPy for the value and through chainrule.numpy for its
derivatives; forward mode, reverse mode and numerical differences must agree.
Derandomized, so every run checks the same examples.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
import chainrule.numpy as cnp

MAX_SIZE = 48
MAX_VALUE = 5.0


def _axis(data, ndim):
    return data.draw(st.integers(-ndim, ndim - 1))


def _axes(data, ndim):
    choice = data.draw(st.sampled_from(["none", "int", "tuple"]))
    if choice == "none" or ndim == 0:
        return None
    if choice == "int":
        return _axis(data, ndim)
    picked = data.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(picked)


# Each step: (name, applies to shape?, draw(data, shape) -> fn(np, x)).
STEPS = [
    ("tanh", lambda s: True, lambda d, s: lambda np, x: np.tanh(x)),
    ("sin", lambda s: True, lambda d, s: lambda np, x: np.sin(x) * 2.0),
    ("exp", lambda s: True, lambda d, s: lambda np, x: np.exp(0.3 * x)),
    ("square", lambda s: True, lambda d, s: lambda np, x: np.square(x) - x),
    ("sqrt", lambda s: True, lambda d, s: lambda np, x: np.sqrt(x * x + 1.0)),
    ("log1p", lambda s: True, lambda d, s: lambda np, x: np.log1p(x ** 2)),
    ("logaddexp", lambda s: True, lambda d, s: lambda np, x: np.logaddexp(x, 0.5)),
    ("divide", lambda s: True, lambda d, s: lambda np, x: x / (1.5 + np.cos(x))),
    ("sum", lambda s: True, lambda d, s: (lambda axis, keep: lambda np, x: np.sum(
        x, axis=axis, keepdims=keep))(_axes(d, len(s)), d.draw(st.booleans()))),
    ("mean", lambda s: True, lambda d, s: (lambda axis: lambda np, x: np.mean(x, axis=axis))(
        _axes(d, len(s)))),
    ("prod", lambda s: len(s) >= 1, lambda d, s: (lambda axis: lambda np, x: np.prod(
        x, axis=axis))(_axis(d, len(s)))),
    ("var", lambda s: len(s) >= 1 and min(s) >= 2, lambda d, s: (lambda axis: lambda np, x: np.var(
        x, axis=axis, keepdims=True))(_axis(d, len(s)))),
    ("transpose", lambda s: len(s) >= 2, lambda d, s: (lambda p: lambda np, x: np.transpose(
        x, p))(tuple(d.draw(st.permutations(range(len(s))))))),
    ("reshape", lambda s: True, lambda d, s: lambda np, x: np.reshape(x, (-1,))),
    ("moveaxis", lambda s: len(s) >= 2, lambda d, s: (lambda a, b: lambda np, x: np.moveaxis(
        x, a, b))(_axis(d, len(s)), _axis(d, len(s)))),
    ("expand_dims", lambda s: len(s) <= 2, lambda d, s: (lambda a: lambda np, x: np.expand_dims(
        x, a))(d.draw(st.integers(0, len(s))))),
    ("squeeze", lambda s: 1 in s, lambda d, s: lambda np, x: np.squeeze(x)),
    ("flip", lambda s: len(s) >= 1, lambda d, s: (lambda a: lambda np, x: np.flip(x, a))(
        _axes(d, len(s)))),
    ("getitem", lambda s: len(s) >= 1, lambda d, s: (lambda step: lambda np, x: x[::step])(
        d.draw(st.sampled_from([1, -1, 2, -2])))),
    ("integer_index", lambda s: len(s) >= 1, lambda d, s: (lambda idx: lambda np, x: x[idx])(
        d.draw(st.lists(st.integers(-s[0], s[0] - 1), min_size=1, max_size=4)))),
    ("cumsum", lambda s: len(s) >= 1, lambda d, s: (lambda a: lambda np, x: np.cumsum(x, a))(
        _axis(d, len(s)))),
    ("diff", lambda s: len(s) >= 1 and s[-1] >= 2, lambda d, s: lambda np, x: np.diff(x)),
    ("tile", lambda s: len(s) >= 1, lambda d, s: lambda np, x: np.tile(x, 2)),
    ("repeat", lambda s: len(s) >= 1, lambda d, s: (lambda a: lambda np, x: np.repeat(x, 2, a))(
        _axis(d, len(s)))),
    ("concatenate", lambda s: len(s) >= 1, lambda d, s: (lambda a: lambda np, x: np.concatenate(
        [x, 2 * x], axis=a))(_axis(d, len(s)))),
    ("stack", lambda s: True, lambda d, s: lambda np, x: np.stack([x, np.sin(x)], axis=-1)),
    ("split", lambda s: len(s) >= 1 and s[0] >= 2, lambda d, s: lambda np, x: np.split(
        x, [1])[1]),
    ("triu", lambda s: len(s) >= 2, lambda d, s: lambda np, x: np.triu(x) + np.tril(x, -1) * 0.5),
    ("trace", lambda s: len(s) >= 2, lambda d, s: lambda np, x: np.trace(x, axis1=-2, axis2=-1)),
    ("matmul", lambda s: len(s) >= 2, lambda d, s: lambda np, x: x @ np.swapaxes(x, -1, -2)),
    ("dot", lambda s: len(s) >= 1, lambda d, s: (lambda w: lambda np, x: np.dot(x, w))(
        np.linspace(-1.0, 1.0, 2 * s[-1]).reshape(s[-1], 2))),
    ("outer", lambda s: True, lambda d, s: lambda np, x: np.outer(x, np.arange(1.0, 3.0))),
    ("einsum", lambda s: len(s) >= 1, lambda d, s: lambda np, x: np.einsum("...i,...i->...", x, x)),
    ("tensordot", lambda s: len(s) >= 1, lambda d, s: lambda np, x: np.tensordot(x, x, len(s))),
    ("norm", lambda s: True, lambda d, s: lambda np, x: np.linalg.norm(x) + x),
    ("gram", lambda s: len(s) >= 1 and s[-1] <= 3,   # makes square matrices for inv, slogdet
     lambda d, s: lambda np, x: np.einsum("...i,...j->...ij", x, np.cos(x))),
    ("inv", lambda s: len(s) >= 2 and s[-1] == s[-2],
     lambda d, s: lambda np, x: np.linalg.inv(x @ np.swapaxes(x, -1, -2) + np.eye(s[-1]))),
    ("slogdet", lambda s: len(s) >= 2 and s[-1] == s[-2],
     lambda d, s: lambda np, x: np.linalg.slogdet(x @ np.swapaxes(x, -1, -2) + np.eye(s[-1]))[1]),
]


@st.composite
def programs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=3)))
    x = np.random.default_rng(draw(st.integers(0, 2 ** 16))).normal(size=shape)
    chain, names, value = [], [], x
    for _ in range(draw(st.integers(1, 6))):
        current = np.shape(value)
        options = [s for s in STEPS if s[1](current)]
        name, _, make = draw(st.sampled_from(options))
        step = make(_Drawer(draw), current)
        with np.errstate(all="ignore"):
            following = np.asarray(step(np, value))
        if not 0 < following.size <= MAX_SIZE or not np.all(np.abs(following) < MAX_VALUE):
            continue   # keep arrays small and values moderate (numerical differences need it)
        chain.append(step)
        names.append(name)
        value = following
    return x, chain, names


class _Drawer:
    """Lets the steps' makers call ``d.draw`` inside a composite strategy."""

    def __init__(self, draw):
        self.draw = draw


def _run(np_module, x, chain):
    for step in chain:
        x = step(np_module, x)
    return x


@settings(max_examples=800, deadline=None, derandomize=True)
@given(programs())
def test_random_compositions_agree_in_forward_reverse_and_numerical(program):
    x, chain, names = program
    expected = _run(np, x, chain)
    plain = _run(cnp, x, chain)                                            # plain arrays: NumPy
    assert type(plain) is type(expected) and np.array_equal(plain, expected), " -> ".join(names)
    traced = _run(cnp, cr.tensor(x), chain)
    np.testing.assert_allclose(np.asarray(traced), expected, rtol=1e-10, atol=1e-12,
                               err_msg=" -> ".join(names))
    try:
        cr.check_grads(lambda v: _run(cnp, v, chain), x, modes=("fwd", "rev"))
    except AssertionError as error:
        raise AssertionError(f"{' -> '.join(names)} on shape {x.shape}: {error}") from None
