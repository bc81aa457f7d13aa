"""Forward mode gives a column of the Jacobian per pass, reverse mode a row.

g: R^3 -> R^2,  g(x) = (x0 x1 sin x2,  x0 + exp(x1 x2))

Run: python examples/05_jacobian_column_row.py
"""

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp


def g(x):
    return cnp.stack([x[0] * x[1] * cnp.sin(x[2]), x[0] + cnp.exp(x[1] * x[2])])


x = np.array([1.0, 2.0, 0.5])
np.set_printoptions(precision=6, suppress=True)

print("forward mode: one jvp per input, each gives a column J e_j")
columns = []
for j in range(3):
    e = np.zeros(3)
    e[j] = 1.0
    _, column = cr.jvp(g, (x,), (e,))
    columns.append(column)
    print(f"  J[:, {j}] = {column}")

print("reverse mode: one vjp per output, each gives a row e_k^T J")
_, pullback = cr.vjp(g, x)
rows = []
for k in range(2):
    e = np.zeros(2)
    e[k] = 1.0
    (row,) = pullback(e)
    rows.append(row)
    print(f"  J[{k}, :] = {row}")

J = cr.jacfwd(g)(x)
print("the Jacobian (cr.jacfwd):\n", J)
assert np.allclose(np.stack(columns, axis=1), J, rtol=1e-15, atol=0)
assert np.allclose(np.stack(rows), cr.jacrev(g)(x), rtol=1e-15, atol=0)
print("3 inputs, 2 outputs: reverse mode needs 2 passes, forward mode 3. For a scalar")
print("loss of a million weights that is 1 pass against a million: why training uses reverse.")
