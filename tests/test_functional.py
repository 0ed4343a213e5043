"""Functional graphs, subclassed models and custom layers (Keras 2 style with K functions)."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import backend as K
from lamina import ops
from lamina.layers import Dense, Input, Layer
from lamina.models import Functional, Model, Sequential


def data(n=64, features=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)).astype("float32")


def test_model_inputs_outputs_returns_functional_and_trains_two_heads():
    lamina.utils.set_random_seed(0)
    a, b = Input(shape=(8,), name="left"), Input(shape=(8,), name="right")
    shared = Dense(16, activation="tanh", name="shared")
    merged_a, merged_b = shared(a), shared(b)
    sim = Dense(1, activation="sigmoid", name="sim")(merged_a)
    cls = Dense(3, activation="softmax", name="cls")(merged_b)
    model = Model(inputs=[a, b], outputs=[sim, cls])
    assert isinstance(model, Functional)
    assert [layer.name for layer in model.layers] == ["left", "right", "shared", "sim", "cls"]
    assert model.count_params() == 8 * 16 + 16 + 17 + 51
    x1, x2 = data(seed=1), data(seed=2)
    y1 = (x1.sum(1, keepdims=True) > 0).astype("float32")
    y2 = lamina.utils.to_categorical((x2[:, :3]).argmax(1), 3)
    model.compile(optimizer="adam", loss={"sim": "binary_crossentropy", "cls": "categorical_crossentropy"},
                  loss_weights={"sim": 1.0, "cls": 0.5}, metrics={"cls": ["accuracy"]})
    hist = model.fit({"left": x1, "right": x2}, [y1, y2], epochs=30, batch_size=16, verbose=0)
    assert list(hist.history) == ["loss", "sim_loss", "cls_loss", "cls_accuracy"]
    h = hist.history
    np.testing.assert_allclose(h["loss"], np.array(h["sim_loss"]) + 0.5 * np.array(h["cls_loss"]), rtol=1e-5)
    assert h["loss"][-1] < 0.7 * h["loss"][0]
    p_sim, p_cls = model.predict([x1, x2])
    assert p_sim.shape == (64, 1) and p_cls.shape == (64, 3)
    assert model.metrics_names == ["loss", "sim_loss", "cls_loss", "cls_accuracy"]


def test_shape_error_is_reported_when_the_graph_is_built_naming_the_layer():
    x = Input(shape=(6,))
    h = Dense(4, name="hidden")(x)
    from lamina.layers import Reshape
    with pytest.raises(ValueError, match=r"'bad_reshape' \(Reshape\).*\(None, 4\)"):
        Reshape((5,), name="bad_reshape")(h)
    from lamina.layers.core.dense import Dense as D
    layer = D(3, name="fixed")
    layer(Input(shape=(4,)))
    with pytest.raises(ValueError, match="'fixed'"):
        layer(Input(shape=(7,)))


def test_symbolic_tensor_math_points_to_lambda():
    x = Input(shape=(3,))
    with pytest.raises(TypeError, match="Lambda"):
        x + 1


def test_nested_model_as_layer_and_shared_weights():
    inp = Input(shape=(8,))
    tower = Model(inp, Dense(5, activation="relu", name="t_dense")(inp), name="tower")
    a, b = Input(shape=(8,)), Input(shape=(8,))
    out = Dense(1, name="head")(lamina.layers.Lambda(lambda t: K.abs(t[0] - t[1]))([tower(a), tower(b)])) \
        if hasattr(lamina.layers, "Lambda") else Dense(1, name="head")(tower(a))
    model = Model([a, b], out) if hasattr(lamina.layers, "Lambda") else Model(a, out)
    assert len(model.weights) == 4  # the tower's kernel and bias once, plus the head
    x = data()
    inputs = [x, x] if hasattr(lamina.layers, "Lambda") else x
    pred = model.predict(inputs)
    if hasattr(lamina.layers, "Lambda"):  # identical inputs: |t(a) - t(b)| = 0, so the head sees zeros
        np.testing.assert_allclose(pred, np.broadcast_to(model.get_layer("head").get_weights()[1], pred.shape),
                                   rtol=1e-6)


class Scale(Layer):
    """A custom layer with its own trainable weight and a non-trainable counter, in Keras 2 style."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1], self.units), initializer="glorot_uniform")
        self.calls = self.add_weight("calls", (), initializer="zeros", trainable=False)

    def call(self, inputs):
        z = K.dot(inputs, self.w)
        return K.l2_normalize(z, axis=-1) * K.sqrt(K.sum(K.square(z), axis=-1, keepdims=True) + K.epsilon())

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def test_custom_layer_with_backend_functions_gets_gradients_and_trains():
    lamina.utils.set_random_seed(3)
    x = data(200, 8)
    target = x @ np.random.default_rng(4).normal(size=(8, 2)).astype("float32")
    model = Sequential([Scale(2, input_shape=(8,), name="scale")])
    assert [w.trainable for w in model.weights] == [True, False]
    assert model.count_params() == 17 and len(model.trainable_weights) == 1
    model.compile(optimizer=lamina.optimizers.SGD(0.05), loss="mse")
    hist = model.fit(x, target, epochs=20, batch_size=20, verbose=0)
    assert hist.history["loss"][-1] < 0.05 * hist.history["loss"][0]
    # K-function gradients agree with finite differences through the custom layer
    layer = model.layers[0]
    xt = ops.convert_to_tensor(x[:4].astype("float64"))
    w64 = ops.Variable(layer.w.numpy().astype("float64"))
    layer.w, saved = w64, layer.w
    try:
        with ops.GradientTape() as tape:
            loss = K.sum(K.square(layer.call(xt)))
        grad = tape.gradient(loss, w64).numpy()
        eps, base = 1e-6, w64.numpy()
        num = np.zeros_like(base)
        for idx in np.ndindex(*base.shape):
            for sgn in (1, -1):
                w64.assign(base + sgn * eps * (np.arange(base.size).reshape(base.shape) == np.ravel_multi_index(idx, base.shape)))
                num[idx] += sgn * float(K.sum(K.square(layer.call(xt))).numpy()) / (2 * eps)
        np.testing.assert_allclose(grad, num, rtol=1e-5, atol=1e-7)
    finally:
        layer.w = saved


