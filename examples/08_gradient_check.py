"""Gradient checking catches a wrong hand-written derivative.

softplus(x) = log(1 + e^x) has derivative sigmoid(x). Below, its reverse-mode
rule has a classic slip (sigmoid(-x)) while its forward-mode rule is right.
cr.check_grads compares both with central differences and names the culprit;
the evaluation trace shows the two modes disagreeing in one table.

Run: python examples/08_gradient_check.py
"""

import numpy as np

import chainrule as cr


@cr.primitive
def softplus(x):
    return np.logaddexp(0.0, x)


cr.defjvp(softplus, lambda t, ans, x: t * cr.sigmoid(x))      # right
cr.defvjp(softplus, lambda ans, x: lambda g: g * cr.sigmoid(-x))  # wrong: the sign of x

x = np.array([-1.0, 0.5, 2.0])
try:
    cr.check_grads(softplus, x)
except cr.GradientCheckError as error:
    print("caught:", error)
else:
    raise SystemExit("the wrong rule was not caught")

# One scalar input, one output: forward mode's tangent of the output and
# reverse mode's adjoint of the input must be the same number. They are not.
t = cr.inspect.trace(lambda x: softplus(x), 0.5)
print()
print(t)
print(f"\nforward says {t.rows[-1]['tangent']['x']:.6f}, reverse says {t['v1']['adjoint']:.6f}, "
      f"central differences say {(softplus(0.5 + 1e-6) - softplus(0.5 - 1e-6)) / 2e-6:.6f}")

cr.defvjp(softplus, lambda ans, x: lambda g: g * cr.sigmoid(x))   # fixed
cr.check_grads(softplus, x, order=2)
print("after the fix, check_grads passes (to second order)")
