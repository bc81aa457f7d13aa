"""A two-layer network: tanh hidden layer, softmax cross-entropy on integer labels."""

import numpy  # for example() only: loss() uses the np it is given


def loss(np, W1, b1, W2, b2, X, labels):
    hidden = np.tanh(X @ W1 + b1)
    logits = hidden @ W2 + b2
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    return -np.mean(log_probs[np.arange(len(X)), labels])


def example(rng):
    X = rng.normal(size=(5, 4))
    labels = numpy.array([0, 2, 1, 2, 0])
    params = (0.5 * rng.normal(size=(4, 3)), numpy.zeros(3), 0.5 * rng.normal(size=(3, 3)),
              0.1 * rng.normal(size=3))
    return params + (X, labels), (0, 1, 2, 3, 4)

