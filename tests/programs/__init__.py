"""Realistic NumPy programs, written with plain ``np.`` names and nothing else.

Each module has ``loss(np, *args)`` (the program: give it ``numpy`` for its
value, ``chainrule.numpy`` to differentiate it) and ``example(rng)``, which
returns the arguments and the positions of those to differentiate.
"""

PROGRAMS = [
    "logistic_regression", "gaussian_likelihood", "two_layer_network", "softmax_attention",
    "lennard_jones", "bond_price", "portfolio", "pca_variance",
]
