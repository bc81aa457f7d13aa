"""L2-regularized logistic regression: the mean log-loss of labels y in {-1, +1}."""

import numpy  # for example() only: loss() uses the np it is given


def loss(np, w, b, X, y, lam=0.1):
    z = X @ w + b
    data_term = np.mean(np.logaddexp(0.0, -y * z))      # log(1 + e^(-y z)), stable
    return data_term + 0.5 * lam * np.dot(w, w)


def example(rng):
    X = rng.normal(size=(12, 3))
    y = numpy.sign(X @ numpy.array([1.0, -2.0, 0.5]) + 0.3 * rng.normal(size=12))
    return (rng.normal(size=3), 0.1, X, y), (0, 1)

