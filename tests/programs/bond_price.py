"""The price of a coupon bond discounted along a curve of one-year forward rates."""


def loss(np, forward_rates, coupon=5.0, face=100.0):
    discount = np.exp(-np.cumsum(forward_rates))          # P(t) = exp(-sum of forwards up to t)
    cash_flows = np.full(forward_rates.shape, coupon)
    cash_flows[-1] += face                                 # a plain array: NumPy in place is fine
    return np.dot(cash_flows, discount)


def example(rng):
    return (0.03 + 0.01 * rng.uniform(size=5),), (0,)
