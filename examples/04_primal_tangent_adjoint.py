"""The textbook evaluation trace of f(x1, x2) = x1 x2 + exp(x1 x2) - sin(x2) at (1.5, 0.5).

Written in the order of the usual table (v3 = v1 v2, v4 = sin v2, v5 = exp v3,
v6 = v3 - v4, v7 = v5 + v6), so the rows match it one for one.
The same table from the shell:
    chainrule trace "x1*x2 + exp(x1*x2) - sin(x2)" --at x1=1.5 --at x2=0.5

Run: python examples/04_primal_tangent_adjoint.py [FOLDER]   (FOLDER: also draws trace.png)
"""

import sys

import chainrule as cr
import chainrule.numpy as cnp


def f(x1, x2):
    v3 = x1 * x2
    v4 = cnp.sin(x2)
    v5 = cnp.exp(v3)
    v6 = v3 - v4
    return v5 + v6


t = cr.inspect.trace(f, 1.5, 0.5)
print(t)

# Forward mode: each tangent column is one pass, seeded with one input; its
# last entry is one partial derivative. Reverse mode: one pass from the output
# gives the adjoints of both inputs at once, i.e. the whole gradient.
last = t.rows[-1]
print(f"\nforward, two passes: df/dx1 = {last['tangent']['x1']:.10g}, "
      f"df/dx2 = {last['tangent']['x2']:.10g}")
print(f"reverse, one pass:   df/dx1 = {t['v1']['adjoint']:.10g}, df/dx2 = {t['v2']['adjoint']:.10g}")

if len(sys.argv) > 1:
    t.draw().render(f"{sys.argv[1]}/trace.png", dpi=110)
