"""Potential energy of a Lennard-Jones cluster (the forces are minus its gradient)."""

import numpy  # for example() only: loss() uses the np it is given


def loss(np, positions, epsilon=1.0, sigma=1.0):
    n = positions.shape[0]
    diff = positions[:, np.newaxis, :] - positions[np.newaxis, :, :]
    r2 = np.sum(diff ** 2, axis=-1) + np.eye(n)           # the eye keeps r² off 0 on the diagonal
    inv6 = (sigma ** 2 / r2) ** 3
    pair = 4 * epsilon * (inv6 ** 2 - inv6)
    return np.sum(np.triu(pair, k=1))


def example(rng):
    grid = numpy.array([[0.0, 0, 0], [1.1, 0, 0], [0, 1.2, 0], [0, 0, 1.15]])
    return (grid + 0.05 * rng.normal(size=grid.shape), 1.0, 1.0), (0, 1, 2)

