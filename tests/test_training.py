"""fit / evaluate / predict / batch methods: Keras semantics, measured."""
from __future__ import annotations

import io
import re
from contextlib import redirect_stdout

import numpy as np
import pytest

import lamina
from lamina.callbacks import Callback, LambdaCallback
from lamina.optimizers import SGD
from _models import blobs, mlp


def compiled(metrics=("accuracy",), **kw):
    model = mlp(**kw)
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=0.1, momentum=0.9), metrics=list(metrics))
    return model


def test_fit_learns_and_history_has_keras_keys():
    x, y, _ = blobs()
    model = compiled()
    hist = model.fit(x, y, batch_size=32, epochs=5, validation_split=0.25, verbose=0)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert hist.epoch == [0, 1, 2, 3, 4]
    assert hist.history["loss"][-1] < 0.5 * hist.history["loss"][0]
    assert hist.history["val_accuracy"][-1] > 0.85
    assert hist.params["steps"] == 15 and hist.params["epochs"] == 5


def test_validation_split_takes_the_last_samples_before_shuffling():
    x, y, _ = blobs(n=100)
    histories = []
    for kwargs in ({"x": x, "y": y, "validation_split": 0.3},
                   {"x": x[:70], "y": y[:70], "validation_data": (x[70:], y[70:])}):
        model = compiled(seed=4)
        lamina.utils.set_random_seed(9)  # fit's shuffle seed comes from the global stream
        histories.append(model.fit(batch_size=10, epochs=2, verbose=0, shuffle=True, **kwargs).history)
    assert histories[0] == histories[1]
    other = compiled(seed=4)
    lamina.utils.set_random_seed(9)
    moved = other.fit(x[30:], y[30:], validation_data=(x[:30], y[:30]), batch_size=10, epochs=2, verbose=0)
    assert moved.history["val_loss"] != histories[0]["val_loss"]


def test_reported_loss_is_batch_size_weighted_mean():
    x, y, _ = blobs(n=50)
    model = compiled(metrics=())
    model.compile(loss="categorical_crossentropy", optimizer=SGD(lr=1e-12))  # ~no change while training
    losses = []
    cb = LambdaCallback(on_train_batch_end=lambda b, logs: None)
    hist = model.fit(x, y, batch_size=20, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    for lo, hi in ((0, 20), (20, 40), (40, 50)):
        losses.append(model.evaluate(x[lo:hi], y[lo:hi], batch_size=100, verbose=0) * (hi - lo))
    assert hist.history["loss"][0] == pytest.approx(sum(losses) / 50, rel=1e-5)


def test_evaluate_returns_scalar_without_metrics_and_list_with():
    x, y, _ = blobs(n=64)
    model = compiled(metrics=())
    loss = model.evaluate(x, y, verbose=0)
    assert isinstance(loss, float)
    model = compiled(metrics=("accuracy", "mse"))
    out = model.evaluate(x, y, verbose=0)
    assert isinstance(out, list) and len(out) == 3
    assert model.metrics_names == ["loss", "accuracy", "mse"]
    probs = model.predict(x)
    assert out[1] == pytest.approx(np.mean(probs.argmax(1) == y.argmax(1)), abs=1e-6)
    assert out[2] == pytest.approx(np.mean((probs - y) ** 2), rel=1e-4)
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "accuracy", "mse"]


def test_predict_shape_dtype_and_batching_agree():
    x, _, _ = blobs(n=70)
    model = compiled()
    p1 = model.predict(x, batch_size=7)
    p2 = model.predict(x, batch_size=1000)
    assert isinstance(p1, np.ndarray) and p1.shape == (70, 3) and p1.dtype == np.float32
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x[:5]), p1[:5], rtol=1e-5)


def test_batch_methods():
    x, y, _ = blobs(n=40)
    model = compiled()
    before = model.get_weights()
    out = model.train_on_batch(x, y)
    assert isinstance(out, list) and len(out) == 2
    after = model.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))
    loss, acc = model.test_on_batch(x, y)
    assert loss == pytest.approx(model.evaluate(x, y, batch_size=40, verbose=0)[0], rel=1e-6)
    assert 0.0 <= acc <= 1.0


