"""Custom layers, losses and activations for tests/test_saving.py.

They live in a module (not in the test file) so that a second Python process can import them and
load a saved model: registered objects are found by name once this module is imported; the
unregistered ones must be passed in ``custom_objects``.
"""
from __future__ import annotations

from typing import Any

import lamina
from lamina import backend as K
from lamina import ops
from lamina.layers import Layer
from lamina.saving import register_lamina_serializable


@register_lamina_serializable(package="SavingTests")
class ScaledDense(Layer):
    """``(x @ kernel) * scale + offset``: a custom layer with trainable weights (kernel, scale) and
    a non-trainable one (offset)."""

    def __init__(self, units: int, init_scale: float = 1.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.units = int(units)
        self.init_scale = float(init_scale)

    def build(self, input_shape: tuple) -> None:
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units), initializer="glorot_uniform")
        self.scale = self.add_weight("scale", (self.units,), initializer=lamina.initializers.Constant(self.init_scale))
        self.offset = self.add_weight("offset", (self.units,), initializer="zeros", trainable=False)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return ops.add(ops.multiply(ops.matmul(inputs, self.kernel), self.scale), self.offset)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "init_scale": self.init_scale}


@register_lamina_serializable(package="SavingTests")
class EuclideanDistance(Layer):
    """The distance between two tensors, written with Keras 2 backend functions."""

    def call(self, inputs: Any) -> Any:
        a, b = inputs
        squared = K.sum(K.square(a - b), axis=1, keepdims=True)
        return K.sqrt(K.maximum(squared, K.epsilon()))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (input_shape[0][0], 1)


@register_lamina_serializable(package="SavingTests")
def contrastive_loss(y_true: Any, y_pred: Any) -> Any:
    """Hadsell et al.: similar pairs (y=1) pull together, dissimilar ones push past a margin of 1."""
    margin = 1.0
    positive = K.square(y_pred)
    negative = K.square(K.maximum(margin - y_pred, 0.0))
    return K.mean(y_true * positive + (1.0 - y_true) * negative, axis=-1)


def scaled_mse(y_true: Any, y_pred: Any) -> Any:
    """Not registered: load_model needs custom_objects={"scaled_mse": scaled_mse}."""
    return K.mean(K.square(y_pred - y_true), axis=-1) * 0.5


def soft_clip(x: Any) -> Any:
    """A custom activation (not registered) used by name in a Dense layer."""
    return ops.multiply(ops.tanh(ops.multiply(x, 0.5)), 2.0)


UNREGISTERED = {"scaled_mse": scaled_mse, "soft_clip": soft_clip}


def resumable_model():
    """The model of the interrupted-training test (Dropout included: its random stream is saved too)."""
    from lamina.layers import Dense, Dropout
    from lamina.models import Sequential
    from lamina.optimizers import Adam
    lamina.utils.set_random_seed(1)
    model = Sequential([Dense(16, input_shape=(10,), activation="relu"), Dropout(0.25),
                        Dense(3, activation="softmax")])
    model.compile(optimizer=Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
    return model
