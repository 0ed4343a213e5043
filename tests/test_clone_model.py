"""``lamina.models.clone_model``: same architecture, new weights (Keras' behaviour)."""
from __future__ import annotations

import numpy as np
import pytest

import lamina
from lamina import layers
from lamina.models import Model, Sequential, clone_model


class Scale(layers.Layer):  # a custom layer, not registered anywhere
    def __init__(self, factor: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def _x():
    return np.random.default_rng(0).standard_normal((6, 3)).astype("float32")


def test_a_clone_has_new_weights_and_with_the_originals_the_same_outputs():
    lamina.utils.set_random_seed(0)
    model = Sequential([layers.Dense(4, activation="tanh", input_shape=(3,)), Scale(3.0), layers.Dense(2)])
    clone = clone_model(model)
    assert [type(layer) for layer in clone.layers] == [layers.Dense, Scale, layers.Dense]
    assert clone.layers[1].factor == 3.0 and all(a is not b for a, b in zip(clone.layers, model.layers))
    assert not np.array_equal(clone.get_weights()[0], model.get_weights()[0])  # initialised afresh
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(_x()), model.predict(_x()))
    model.compile(optimizer="sgd", loss="mse")
    model.fit(_x(), np.ones((6, 2), "float32"), verbose=0)  # training the original leaves the clone
    assert not np.array_equal(clone.predict(_x()), model.predict(_x()))


def test_a_functional_clone_keeps_the_graph():
    inputs = lamina.Input((3,))
    hidden = layers.Dense(4, activation="relu")(inputs)
    outputs = layers.Dense(1)(layers.concatenate([hidden, inputs]))
    model = Model(inputs, outputs)
    clone = clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_array_equal(clone.predict(_x()), model.predict(_x()))


def test_clone_function_and_unsupported_arguments():
    model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dropout(0.5), layers.Dense(2)])
    clone = clone_model(model, clone_function=lambda layer: layers.Dropout(0.1) if isinstance(layer, layers.Dropout)
                        else layer.__class__.from_config(layer.get_config()))
    assert clone.layers[1].rate == 0.1 and clone.layers[0] is not model.layers[0]
    with pytest.raises(ValueError, match="input_tensors"):
        clone_model(model, input_tensors=[lamina.Input((3,))])
    with pytest.raises(TypeError, match="expects a lamina Model"):
        clone_model(layers.Dense(2))


def test_clone_function_keeps_the_input_of_a_model_that_starts_with_an_input():
    model = Sequential([lamina.Input((4,)), layers.Dense(2)])
    clone = clone_model(model, clone_function=lambda layer: layer.__class__.from_config(layer.get_config()))
    assert clone.built and clone.input_shape == (None, 4)
    clone.set_weights(model.get_weights())
    x = np.ones((2, 4), "float32")
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))