def test_uint8_and_int_inputs_are_cast_to_floatx():
    x, y, _ = blobs(n=32)
    xi = np.clip(np.round(x * 20 + 128), 0, 255).astype(np.uint8)
    model = compiled()
    loss_u8 = model.evaluate(xi, y.astype("int32"), verbose=0)[0]
    loss_f = model.evaluate(xi.astype("float32"), y, verbose=0)[0]
    assert loss_u8 == pytest.approx(loss_f, rel=1e-6)


def test_get_set_weights_and_count_params():
    model = compiled()
    assert model.count_params() == 20 * 32 + 32 + 32 * 3 + 3
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(20, 32), (32,), (32, 3), (3,)]
    zeros = [np.zeros_like(w) for w in weights]
    model.set_weights(zeros)
    np.testing.assert_array_equal(model.predict(np.ones((2, 20), "float32")), np.full((2, 3), 1 / 3, "float32"))
    with pytest.raises(ValueError, match="shape"):
        model.set_weights([np.zeros((3, 3))] + zeros[1:])


def test_sequential_add_pop_layers_and_int_input_shape():
    from lamina.layers import Dense
    from lamina.models import Sequential
    model = Sequential()
    model.add(Dense(4, input_shape=7))
    model.add(Dense(2))
    assert [type(layer).__name__ for layer in model.layers] == ["Dense", "Dense"]
    assert model.output_shape == (None, 2)
    popped = model.pop()
    assert popped.units == 2 and model.output_shape == (None, 4)
    model2 = Sequential([Dense(3, input_dim=5)])
    assert model2.input_shape == (None, 5) and model2.count_params() == 18


def test_summary_matches_keras2_layout():
    model = compiled()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == f'Model: "{model.name}"'
    assert re.search(r"dense(_\d+)? \(Dense\)\s+\(None, 32\)\s+672", text)
    assert "Total params: 771" in text and "Trainable params: 771" in text and "Non-trainable params: 0" in text


def test_verbose_2_prints_one_line_per_epoch_and_backend_once(monkeypatch):
    from lamina.models import model as model_module
    monkeypatch.setattr(model_module, "_ANNOUNCED", False)
    x, y, _ = blobs(n=64)
    model = compiled()
    buf = io.StringIO()
    with redirect_stdout(buf):
        model.fit(x, y, batch_size=16, epochs=3, verbose=2)
        model.fit(x, y, batch_size=16, epochs=1, verbose=2)
    lines = buf.getvalue().splitlines()
    name = lamina.backend.backend()  # numpy, or cupy in CI's pass over the fake CuPy
    assert sum(f"backend '{name}'" in line for line in lines) == 1
    epoch_lines = [line for line in lines if line.startswith("4/4 - ")]
    assert len(epoch_lines) == 4
    assert all("loss: " in line and "accuracy: " in line for line in epoch_lines)


def test_verbose_1_to_a_pipe_writes_few_plain_lines():
    x, y, _ = blobs(n=600)
    model = compiled()
    buf = io.StringIO()
    with redirect_stdout(buf):
        model.fit(x, y, batch_size=1, epochs=1, verbose=1)
    out = buf.getvalue()
    assert "\r" not in out and "\b" not in out
    assert len(out.splitlines()) <= 14
    assert "600/600 [==============================]" in out


def test_initial_epoch_and_nb_epoch():
    x, y, _ = blobs(n=64)
    model = compiled()
    hist = model.fit(x, y, nb_epoch=3, initial_epoch=1, verbose=0)
    assert hist.epoch == [1, 2]


def test_callback_hooks_and_stop_training():
    x, y, _ = blobs(n=64)
    model = compiled()
    calls = []

    class Recorder(Callback):
        def on_train_begin(self, logs=None): calls.append("train_begin")
        def on_epoch_begin(self, epoch, logs=None): calls.append(f"epoch_begin{epoch}")
        def on_train_batch_end(self, batch, logs=None):
            calls.append(f"batch{batch}:{sorted(logs)}")
        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end{epoch}")
            self.model.stop_training = True
        def on_train_end(self, logs=None): calls.append("train_end")

    model.fit(x, y, batch_size=32, epochs=5, verbose=0, callbacks=[Recorder()])
    assert calls == ["train_begin", "epoch_begin0", "batch0:['accuracy', 'loss']", "batch1:['accuracy', 'loss']",
                     "epoch_end0", "train_end"]


