"""cr.nn: layers, initializers, losses, training, saving: the course's MLP workflow."""

import io
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import chainrule as cr
import chainrule.numpy as cnp
from chainrule import nn, optim
from chainrule.data import digits


@pytest.fixture(scope="module")
def small_digits():
    data = digits()
    return data


def _blobs(n=120, seed=0):
    """Three separable clusters in 2-D, as float32 inputs and int labels."""
    rng = np.random.default_rng(seed)
    centers = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.5]])
    y = rng.integers(0, 3, size=n)
    x = centers[y] + 0.4 * rng.normal(size=(n, 2))
    return x.astype(np.float32), y


# --- gradient checking (the course's "gradient checking for debugging") ---------------------

def _loss_of_parameters(model, x, y):
    targets = model.loss.targets(y, model.output_dim)

    def loss(params):
        with model.substituted(params):
            return model.compute_loss(x, targets)[0]
    return loss


@pytest.mark.parametrize("hidden,last,loss", [
    ("tanh", "softmax", "cross_entropy"),
    ("sigmoid", "sigmoid", "half_mse"),
    ("relu", "sigmoid", "binary_crossentropy"),
])
def test_gradient_check_of_model_loss_wrt_every_parameter_in_one_call(hidden, last, loss):
    rng = np.random.default_rng(0)
    outputs = 1 if loss == "binary_crossentropy" else 3
    model = nn.Sequential([nn.Dense(5, hidden, input_dim=4), nn.Dense(4, hidden),
                           nn.Dense(outputs, last)], seed=0)
    model.compile(loss=loss, optimizer="sgd")
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, outputs if outputs > 1 else 2, size=6)
    params = [p.numpy().astype(np.float64) for p in model.parameters()]
    assert len(params) == 6
    cr.check_grads(_loss_of_parameters(model, x, y), params, modes=("rev", "fwd"))


def test_gradient_check_catches_a_wrong_parameter_gradient():
    model = nn.Sequential([nn.Dense(3, "tanh", input_dim=2), nn.Dense(2, "softmax")], seed=0)
    model.compile(loss="cross_entropy", optimizer="sgd")
    x, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    good = _loss_of_parameters(model, x, y)

    @cr.primitive(register=False)
    def leaky(z):
        return z

    cr.defvjp(leaky, lambda ans, z: lambda g: 2 * g)  # wrong: should be g
    cr.defjvp(leaky, lambda g, ans, z: 2 * g)

    def bad(params):
        return leaky(good(params))

    with pytest.raises(cr.GradientCheckError):
        cr.check_grads(bad, [p.numpy().astype(np.float64) for p in model.parameters()])


def test_model_gradient_matches_the_course_backprop_formulas():
    """dW = aᵀ·δ/N, db = Σδ/N with δ = ŷ − y at a softmax output (rows are samples)."""
    rng = np.random.default_rng(1)
    model = nn.Sequential([nn.Dense(4, "sigmoid", input_dim=3), nn.Dense(3, "softmax")], seed=1)
    model.compile(loss="cross_entropy", optimizer="sgd")
    x, y = rng.normal(size=(5, 3)).astype(np.float32), np.array([0, 2, 1, 1, 0])
    loss, _ = model.compute_loss(x, model.loss.targets(y, 3))
    loss.backward()
    W1, b1, W2, b2 = (p.numpy().astype(np.float64) for p in model.parameters())
    a1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
    z2 = a1 @ W2 + b2
    y_hat = np.exp(z2 - z2.max(1, keepdims=True))
    y_hat /= y_hat.sum(1, keepdims=True)
    delta2 = (y_hat - np.eye(3)[y]) / len(x)
    delta1 = (delta2 @ W2.T) * a1 * (1 - a1)
    expected = [x.T @ delta1, delta1.sum(0), a1.T @ delta2, delta2.sum(0)]
    for p, g in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-4, atol=1e-6)


# --- the fused loss -------------------------------------------------------------------------

