"""A one-weight logistic model with squared error and an L2 penalty, by hand and by trace.

    z = w x + b,  y = sigmoid(z),  L = (y - t)^2 / 2,  R = w^2 / 2,  L_reg = L + lambda R

Run: python examples/02_logistic_regularized.py [FOLDER]   (FOLDER: also draws logistic.png)
"""

import math
import sys

import chainrule as cr

x, t, lam = 1.5, 1.0, 0.1  # one training example and the penalty's weight: constants


def regularized_loss(w, b):
    label = cr.inspect.label
    z = label(w * x + b, "z")
    y = label(cr.sigmoid(z), "y")
    L = label(0.5 * (y - t) ** 2, "L")
    R = label(0.5 * w ** 2, "R")
    return label(L + lam * R, "L_reg")


trace = cr.inspect.trace(regularized_loss, 0.5, -1.0)
print(trace)

# The same derivatives written out with the chain rule. Note how dL/dz is
# shared by both partials: backpropagation computes it once.
w, b = 0.5, -1.0
y = 1 / (1 + math.exp(-(w * x + b)))
dL_dz = (y - t) * y * (1 - y)
by_hand = (dL_dz * x + lam * w, dL_dz)
print(f"\nby hand:    dL_reg/dw = {by_hand[0]:.10f}, dL_reg/db = {by_hand[1]:.10f}")
print(f"from trace: dL_reg/dw = {trace.gradient[0]:.10f}, dL_reg/db = {trace.gradient[1]:.10f}")
assert all(abs(a - b) < 1e-15 for a, b in zip(by_hand, trace.gradient))
assert abs(trace["z"]["adjoint"] - dL_dz) < 1e-15

if len(sys.argv) > 1:
    trace.draw().render(f"{sys.argv[1]}/logistic.png", dpi=110)
