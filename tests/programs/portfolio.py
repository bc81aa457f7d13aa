"""Mean-variance utility of a long-only portfolio (weights as a softmax of scores)."""


def loss(np, scores, mean_returns, cov, risk_aversion=3.0):
    w = np.exp(scores - np.max(scores))
    w = w / np.sum(w)
    expected = w @ mean_returns
    variance = w @ cov @ w
    return expected - 0.5 * risk_aversion * variance


def example(rng):
    A = rng.normal(size=(4, 4))
    return (rng.normal(size=4), 0.05 + 0.02 * rng.normal(size=4), 0.01 * A @ A.T), (0, 1, 2)