def test_fused_cross_entropy_gradient_is_softmax_minus_one_hot_over_batch():
    logits = cr.tensor(np.array([[3.0, 1.0, -2.0], [0.5, 0.5, 4.0]]), requires_grad=True)
    loss = nn.softmax_cross_entropy(logits, [0, 1])
    loss.backward()
    s = cr.softmax(logits).numpy()
    np.testing.assert_allclose(logits.grad.numpy(), (s - np.eye(3)[[0, 1]]) / 2, atol=1e-12)
    assert loss.numpy() == pytest.approx(-np.mean(np.log(s[[0, 1], [0, 1]])))


def test_cross_entropy_is_finite_for_logits_of_any_magnitude():
    logits = cr.tensor(np.array([[1e4, -1e4, 0.0], [-1e30, 1e30, 5.0]], np.float32),
                       requires_grad=True)
    loss = nn.softmax_cross_entropy(logits, [1, 1])
    loss.backward()
    assert np.isfinite(loss.numpy()) and np.all(np.isfinite(logits.grad.numpy()))
    assert loss.numpy() == pytest.approx(1e4, rel=1e-6)
    bce = nn.binary_cross_entropy(cr.tensor(np.array([1e4, -1e4], np.float32)), [0, 1])
    assert bce.numpy() == pytest.approx(1e4, rel=1e-6)


def test_softmax_output_model_computes_the_loss_from_logits():
    x, y = _blobs(20)
    model = nn.Sequential([nn.Dense(6, "relu", input_dim=2), nn.Dense(3, "softmax")], seed=0)
    model.compile(loss="cross_entropy")
    loss, outputs = model.compute_loss(x, model.loss.targets(y, 3))
    np.testing.assert_allclose(outputs.numpy(), model.logits(x).numpy())
    assert loss.numpy() == pytest.approx(nn.softmax_cross_entropy(model.logits(x), y).numpy())
    probabilities = model.predict(x)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probabilities, cr.softmax(model.logits(x)).numpy(), rtol=1e-6)


def test_half_mean_squared_error_has_the_course_gradient():
    y_hat = cr.tensor(np.array([[1.0, 2.0], [0.0, -1.0], [3.0, 3.0]]), requires_grad=True)
    y = np.array([[0.0, 2.0], [1.0, 1.0], [3.0, 0.0]])
    loss = nn.mean_squared_error(y_hat, y, half=True)
    loss.backward()
    assert loss.item() == pytest.approx(0.5 * np.sum((y_hat.numpy() - y) ** 2) / 3)
    np.testing.assert_allclose(y_hat.grad.numpy(), (y_hat.numpy() - y) / 3)
    assert nn.mean_squared_error(y_hat, y).item() == pytest.approx(np.mean((y_hat.numpy() - y) ** 2))


def test_l2_regularizer_adds_lambda_times_sum_of_squared_weights():
    x, y = _blobs(10)
    plain = nn.Sequential([nn.Dense(4, "tanh", input_dim=2), nn.Dense(3, "softmax")], seed=3)
    decayed = nn.Sequential([nn.Dense(4, "tanh", input_dim=2, kernel_regularizer=nn.L2(0.1)),
                             nn.Dense(3, "softmax", kernel_regularizer=0.1)], seed=3)
    for model in (plain, decayed):
        model.compile(loss="cross_entropy")
    targets = plain.loss.targets(y, 3)
    penalty = 0.1 * sum(np.sum(layer.kernel.numpy() ** 2) for layer in plain.layers)
    assert decayed.compute_loss(x, targets)[0].item() == pytest.approx(
        plain.compute_loss(x, targets)[0].item() + penalty, rel=1e-5)


# --- layers and initialization --------------------------------------------------------------

def test_dense_builds_lazily_from_the_first_batch_with_float32_parameters():
    layer = nn.Dense(5, activation="relu")
    assert not layer.built and layer.parameters() == []
    out = layer(np.ones((3, 7)))
    assert out.shape == (3, 5) and out.dtype == np.float32
    assert [(n, p.shape, p.dtype) for n, p in layer.named_parameters()] == [
        ("kernel", (7, 5), np.float32), ("bias", (5,), np.float32)]
    assert all(p.requires_grad and p.is_leaf for p in layer.parameters())