class TwoLayer(Model):
    """A subclassed model: layers as attributes, arbitrary Python in call."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = Dense(16, activation="relu")
        self.out = Dense(3, activation="softmax")

    def call(self, inputs, training=None):
        h = self.hidden(inputs)
        self.add_metric(K.mean(h), name="mean_hidden")
        self.add_loss(1e-3 * K.sum(K.square(h)) / 64.0)
        return self.out(h)


def test_subclassed_model_fit_with_add_loss_and_add_metric():
    lamina.utils.set_random_seed(5)
    x = data(128, 8, seed=6)
    y = lamina.utils.to_categorical(x[:, :3].argmax(1), 3)
    model = TwoLayer()
    model.compile(optimizer=lamina.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, epochs=20, batch_size=32, verbose=0)
    assert list(hist.history) == ["loss", "accuracy", "mean_hidden"]
    assert len(model.weights) == 4 and model.count_params() == 8 * 16 + 16 + 16 * 3 + 3
    assert hist.history["accuracy"][-1] > 0.8
    # add_loss is part of the reported loss: evaluate's loss exceeds the pure cross-entropy
    loss, _acc, mean_hidden = model.evaluate(x, y, verbose=0)
    probs = model.predict(x)
    ce = float(np.mean(-np.sum(y * np.log(np.clip(probs, 1e-7, 1 - 1e-7)), axis=1)))
    assert loss > ce and mean_hidden > 0


def test_layer_trainable_flag_freezes_weights():
    lamina.utils.set_random_seed(7)
    model = Sequential([Dense(4, input_shape=(8,), name="frozen"), Dense(2, name="free")])
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2
    before = model.layers[0].get_weights()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(data(32), np.ones((32, 2), "float32"), epochs=2, verbose=0)
    for a, b in zip(before, model.layers[0].get_weights()):
        np.testing.assert_array_equal(a, b)
    lines = []
    model.summary(print_fn=lines.append)
    assert "Trainable params: 10" in "\n".join(lines) and "Non-trainable params: 36" in "\n".join(lines)


def test_functional_config_round_trip_and_summary_connections():
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    shared = Dense(3, name="shared")
    model = Model([a, b], [Dense(2, name="o1")(shared(a)), Dense(1, name="o2")(shared(b))], name="two")
    clone = Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    xa, xb = data(5, 4, 1), data(5, 4, 2)
    for p, q in zip(model.predict([xa, xb]), clone.predict([xa, xb])):
        np.testing.assert_array_equal(p, q)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text and "a[0][0]" in text and "b[0][0]" in text and "shared[1][0]" in text


def test_bad_inputs_to_functional_models():
    a = Input(shape=(4,), name="a")
    model = Model(a, Dense(2)(a))
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match=r"'a' \(InputLayer\) expects samples of shape \(4,\)"):
        model.fit(np.zeros((3, 5)), np.zeros((3, 2)), verbose=0)
    with pytest.raises(TypeError, match="symbolic tensors"):
        Model(np.zeros(3), Dense(2)(a))
    b = Input(shape=(4,), name="b")
    with pytest.raises(ValueError, match="not among the model's inputs"):
        Model(a, Dense(1)(b))
