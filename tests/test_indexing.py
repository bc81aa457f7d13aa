"""Differentiable indexing and assignment-free updates.

Reading ``x[index]`` sends the gradient back to the entries read, adding where
an entry is read more than once; writing is functional (``cr.index_update``,
``x.at[i].set(v)`` / ``.add(v)``); writing in place into a tensor a graph can
see raises and points to the functional form.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import chainrule as cr
import chainrule.numpy as cnp

x = np.arange(12.0).reshape(3, 4) / 10

INDICES = [
    (slice(None, None, 2), slice(None, None, -1)),       # steps, negative steps
    (slice(-1, None, -2), -1),                           # negative start and index
    (Ellipsis, 1),
    (None, 1, slice(1, 3)),
    x > 0.5,                                             # a boolean mask
    (np.array([True, False, True]), slice(1, None)),
    ([0, 0, 2, 0],),                                     # repeated integer indices
    ([2, 0, 2], [1, 1, 3]),
    (slice(None), [3, -1, 0, 3]),
    (np.array([[0, 1], [1, 0]]), np.array([[2, 2], [3, 3]])),
]


@pytest.mark.parametrize("index", INDICES, ids=range(len(INDICES)))
def test_reading_gives_numpys_entries_and_the_counting_gradient(index):
    assert_allclose(cr.tensor(x)[index].numpy(), x[index])
    g = cr.grad(lambda x: cnp.sum(x[index]))(x)
    counts = np.zeros_like(x)
    np.add.at(counts, index, 1.0)                       # how often each entry is read
    assert_allclose(g, counts)
    cr.check_grads(lambda x: x[index] ** 2, x, order=2)


def test_repeated_indices_accumulate_in_both_modes():
    v = np.array([1.0, 2.0, 3.0])
    f = lambda v: v[[0, 0, 0, 2]] * np.array([1.0, 2.0, 3.0, 4.0])   # noqa: E731
    assert_allclose(cr.grad(lambda v: cnp.sum(f(v)))(v), [6.0, 0.0, 4.0])
    assert_allclose(cr.jacfwd(f)(v), cr.jacrev(f)(v))


def test_index_update_replaces_entries_and_routes_gradients():
    base, value = np.ones((2, 3)), np.array([5.0, 6.0])
    out = cr.index_update(cr.tensor(base), (slice(None), 1), cr.tensor(value))
    expected = base.copy()
    expected[:, 1] = value
    assert_allclose(out.numpy(), expected)
    gx, gv = cr.grad(lambda b, v: cnp.sum(cr.index_update(b, (slice(None), 1), v) * expected),
                     argnums=(0, 1))(base, value)
    assert_allclose(gx, np.where(np.arange(3) == 1, 0.0, expected))   # overwritten: no gradient
    assert_allclose(gv, value)
    cr.check_grads(lambda b, v: cr.index_update(b, (slice(None), 1), v), base, value, order=2)


def test_index_update_broadcasts_a_scalar_value_and_sums_its_gradient():
    g = cr.grad(lambda s: cnp.sum(cr.index_update(np.zeros(5), slice(1, 4), s)))(2.0)
    assert g == 3.0


def test_at_set_add_and_get_are_functional_updates():
    t = cr.tensor([1.0, 2.0, 3.0])
    assert t.at[1].set(9.0).tolist() == [1.0, 9.0, 3.0]
    assert t.at[[0, 0, 2]].add(1.0).tolist() == [3.0, 2.0, 4.0]     # accumulates, like add.at
    assert t.at[::-1].get().tolist() == [3.0, 2.0, 1.0]
    assert t.tolist() == [1.0, 2.0, 3.0]                          # nothing changed in place


def test_at_updates_differentiate_in_both_modes_to_second_order():
    v = np.array([0.5, -1.0, 2.0, 1.5])

    def f(v):
        v = v if isinstance(v, cr.Tensor) else cr.tensor(v)   # numerical differences pass arrays
        y = v.at[1:3].set(v[0] * v[3])
        return y.at[np.array([0, 0, 3])].add(v[1:] ** 2)

    cr.check_grads(f, v, order=2)


def test_numpy_style_assignment_loop_becomes_index_update():
    # NumPy:  out = np.zeros(n); for i in range(n): out[i] = x[i] * x[i - 1]
    def f(x):
        out = cnp.zeros(len(x))
        for i in range(len(x)):
            out = cr.index_update(out, i, x[i] * x[i - 1])
        return out

    x = np.array([1.0, 2.0, 3.0])
    assert_allclose(f(x), x * np.roll(x, 1))
    cr.check_grads(f, x, order=2)


def test_in_place_assignment_into_a_graph_tensor_raises_and_names_index_update():
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match=r"cr\.index_update\(x, index, value\)"):
        y[0] = 5.0
    with pytest.raises(RuntimeError, match="index_update"):
        cr.grad(lambda v: v.__setitem__(0, 1.0))(np.array([1.0]))


def test_in_place_assignment_into_a_plain_tensor_works_like_numpy():
    t = cr.tensor([1.0, 2.0, 3.0])
    t[[0, 2]] = 7.0
    assert t.tolist() == [7.0, 2.0, 7.0]