def test_default_initializers_are_he_for_relu_and_glorot_otherwise():
    relu = nn.Dense(400, "relu", input_dim=300, seed=0).kernel.numpy()
    tanh = nn.Dense(400, "tanh", input_dim=300, seed=0).kernel.numpy()
    assert np.abs(relu).max() <= np.sqrt(6 / 300) and np.abs(relu).max() > 0.95 * np.sqrt(6 / 300)
    assert np.abs(tanh).max() <= np.sqrt(6 / 700) and np.abs(tanh).max() > 0.95 * np.sqrt(6 / 700)
    assert relu.std() == pytest.approx(np.sqrt(2 / 300), rel=0.02)
    assert tanh.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)


@pytest.mark.parametrize("name,std", [("glorot_normal", np.sqrt(2 / 500)),
                                      ("he_normal", np.sqrt(2 / 200)),
                                      ("glorot_uniform", np.sqrt(2 / 500)),
                                      ("he_uniform", np.sqrt(2 / 200))])
def test_initializer_variances(name, std):
    w = nn.initializers.get(name)((200, 300), np.random.default_rng(0), "float32")
    assert w.dtype == np.float32 and w.mean() == pytest.approx(0, abs=0.01 * std * 10)
    assert w.std() == pytest.approx(std, rel=0.02)


def test_initialization_is_reproducible_from_the_model_seed():
    def make(seed):
        return nn.Sequential([nn.Dense(8, "relu", input_dim=4), nn.Dense(3)], seed=seed)
    a, b, c = make(1), make(1), make(2)
    for pa, pb in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    assert not np.array_equal(a.parameters()[0].numpy(), c.parameters()[0].numpy())
    assert nn.initializers.get("zeros")((2,)).tolist() == [0, 0]
    assert nn.constant(0.5)((2,)).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("value", [0.0, 0.3])
