"""cr.optim: each optimizer against updates computed by hand, schedules, clipping, state."""

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def _param(values):
    return cr.tensor(np.array(values, dtype=np.float64), requires_grad=True)


def _run(opt, p, grads):
    """Apply ``opt`` with the given successive gradients; return the values after each step."""
    values = []
    for g in grads:
        p.grad = cr.tensor(np.array(g, dtype=np.float64))
        opt.step()
        values.append(p.numpy().copy())
    return values


GRADS = [[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0]]


def test_sgd_is_w_minus_lr_g():
    p = _param([1.0, 2.0])
    out = _run(optim.SGD([p], lr=0.1), p, GRADS[:1])
    np.testing.assert_allclose(out[0], [0.9, 2.2])


def test_plain_sgd_is_numpys_update_to_the_last_bit_and_keeps_no_buffers():
    rng = np.random.default_rng(0)
    w, g = rng.normal(size=(64, 33)).astype(np.float32), rng.normal(size=(64, 33)).astype(np.float32)
    p = cr.tensor(w.copy(), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = cr.tensor(g)
    opt.step()
    expected = w.copy()
    expected -= np.float32(0.1) * g                     # what NumPy by hand writes
    assert p.dtype == np.float32 and np.array_equal(p.numpy(), expected)
    assert opt.state[0] == {}                           # no scratch array the size of w


def test_sgd_momentum_by_hand():
    p = _param([1.0, 2.0])
    out = _run(optim.SGD([p], lr=0.1, momentum=0.9), p, GRADS)
    v1 = np.array(GRADS[0])
    v2 = 0.9 * v1 + GRADS[1]
    v3 = 0.9 * v2 + GRADS[2]
    w = np.array([1.0, 2.0])
    expected = [w - 0.1 * v1, w - 0.1 * (v1 + v2), w - 0.1 * (v1 + v2 + v3)]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_sgd_nesterov_and_weight_decay_by_hand():
    p = _param([1.0, 2.0])
    out = _run(optim.SGD([p], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.01), p, GRADS)
    w, v = np.array([1.0, 2.0]), np.zeros(2)
    for step, g in enumerate(GRADS):
        d = np.array(g) + 0.01 * w
        v = d if step == 0 else 0.5 * v + d
        w = w - 0.1 * (d + 0.5 * v)
        np.testing.assert_allclose(out[step], w, rtol=1e-12)


def _adam_by_hand(w, grads, lr, b1, b2, eps, wd=0.0, decoupled=False):
    m, v, out = np.zeros_like(w), np.zeros_like(w), []
    for t, g in enumerate(grads, start=1):
        g = np.array(g)
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(w)
    return out


@pytest.mark.parametrize("cls,wd", [(optim.Adam, 0.0), (optim.Adam, 0.1), (optim.AdamW, 0.1)])
def test_adam_and_adamw_by_hand(cls, wd):
    p = _param([1.0, 2.0])
    out = _run(cls([p], lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=wd), p, GRADS)
    expected = _adam_by_hand(np.array([1.0, 2.0]), GRADS, 0.01, 0.8, 0.9, 1e-6, wd,
                             decoupled=cls is optim.AdamW)
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_the_first_adam_step_moves_each_entry_by_about_lr():
    p = _param([1.0, -1.0, 5.0])
    _run(optim.Adam([p], lr=0.01), p, [[1e-3, -50.0, 7.0]])
    np.testing.assert_allclose(p.numpy(), [0.99, -0.99, 4.99], rtol=1e-5)


def test_step_updates_in_place_and_reuses_its_buffers():
    p = cr.tensor(np.ones((4, 3), np.float32), requires_grad=True)
    address = p.numpy().__array_interface__["data"][0]
    for opt in (optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), optim.Adam([p])):
        buffers = None
        for _ in range(3):
            p.grad = cr.tensor(np.full((4, 3), 0.5, np.float32))
            opt.step()
            current = {k: id(v) for k, v in opt.state[0].items()}
            assert buffers is None or current == buffers
            buffers = current
        assert p.numpy().__array_interface__["data"][0] == address
        assert p.dtype == np.float32 and all(v.dtype == np.float32 for v in opt.state[0].values())


def test_zero_grad_forgets_gradients_and_params_without_grad_are_left_alone():
    a, b = _param([1.0]), _param([2.0])
    opt = optim.SGD([a, b], lr=1.0)
    (a * 3).sum().backward()
    opt.step()
    assert a.item() == -2.0 and b.item() == 2.0
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_the_update_is_refused_while_gradients_are_recorded_only_outside_step():
    p = _param([1.0])
    with pytest.raises(RuntimeError, match="no_grad"):
        p.sub_(1.0)
    p.grad = cr.tensor([1.0])
    optim.SGD([p], lr=0.5).step()  # step wraps itself in no_grad
    assert p.item() == 0.5