def test_sample_weight_zero_removes_samples_from_the_loss():
    x, y, _ = blobs(n=40)
    model = compiled(metrics=())
    w = np.r_[np.ones(20), np.zeros(20)].astype("float32")
    weighted = model.evaluate(x, y, sample_weight=w, batch_size=40, verbose=0)
    plain_half = model.evaluate(x[:20], y[:20], batch_size=40, verbose=0)
    assert weighted == pytest.approx(plain_half / 2, rel=1e-5)  # mean over all 40 samples, as Keras


def test_sparse_labels_train_exactly_like_one_hot_labels():
    x, y, labels = blobs()
    histories = []
    for loss, targets in (("sparse_categorical_crossentropy", labels), ("categorical_crossentropy", y)):
        model = mlp()
        model.compile(loss=loss, optimizer="adam", metrics=["accuracy"])
        histories.append(model.fit(x, targets, epochs=8, verbose=0).history)
    np.testing.assert_allclose(histories[0]["loss"], histories[1]["loss"], rtol=1e-5)
    assert histories[0]["accuracy"] == histories[1]["accuracy"]
    assert histories[0]["accuracy"][-1] > 0.85


def test_keras2_module_paths_exist():
    import importlib
    for name in ("lamina.models", "lamina.layers", "lamina.layers.core", "lamina.optimizers", "lamina.losses",
                 "lamina.metrics", "lamina.callbacks", "lamina.datasets.mnist", "lamina.datasets.fashion_mnist",
                 "lamina.utils", "lamina.utils.np_utils", "lamina.backend"):
        importlib.import_module(name)
    from lamina.layers.core import Activation, Dense, Dropout, Flatten, Reshape  # noqa: F401
    from lamina.utils.np_utils import to_categorical
    assert to_categorical([1, 0], 3).tolist() == [[0, 1, 0], [1, 0, 0]]
    K = lamina.backend
    assert K.epsilon() == 1e-7 and K.floatx() == "float32" and K.image_data_format() == "channels_last"