def test_constant_initialization_keeps_every_hidden_unit_identical(value):
    """The course's exercise: constant weights never break the symmetry, however long we train."""
    x, y = _blobs(90)
    model = nn.Sequential([nn.Dense(6, "sigmoid", input_dim=2, kernel_initializer=nn.constant(value),
                                    bias_initializer=nn.constant(value)),
                           nn.Dense(3, "softmax", kernel_initializer=nn.constant(value))], seed=0)
    model.compile(loss="cross_entropy", optimizer=optim.SGD(lr=0.5))
    model.fit(x, y, epochs=5, batch_size=16, verbose=0, seed=0)
    W1, b1, W2, _ = (p.numpy() for p in model.parameters())
    assert not np.allclose(W2, value)  # it did train
    np.testing.assert_allclose(W1, W1[:, :1].repeat(6, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, b1[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(W2, W2[:1].repeat(6, axis=0), rtol=1e-5, atol=1e-6)
    random = nn.Sequential([nn.Dense(6, "sigmoid", input_dim=2), nn.Dense(3, "softmax")], seed=0)
    assert not np.allclose(random.parameters()[0].numpy()[:, 0], random.parameters()[0].numpy()[:, 1])


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.Dense(3, activation="swish")
    with pytest.raises(ValueError, match="unknown initializer"):
        nn.Dense(3, kernel_initializer="orthogonal")
    with pytest.raises(ValueError, match="units must be a positive integer"):
        nn.Dense(0)
    model = nn.Sequential([nn.Dense(2, input_dim=2)])
    with pytest.raises(ValueError, match="unknown loss"):
        model.compile(loss="hinge")
    with pytest.raises(ValueError, match="unknown optimizer"):
        model.compile(optimizer="rmsprop")
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile(metrics=["auc"])
    with pytest.raises(ValueError, match="compile the model first"):
        model.fit(np.ones((2, 2)), [0, 1])
    model.compile()
    with pytest.raises(ValueError, match="not aligned"):
        model.fit(np.ones((2, 3)), [0, 1], verbose=0)


# --- training -------------------------------------------------------------------------------

def test_fit_records_loss_and_accuracy_for_training_and_validation():
    x, y = _blobs(150)
    model = nn.Sequential([nn.Dense(8, "relu", input_dim=2), nn.Dense(3, "softmax")], seed=0)
    model.compile(loss="cross_entropy", optimizer="adam", metrics=["accuracy"], lr=0.05)
    history = model.fit(x, y, epochs=6, batch_size=16, validation_split=0.2, verbose=0, seed=0)
    assert history is model.history
    assert list(history.history) == ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert all(len(values) == 6 for values in history.history.values())
    assert history.epoch == list(range(6)) and len(history.seconds) == 6
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    scores = model.evaluate(x, y)
    assert set(scores) == {"loss", "accuracy"} and scores["accuracy"] > 0.9
    assert model.predict_classes(x[:5]).tolist() == np.argmax(model.predict(x[:5]), 1).tolist()


def test_one_hot_labels_and_class_ids_train_the_same():
    x, y = _blobs(60)
    histories = []
    for labels in (y, np.eye(3, dtype=np.float32)[y]):
        model = nn.Sequential([nn.Dense(5, "tanh", input_dim=2), nn.Dense(3, "softmax")], seed=4)
        model.compile(loss="categorical_crossentropy", optimizer="sgd", lr=0.1)
        histories.append(model.fit(x, labels, epochs=3, batch_size=8, verbose=0, seed=1,
                                   validation_data=(x, labels)).history)
    assert histories[0] == histories[1]


def test_binary_cross_entropy_with_one_sigmoid_output():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    model = nn.Sequential([nn.Dense(4, "tanh", input_dim=2), nn.Dense(1, "sigmoid")], seed=0)
    model.compile(loss="binary_crossentropy", optimizer="adam", lr=0.05)
    model.fit(x, y, epochs=10, batch_size=20, verbose=0, seed=0)
    p = model.predict(x)
    assert p.shape == (200, 1) and p.min() >= 0 and p.max() <= 1
    assert model.evaluate(x, y)["accuracy"] > 0.95
    assert model.predict_classes(x).shape == (200,)


def test_training_stays_float32_end_to_end():
    x, y = _blobs(40)
    model = nn.Sequential([nn.Dense(8, "relu"), nn.Dense(3, "softmax")], seed=0)
    model.compile(optimizer="momentum", lr=0.1)
    model.fit(x.astype(np.float64), y, epochs=1, batch_size=8, verbose=0)
    loss, outputs = model.compute_loss(x, model.loss.targets(y, 3))
    loss.backward()
    assert loss.dtype == np.float32 and outputs.dtype == np.float32
    assert all(p.dtype == np.float32 and p.grad.dtype == np.float32 for p in model.parameters())
    assert model.predict(x).dtype == np.float32


def test_manual_loop_forward_loss_backward_step(small_digits):
    data = small_digits
    model = nn.Sequential([nn.Dense(32, "relu", input_dim=64), nn.Dense(10)], seed=0)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    schedule = optim.StepLR(opt, step_size=3, gamma=0.5)
    losses = []
    for epoch in range(6):
        for x_batch, y_batch in cr.data.Batches(data.x_train, data.y_train, 32, seed=epoch):
            opt.zero_grad()
            loss = nn.softmax_cross_entropy(model(x_batch), y_batch)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        schedule.step()
    assert opt.lr == pytest.approx(0.1 * 0.5 ** 2)
    with cr.no_grad():
        logits = model(data.x_test)
    assert not logits.requires_grad
    assert np.mean(logits.numpy().argmax(1) == data.y_test) > 0.93
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) / 5


def test_early_stopping_stops_and_restores_the_best_weights():
    class Stub:
        stop_training = False
        weights = 0

        def state_dict(self):
            return {"w": self.weights}

        def load_state_dict(self, state):
            self.weights = state["w"]

    stub, stop = Stub(), nn.EarlyStopping(patience=2)
    stop.on_train_begin(stub)
    for epoch, val_loss in enumerate([1.0, 0.5, 0.6, 0.7, 0.2]):
        stub.weights = epoch
        stop.on_epoch_end(epoch, {"val_loss": val_loss}, stub)
        if stub.stop_training:
            break
    assert epoch == 3 and stop.best_epoch == 1 and stop.stopped_epoch == 3
    stop.on_train_end(stub)
    assert stub.weights == 1

    x, y = _blobs(60)
    model = nn.Sequential([nn.Dense(4, "tanh", input_dim=2), nn.Dense(3, "softmax")], seed=0)
    model.compile()
    history = model.fit(x, y, epochs=10, verbose=0, validation_split=0.25,
                        early_stopping=nn.EarlyStopping(patience=0, min_delta=10.0))
    assert len(history) == 2
    with pytest.raises(ValueError, match="validation_data or validation_split"):
        model.fit(x, y, epochs=2, verbose=0, early_stopping=3)


def test_fit_prints_one_line_per_epoch_and_no_bar_when_not_a_terminal(capsys):
    x, y = _blobs(30)
    model = nn.Sequential([nn.Dense(4, "tanh", input_dim=2), nn.Dense(3, "softmax")], seed=0)
    model.compile()
    model.fit(x, y, epochs=3, batch_size=8, verbose=1, validation_data=(x, y))
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 3 and "\r" not in out
    assert lines[0].startswith("Epoch 1/3 - ") and "val_accuracy: " in lines[2]
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("kind", ["plain", "tqdm", "rich"])
def test_progress_bar_draws_on_a_terminal_and_clears_itself(monkeypatch, kind):
    from chainrule.nn import progress

    if kind != "plain":
        pytest.importorskip(kind)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(progress, "backend", lambda: kind)
    monkeypatch.setattr(progress, "REFRESH_SECONDS", 0.0)
    stream = Terminal()
    bar = progress.EpochBar(4, "Epoch 1/1", stream=stream)
    for step in range(1, 5):
        bar.update(step, 0.5)
    bar.close()
    text = stream.getvalue()
    assert "Epoch 1/1" in text
    if kind == "plain":
        assert "4/4 loss 0.5000" in text and text.endswith("\r")


def test_functional_call_puts_the_parameters_back():
    layer = nn.Dense(2, "tanh", input_dim=3, seed=0)
    original = layer.parameters()
    zeros = [np.zeros(p.shape) for p in original]
    out = layer.functional_call(zeros, np.ones((1, 3)))
    np.testing.assert_array_equal(np.asarray(out), 0.0)  # arrays in, arrays out
    assert layer.parameters() == original
    grads = cr.grad(lambda ps: layer.functional_call(ps, np.ones((2, 3))).sum())(
        [p.numpy().astype(np.float64) for p in original])
    assert [g.shape for g in grads] == [(3, 2), (2,)]


# --- saving ---------------------------------------------------------------------------------

def _trained_model(tmp_path=None):
    x, y = _blobs(60)
    model = nn.Sequential([nn.Dense(8, "relu", input_dim=2, kernel_regularizer=nn.L2(1e-3)),
                           nn.Dense(3, "softmax")], seed=0)
    model.compile(loss="cross_entropy", optimizer=optim.Adam(lr=0.01, weight_decay=1e-4))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return model, x, y


def test_save_and_load_round_trip(tmp_path):
    model, x, y = _trained_model()
    path = model.save(tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:  # plain arrays only
        assert "__chainrule__" in archive.files
    restored = nn.load_model(path)
    assert restored.get_config() == model.get_config()
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    assert restored.evaluate(x, y) == model.evaluate(x, y)
    assert isinstance(restored.optimizer, optim.Adam) and restored.optimizer.iterations == 8
    assert restored.optimizer.weight_decay == 1e-4
    for a, b in zip(restored.optimizer.state, model.optimizer.state):
        np.testing.assert_array_equal(a["m"], b["m"])
        np.testing.assert_array_equal(a["v"], b["v"])
    # training goes on identically from the restored state
    model.fit(x, y, epochs=1, verbose=0, seed=5)
    restored.fit(x, y, epochs=1, verbose=0, seed=5)
    np.testing.assert_allclose(restored.predict(x), model.predict(x), rtol=1e-6)


def test_save_replaces_the_file_atomically_and_leaves_no_temporary(tmp_path, monkeypatch):
    model, _, _ = _trained_model()
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


@pytest.mark.parametrize("kind", ["garbage", "truncated", "foreign_npz", "npy", "text", "bad_json",
                                  "other_format", "missing_weight"])
def test_corrupt_or_foreign_files_raise_a_clear_value_error(tmp_path, kind):
    model, _, _ = _trained_model()
    good = model.save(tmp_path / "good.npz")
    path = tmp_path / "model.npz"
    if kind == "garbage":
        path.write_bytes(np.random.default_rng(0).bytes(500))
    elif kind == "truncated":
        path.write_bytes(good.read_bytes()[:300])
    elif kind == "foreign_npz":
        np.savez(path, weights=np.ones(3))
    elif kind == "npy":
        np.save(path, np.ones(3))
        (tmp_path / "model.npz.npy").rename(path)
    elif kind == "text":
        path.write_text("not a model\n")
    else:
        with np.load(good) as archive:
            arrays = {k: archive[k] for k in archive.files}
        header = json.loads(arrays["__chainrule__"].tobytes())
        if kind == "bad_json":
            arrays["__chainrule__"] = np.frombuffer(b"{not json", dtype=np.uint8)
        elif kind == "other_format":
            header["format"] = "keras"
            arrays["__chainrule__"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        else:
            del arrays[f"param/{header['parameters'][0]}"]
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match="chainrule model|damaged"):
        nn.load_model(path)
    with pytest.raises(FileNotFoundError):
        nn.load_model(tmp_path / "absent.npz")


def test_a_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:
        buffer = io.BytesIO()
        np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        archive.writestr("__chainrule__.npy", buffer.getvalue())
    with pytest.raises(ValueError, match="not a chainrule model file"):
        nn.load_model(path)


def test_checkpoint_callback_saves_every_epoch_with_history(tmp_path):
    x, y = _blobs(40)
    model = nn.Sequential([nn.Dense(4, "tanh", input_dim=2), nn.Dense(3, "softmax")], seed=0)
    model.compile()
    model.fit(x, y, epochs=3, verbose=0, callbacks=[nn.ModelCheckpoint(tmp_path / "ck.npz",
                                                                       extra={"note": "hi"})])
    restored, extra = nn.load_checkpoint(tmp_path / "ck.npz")
    assert extra["epoch"] == 3 and extra["note"] == "hi" and "shuffle_rng" in extra
    assert restored.history.history["loss"] == model.history.history["loss"]


def test_plots_are_written_as_png(tmp_path):
    pytest.importorskip("matplotlib")
    from chainrule.nn import plots
    model, x, y = _trained_model()
    model.fit(x, y, epochs=2, verbose=0, validation_data=(x, y))
    for path in (plots.plot_history(model.history, tmp_path / "h.png"),
                 plots.plot_confusion_matrix(cr.metrics.confusion_matrix(y, model.predict_classes(x)),
                                             tmp_path / "cm.png", labels=["a", "b", "c"])):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_engine_does_not_import_nn():
    code = ("import sys, chainrule as cr, numpy as np\n"
            "x = cr.tensor(np.ones(3), requires_grad=True)\n"
            "(cr.softmax(x) * x).sum().backward()\n"
            "cr.grad(lambda v: (v ** 2).sum())(np.ones(2))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('chainrule.nn', 'chainrule.optim'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


NN_MODULES = ["chainrule.nn", "chainrule.nn.module", "chainrule.nn.layers", "chainrule.nn.losses",
              "chainrule.nn.initializers", "chainrule.nn.activations", "chainrule.nn.regularizers",
              "chainrule.nn.model", "chainrule.nn.callbacks", "chainrule.nn.serialization",
              "chainrule.optim", "chainrule.optim.optimizers", "chainrule.optim.schedules",
              "chainrule.optim.clip", "chainrule.ops.losses"]


@pytest.mark.parametrize("name", NN_MODULES)
def test_docstring_examples_run(name):
    import doctest
    import importlib

    failed, _ = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert failed == 0


def test_fashion_mnist_benchmark_script_runs_on_small_idx_files(tmp_path):
    from pathlib import Path

    from chainrule.data import write_idx

    rng = np.random.default_rng(0)
    for part, n in (("train", 256), ("t10k", 64)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(tmp_path / f"{part}-images-idx3-ubyte",
                  (rng.random((n, 28, 28)) * 255).astype(np.uint8))
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte", labels)
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "benchmarks.fashion_mnist_train", "--data-dir",
                           str(tmp_path), "--epochs", "2", "--layers", "16", "--json"],
                          cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    (result,) = report["results"]
    assert result["framework"] == "chainrule" and len(result["seconds_per_epoch"]) == 2
    assert 0 <= result["test_accuracy"] <= 1 and result["peak_rss_mib"] > 0


def test_safetensors_round_trip_when_installed(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors import safe_open

    model, x, y = _trained_model()
    path = model.save(tmp_path / "model.safetensors")
    with safe_open(str(path), "numpy") as readable_elsewhere:
        assert "__chainrule__" in readable_elsewhere.metadata()
        assert "param/layers.0.kernel" in readable_elsewhere.keys()
    restored = nn.load_model(path)
    np.testing.assert_array_equal(restored.predict(x), model.predict(x))
    assert restored.optimizer.iterations == model.optimizer.iterations
    path.write_bytes(path.read_bytes()[:-7])
    with pytest.raises(ValueError, match="not a chainrule model file"):
        nn.load_model(path)


@pytest.mark.parametrize("loss, last, labels", [
    ("cross_entropy", "softmax", "ids"), ("mse", None, "one_hot"),
    ("binary_crossentropy", "sigmoid", "binary"),
])
def test_jit_compile_trains_to_the_same_weights_as_the_eager_steps(loss, last, labels):
    gen = np.random.default_rng(2)
    x = gen.normal(size=(70, 5)).astype(np.float32)
    ids = gen.integers(0, 3, size=70)
    y = {"ids": ids, "one_hot": np.eye(3, dtype=np.float32)[ids],
         "binary": (x[:, 0] > 0).astype(np.float32)}[labels]
    width = 1 if labels == "binary" else 3
    runs = []
    for jit in (False, True):
        model = nn.Sequential([nn.Dense(8, activation="tanh", input_dim=5,
                                        kernel_regularizer=nn.L2(1e-3)),
                               nn.Dense(width, activation=last)], seed=1)
        model.compile(loss=loss, optimizer="adam", metrics=["accuracy"] if labels != "one_hot" else [],
                      jit_compile=jit)
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=0)   # 64 + a batch of 6
        runs.append((history.history, [p.numpy() for p in model.parameters()], model))
    (eager_history, eager_weights, _), (jit_history, jit_weights, jitted) = runs
    assert jit_history == eager_history
    for a, b in zip(eager_weights, jit_weights):
        np.testing.assert_array_equal(a, b)
    stats = jitted._recorded_step.stats
    assert stats["recorded"] == 2 and stats["replayed"] > 0   # two batch shapes: 16 and 6


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh"])
def test_a_dense_layer_is_one_fused_node_with_the_gradients_of_the_three_ops(activation):
    layer = cr.nn.Dense(3, activation=activation, seed=1)
    x = np.random.default_rng(2).normal(size=(5, 4)).astype(np.float32)
    out = layer(x)
    assert out._node.prim.name == "dense" and out.dtype == np.float32
    written_out = {None: lambda z: z, "relu": cr.relu, "sigmoid": cr.sigmoid, "tanh": cnp.tanh}

    def fused(w, b, x):
        return cnp.sum(cr.dense(x, w, b, activation=activation) ** 2)

    def three_ops(w, b, x):
        return cnp.sum(written_out[activation](x @ w + b) ** 2)

    args = (layer.kernel.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64) + 0.1,
            x.astype(np.float64))
    for got, want in zip(cr.grad(fused, argnums=(0, 1, 2))(*args),
                         cr.grad(three_ops, argnums=(0, 1, 2))(*args)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_dense_names_the_activations_it_fuses():
    with pytest.raises(ValueError, match="dense: activation must be one of None, 'relu'"):
        cr.dense(np.ones((2, 3)), np.ones((3, 2)), np.zeros(2), activation="softmax")