def test_clip_grad_norm_scales_to_the_global_norm():
    a, b = _param([3.0, 0.0]), _param([0.0, 4.0])
    a.grad, b.grad = cr.tensor([3.0, 0.0]), cr.tensor([0.0, 4.0])
    assert optim.clip_grad_norm([a, b], 10.0) == pytest.approx(5.0)
    assert a.grad.tolist() == [3.0, 0.0]
    assert optim.clip_grad_norm([a, b], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose([a.grad.tolist(), b.grad.tolist()], [[0.6, 0], [0, 0.8]])
    assert optim.global_norm([a, b]) == pytest.approx(1.0)
    p = _param([0.0, 0.0])
    _run(optim.SGD([p], lr=1.0, clipnorm=1.0), p, [[30.0, 40.0]])
    np.testing.assert_allclose(p.numpy(), [-0.6, -0.8])


def test_schedules_give_the_documented_rates():
    def rates(make, n=6):
        opt = optim.SGD(lr=0.1)
        schedule = make(opt)
        seen = [opt.lr]
        for _ in range(n - 1):
            seen.append(schedule.step())
        assert seen == [schedule.lr_at(e) for e in range(n)]
        return seen

    np.testing.assert_allclose(rates(lambda o: optim.StepLR(o, 2, gamma=0.5)),
                               [0.1, 0.1, 0.05, 0.05, 0.025, 0.025])
    np.testing.assert_allclose(rates(lambda o: optim.ExponentialLR(o, 0.9)),
                               [0.1 * 0.9 ** e for e in range(6)])
    np.testing.assert_allclose(rates(lambda o: optim.CosineAnnealingLR(o, 4, eta_min=0.01)),
                               [0.01 + 0.09 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2
                                for e in range(6)])
    np.testing.assert_allclose(rates(lambda o: optim.LambdaLR(o, lambda e: 1 / (1 + e))),
                               [0.1 / (1 + e) for e in range(6)])


def test_a_schedule_is_a_fit_callback():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)).astype(np.float32), rng.integers(0, 2, 20)
    model = nn.Sequential([nn.Dense(2, "softmax", input_dim=3)], seed=0)
    model.compile(optimizer=optim.SGD(lr=0.1))
    schedule = optim.StepLR(model.optimizer, step_size=1, gamma=0.5)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[schedule])
    assert model.optimizer.lr == pytest.approx(0.1 * 0.5 ** 3)
    model.fit(x, y, epochs=4, initial_epoch=3, verbose=0, callbacks=[schedule])  # resumed
    assert model.optimizer.lr == pytest.approx(0.1 * 0.5 ** 4)


def test_state_dict_round_trip_continues_identically():
    def make():
        p = _param([1.0, 2.0])
        return p, optim.Adam([p], lr=0.1)

    p1, opt1 = make()
    _run(opt1, p1, GRADS[:2])
    p2, opt2 = make()
    with cr.no_grad():
        p2.copy_(p1.numpy())
    opt2.load_state_dict(opt1.state_dict())
    assert opt2.iterations == 2
    np.testing.assert_array_equal(_run(opt1, p1, GRADS[2:]), _run(opt2, p2, GRADS[2:]))
    with pytest.raises(ValueError, match="state for 1 parameters"):
        optim.Adam([p1, p2]).load_state_dict(opt1.state_dict())


@pytest.mark.parametrize("name,lr", [("sgd", 0.1), ("momentum", 0.05), ("nesterov", 0.05),
                                     ("adam", 0.1), ("adamw", 0.1)])
def test_every_optimizer_minimizes_a_quadratic(name, lr):
    p = _param([3.0, -2.0])
    opt = optim.get(name, lr=lr)
    opt.bind([p])
    for _ in range(300):
        opt.zero_grad()
        ((p - 1.0) ** 2).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0, 1.0], atol=0.05 if name == "adamw" else 1e-3)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="lr must be positive"):
        optim.SGD(lr=0)
    with pytest.raises(ValueError, match="Nesterov momentum needs momentum"):
        optim.SGD(lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam(betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        optim.get("rmsprop")
    with pytest.raises(ValueError, match="no parameters"):
        optim.SGD(lr=0.1).step()
    with pytest.raises(ValueError, match="not a leaf tensor with requires_grad"):
        optim.SGD([cr.tensor([1.0])], lr=0.1)
    with pytest.raises(TypeError, match="expected an optimizer"):
        optim.StepLR("adam", 2)


def test_optimizer_made_before_the_first_call_finds_lazily_built_weights():
    import chainrule as cr
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=16)
    model = cr.nn.Sequential([cr.nn.Dense(8, activation="tanh"), cr.nn.Dense(3)], seed=0)
    opt = cr.optim.SGD(model.parameters(), lr=0.5)
    assert opt.params == []                       # no weights before the first batch
    losses = []
    for _ in range(20):
        loss = cr.nn.losses.softmax_cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert len(opt.params) == 4 and losses[-1] < 0.7 * losses[0]