def test_data_larger_than_the_device_is_uploaded_batch_by_batch(monkeypatch):
    """A backend that cannot hold the data set gets the same results, one batch at a time."""
    from lamina import backends
    x, y, _ = blobs(n=120)
    results = []
    for can_hold in (True, False):
        be = backends.current()
        monkeypatch.setattr(be, "can_hold", lambda nbytes, _v=can_hold: _v)
        uploads = []
        original = type(be).asarray
        monkeypatch.setattr(be, "asarray", lambda a, dtype=None: uploads.append(getattr(a, "shape", None))
                            or original(be, a, dtype))
        model = compiled(seed=3)
        hist = model.fit(x, y, batch_size=30, epochs=2, validation_split=0.25, verbose=0)
        results.append((hist.history, model.predict(x, batch_size=50)))
        batch_uploads = [s for s in uploads if s is not None and len(s) == 2 and s[0] == 30]
        assert (len(batch_uploads) >= 6) == (not can_hold)
        monkeypatch.undo()
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_one_dimensional_targets_for_a_single_unit_output():
    """Keras 2 reshaped y of shape (n,) to (n, 1); without that the loss broadcasts to (n, n)."""
    from lamina.layers import Dense
    from lamina.models import Sequential
    x, _, labels = blobs(n=200, classes=2)
    y = labels.astype("float32")
    results = []
    for targets in (y, y[:, None]):
        lamina.utils.set_random_seed(11)
        model = Sequential([Dense(8, input_shape=(20,), activation="tanh"), Dense(1, activation="sigmoid")])
        model.compile(optimizer=SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"])
        hist = model.fit(x, targets, batch_size=20, epochs=5, verbose=0, validation_split=0.2)
        results.append(hist.history)
    assert results[0] == results[1]
    assert results[0]["accuracy"][-1] > 0.9


def test_generators_and_sequences_train_like_arrays():
    """fit/evaluate/predict accept a Keras 2 generator (with steps) or a Sequence."""
    x, y, _ = blobs(n=120)

    class Batches(lamina.utils.Sequence):
        def __init__(self):
            self.epochs_seen = 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 30:(i + 1) * 30], y[i * 30:(i + 1) * 30]

        def on_epoch_end(self):
            self.epochs_seen += 1

    def generator():
        while True:
            for i in range(4):
                yield x[i * 30:(i + 1) * 30], y[i * 30:(i + 1) * 30]

    model_a, model_b, model_c = compiled(seed=2), compiled(seed=2), compiled(seed=2)
    seq = Batches()
    ha = model_a.fit(seq, epochs=3, shuffle=False, verbose=0)
    hb = model_b.fit_generator(generator(), steps_per_epoch=4, epochs=3, verbose=0)
    hc = model_c.fit(x, y, batch_size=30, epochs=3, shuffle=False, verbose=0)
    assert seq.epochs_seen == 3
    np.testing.assert_allclose(ha.history["loss"], hc.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(hb.history["loss"], hc.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(model_a.evaluate_generator(generator(), steps=4),
                               model_c.evaluate(x, y, batch_size=30, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(model_b.predict_generator((b[0] for b in generator()), steps=4),
                               model_c.predict(x), rtol=1e-5)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model_a.fit(generator(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"\(x, y\)"):
        model_a.fit((b[0] for b in generator()), steps_per_epoch=2, verbose=0)


def test_keras2_loader_arguments_are_accepted_and_change_nothing():
    x, y, _ = blobs(n=64)
    loader = {"max_queue_size": 4, "workers": 2, "use_multiprocessing": True}
    results = []
    for extra in ({}, loader):
        lamina.utils.set_random_seed(3)
        model = compiled()
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, **extra)
        results.append((history.history, model.evaluate(x, y, verbose=0, **extra), model.predict(x, **extra)))
    assert results[0][0] == results[1][0] and results[0][1] == results[1][1]
    np.testing.assert_array_equal(results[0][2], results[1][2])
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        compiled().fit(x, y, verbose=0, worker=2)


def test_a_model_whose_whole_loss_is_add_loss_compiles_and_trains_without_targets():
    """Keras' variational-autoencoder pattern: compile(optimizer) with no loss, fit(x) with no y,
    validation_data=(x_val, None); the add_loss terms are the loss."""
    from lamina import layers, ops
    from lamina.models import Sequential

    class Penalised(layers.Layer):
        def call(self, inputs):
            self.add_loss(ops.mean(ops.square(inputs)))
            return inputs

    x = np.random.default_rng(0).standard_normal((64, 3)).astype("float32")
    lamina.utils.set_random_seed(0)
    model = Sequential([layers.Dense(2, input_shape=(3,)), Penalised()])
    model.compile(optimizer="sgd")
    expected = float(np.mean(np.square(model.predict(x).astype("float64"))))
    assert model.evaluate(x, batch_size=16, verbose=0) == pytest.approx(expected, rel=1e-5)
    history = model.fit(x, epochs=3, batch_size=16, verbose=0, validation_data=(x, None)).history
    assert sorted(history) == ["loss", "val_loss"] and history["loss"][2] < history["loss"][0]
    assert model.train_on_batch(x[:16]) == pytest.approx(model.test_on_batch(x[:16]), rel=0.2)

    plain = Sequential([layers.Dense(2, input_shape=(3,))])
    plain.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no loss to minimise"):
        plain.fit(x, epochs=1, verbose=0)
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="needs inputs x and targets y"):
        plain.fit(x, epochs=1, verbose=0)


def test_missing_targets_are_refused_before_training():
    x, y, _ = blobs(n=64)
    model = compiled()
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"validation_data=\(x_val, None\) has no targets"):
        model.fit(x, y, epochs=1, verbose=0, validation_data=(x, None))
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    from lamina import layers, ops
    from lamina.models import Sequential

    class Penalised(layers.Layer):
        def call(self, inputs):
            self.add_loss(ops.mean(ops.square(inputs)))
            return inputs

    only_add_loss = Sequential([layers.Dense(2, input_shape=(x.shape[1],)), Penalised()])
    only_add_loss.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="class_weight weights samples by their target class"):
        only_add_loss.fit(x, epochs=1, verbose=0, class_weight={0: 1.0})
