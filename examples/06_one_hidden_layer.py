"""A network with one hidden layer, y = W1 sigmoid(W0 x + b0) + b1: gradients by hand and by chainrule.

Run: python examples/06_one_hidden_layer.py [FOLDER]   (FOLDER: also draws one_hidden_layer.png)
"""

import sys

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp

# A layer on its own first: 4 sigmoid units, 3 inputs, two samples as the columns of A_prev.
W = np.array([[1, -1, -0.5], [1, 0.5, -1], [-0.2, 0.3, 0.5], [-1, 1, 1]])
b = np.array([[-1], [-1], [1], [1]])
A_prev = np.array([[1, -1, -0.5], [-1, -0.5, 1]]).T
Z = cnp.matmul(W, A_prev) + b  # b is broadcast along the batch axis
print("Z = W A_prev + b =\n", Z, "\nA = sigmoid(Z) =\n", np.round(cr.sigmoid(Z), 2))

# Now d = 2 inputs, h = 4 hidden units and a single linear output unit.
rng = np.random.default_rng(0)
params = {"W0": rng.normal(size=(4, 2)), "b0": rng.normal(size=4),
          "W1": rng.normal(size=(1, 4)), "b1": rng.normal(size=1)}
x = np.array([0.5, -1.0])


def net(params, x):
    with cr.inspect.scope("hidden"):
        z = cr.sigmoid(params["W0"] @ x + params["b0"])
    with cr.inspect.scope("output"):
        y = params["W1"] @ z + params["b1"]
    return y[0]


grads = cr.grad(net)(params, x)

# The same by hand: dy/dW1 = z, dy/db1 = 1, and with delta = W1 * z * (1 - z)
# (elementwise), dy/dW0 = delta x^T and dy/db0 = delta.
z = 1 / (1 + np.exp(-(params["W0"] @ x + params["b0"])))
delta = params["W1"][0] * z * (1 - z)
by_hand = {"W0": np.outer(delta, x), "b0": delta, "W1": z[None, :], "b1": np.ones(1)}
np.set_printoptions(precision=5, suppress=True)
for name in params:
    print(f"dy/d{name} =", grads[name].ravel(), " by hand:", by_hand[name].ravel())
    assert np.allclose(grads[name], by_hand[name], rtol=1e-14, atol=1e-15)

trace = cr.inspect.trace(net, params, x)
print()
print(trace)
if len(sys.argv) > 1:
    trace.draw(expand=False).render(f"{sys.argv[1]}/one_hidden_layer.png", dpi=110)
