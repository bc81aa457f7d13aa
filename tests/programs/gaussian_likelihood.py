"""Log marginal likelihood of a Gaussian process (RBF kernel), through a Cholesky factor."""

import numpy  # for example() only: loss() uses the np it is given


def loss(np, log_lengthscale, log_noise, X, y):
    sqdist = np.sum((X[:, np.newaxis, :] - X[np.newaxis, :, :]) ** 2, axis=-1)
    K = np.exp(-0.5 * sqdist / np.exp(2 * log_lengthscale))
    K = K + np.exp(2 * log_noise) * np.eye(len(X))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return (-0.5 * y @ alpha - np.sum(np.log(np.diag(L)))
            - 0.5 * len(X) * np.log(2 * np.pi))


def example(rng):
    X = rng.uniform(-2, 2, size=(6, 2))
    y = numpy.sin(X[:, 0]) + 0.1 * rng.normal(size=6)
    return (0.2, -1.0, X, y), (0, 1, 2, 3)

