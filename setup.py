"""The C fast path (src/chainrule/_fast.c), built where a C compiler is found.

Everything else is in pyproject.toml. Without a compiler the build skips the module
(``optional=True``) and chainrule runs its Python fast path instead.
"""

from setuptools import Extension, setup

FLAGS = [
    "-O2",
    "-ffp-contract=off",    # no a*b + c fused into one rounding: answers stay NumPy's to the bit
    "-fno-trapping-math",   # no floating-point traps to keep: compares may become vector code
]

setup(ext_modules=[Extension("chainrule._fast", ["src/chainrule/_fast.c"], optional=True,
                             extra_compile_args=FLAGS)])
