"""p(x, y) = 6 exp(-y) / (1 + x^2 + y^2) + 2 x^3 through four intermediates z1..z4.

    z1 = exp(-y),  z2 = 1 + x^2 + y^2,  z3 = x^3,  z4 = 6 z1 / z2 + 2 z3

Each intermediate is a named scope, so the drawing can show the graph at the
level of z1..z4 (collapsed) or of single operations (expanded).

Run: python examples/03_four_intermediates.py [FOLDER]   (FOLDER: also draws two PNGs)
"""

import sys

import chainrule as cr
import chainrule.numpy as cnp


def p(x, y):
    scope, label = cr.inspect.scope, cr.inspect.label
    with scope("z1"):
        z1 = label(cnp.exp(-y), "z1")
    with scope("z2"):
        z2 = label(1 + x ** 2 + y ** 2, "z2")
    with scope("z3"):
        z3 = label(x ** 3, "z3")
    with scope("z4"):
        return 6 * z1 / z2 + 2 * z3


x, y = 0.5, 1.0
t = cr.inspect.trace(p, x, y)
print(t)

z1, z2 = t["z1"]["primal"], t["z2"]["primal"]
print("\nderivative  traced       formula")
for name, formula in [("z3", 2.0), ("z2", -6 * z1 / z2 ** 2), ("z1", 6 / z2)]:
    print(f"dz4/d{name:<6} {t[name]['adjoint']:<12.8g} {formula:.8g}")
    assert abs(t[name]["adjoint"] - formula) < 1e-14
dx = 6 * x ** 2 - 12 * x * z1 / z2 ** 2
dy = -12 * y * z1 / z2 ** 2 - 6 * z1 / z2
print(f"dz4/dx      {t.gradient[0]:<12.8g} {dx:.8g}")
print(f"dz4/dy      {t.gradient[1]:<12.8g} {dy:.8g}")
assert abs(t.gradient[0] - dx) < 1e-14 and abs(t.gradient[1] - dy) < 1e-14

if len(sys.argv) > 1:
    t.draw(expand=False).render(f"{sys.argv[1]}/p_collapsed.png", dpi=110)
    t.draw(expand=True).render(f"{sys.argv[1]}/p_expanded.png", dpi=110)
