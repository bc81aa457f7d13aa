"""Why weights are not initialized to zero: every hidden unit stays the same unit.

A 2-4-1 network (sigmoid hidden layer, linear output, squared error) trained
by plain gradient descent, once from all-zero weights and once from small
random ones. From zeros, all hidden units get the same gradient at every step,
so they stay copies of each other: the network behaves as if it had one unit.

Run: python examples/07_zero_init_symmetry.py
"""

import numpy as np

import chainrule as cr
import chainrule.numpy as cnp

rng = np.random.default_rng(0)
X = rng.uniform(-2, 2, size=(40, 2))
y = np.sin(X[:, :1]) * np.cos(X[:, 1:])  # a target one sigmoid unit cannot fit


def loss(p):
    hidden = cr.sigmoid(X @ p["W0"].T + p["b0"])
    out = hidden @ p["W1"].T + p["b1"]
    return cnp.mean((out - y) ** 2)


def train(p, steps=500, lr=0.2):
    for _ in range(steps):
        g = cr.grad(loss)(p)
        p = {k: p[k] - lr * g[k] for k in p}
    return p


def spread(W):
    """The largest difference between two hidden units' weights."""
    return float(np.max(W.max(axis=0) - W.min(axis=0)))


zeros = {"W0": np.zeros((4, 2)), "b0": np.zeros(4), "W1": np.zeros((1, 4)), "b1": np.zeros(1)}
g = cr.grad(loss)(zeros)
print("first gradient from zeros:")
print("  dW0 =", np.array2string(g["W0"], precision=6).replace("\n", ""))
print("  dW1 =", np.array2string(g["W1"], precision=6))

for name, start in [("zeros", zeros),
                    ("random", {k: 0.5 * rng.standard_normal(v.shape) for k, v in zeros.items()})]:
    p = train(start)
    print(f"\nstarting from {name}: loss {float(loss(start)):.4f} -> {float(loss(p)):.4f}")
    print("  W0 (one row per hidden unit):")
    for row in p["W0"]:
        print("   ", np.array2string(row, precision=6))
    print("  W1:", np.array2string(p["W1"][0], precision=6))
    print(f"  largest difference between hidden units: W0 {spread(p['W0']):.2e}, "
          f"W1 {spread(p['W1'].T):.2e}")
    if name == "zeros":
        assert spread(p["W0"]) == 0.0 and spread(p["W1"].T) == 0.0
