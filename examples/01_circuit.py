"""f = (x + y) z at x=1, y=2, z=3: the smallest graph where a gradient is shared.

Run: python examples/01_circuit.py [FOLDER]   (with FOLDER, also draws circuit.png there)
"""

import sys

import chainrule as cr


def f(x, y, z):
    m = cr.inspect.label(x + y, "m")  # the name the course gives this intermediate
    return m * z


t = cr.inspect.trace(f, 1.0, 2.0, 3.0)
print(t)

# Backward: f = m z, so the adjoint of m is z = 3 and that of z is m = 3.
# An addition hands its adjoint unchanged to both inputs: x and y get 3 too.
assert t["m"]["adjoint"] == 3.0
assert t.gradient == (3.0, 3.0, 3.0)

if len(sys.argv) > 1:
    t.draw().render(f"{sys.argv[1]}/circuit.png", dpi=110)
