"""``Sequential``: a linear stack of layers."""
from __future__ import annotations

from typing import Any, Iterable

from ..layers.core.dense import activation_to_fuse, dropout_to_fuse, run_fused
from ..layers.input_layer import InputLayer
from ..layers.layer import Layer
from ..layers.symbolic import KerasTensor
from .model import Model


class Sequential(Model):
    """A model whose layers each take the previous layer's output.

    Args:
        layers: optional list of layers to add.
        name: model name.

    Example:
        >>> model = Sequential()
        >>> model.add(Dense(500, input_shape=(784,), activation="tanh"))
        >>> model.add(Dense(10, activation="softmax"))
    """

    def __init__(self, layers: Iterable[Layer] | None = None, name: str | None = None, **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self._layers: list[Layer] = []
        self._input_shape: tuple | None = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self) -> list[Layer]:
        return [layer for layer in self._layers if not isinstance(layer, InputLayer)]

    def _all_layers(self) -> list[Layer]:
        return self.layers

    def add(self, layer: Layer) -> None:
        """Append a layer; the first one may carry ``input_shape``/``input_dim``."""
        if isinstance(layer, KerasTensor) and layer._keras_history is not None:
            layer = layer._keras_history[0]  # Sequential.add(Input(shape=...)) adds its InputLayer
        if isinstance(layer, type) and issubclass(layer, Layer):
            raise TypeError(f"Sequential.add got the class {layer.__name__}; add an instance, e.g. {layer.__name__}(...).")
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add expects a Layer instance, got {type(layer).__name__}.")
        if not self._layers and layer.batch_input_shape is not None:
            self._input_shape = tuple(layer.batch_input_shape)
        elif layer.batch_input_shape is not None and self._layers and isinstance(self._layers[-1], InputLayer) is False:
            pass  # Keras ignores input_shape on later layers
        self._layers.append(layer)
        if self._input_shape is not None:
            self.built = False
            self.build(self._input_shape)

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self.layers:
            raise TypeError("There are no layers in the model to pop.")
        layer = self._layers.pop()
        self.built = False
        if self._input_shape is not None and self.layers:
            self.build(self._input_shape)
        return layer

    def build(self, input_shape: tuple | None = None) -> None:
        if input_shape is None:
            input_shape = self._input_shape
        if input_shape is None:
            raise ValueError(f"Cannot build {self.name!r} without an input shape; give the first layer "
                             "input_shape=(...) or call build((None, features)).")
        shape = tuple(input_shape)
        self._input_shape = shape
        for layer in self.layers:
            layer._maybe_build(shape)
            shape = tuple(layer.compute_output_shape(shape))
        self.built = True

    def _ensure_built(self, xs: list) -> None:
        if not self.built:
            self.build((None,) + tuple(xs[0].shape[1:]))

    def _expected_input_shapes(self) -> list | None:
        return None if self._input_shape is None else [self._input_shape]

    def _input_layer_label(self, i: int) -> str:
        first = self.layers[0] if self.layers else self
        return f"{first.name!r} ({type(first).__name__})"

    @property
    def input_names(self) -> list[str]:
        first = self._layers[0] if self._layers else None
        return [first.name if first is not None else "input_1"]

    @property
    def output_names(self) -> list[str]:
        return [self.layers[-1].name if self.layers else "output_1"]

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = inputs
        layers = self.layers
        i = 0
        while i < len(layers):
            layer = layers[i]
            fused = activation_to_fuse(layer, layers[i + 1], x) if i + 1 < len(layers) else None
            if fused is None:
                x = layer(x, training=training)
                i += 1
            else:  # Dense(n) + Activation(a) as one op: nothing but the Activation reads the Dense output
                mode = dropout_to_fuse(layers[i + 2], training) if i + 2 < len(layers) else None
                drop = layers[i + 2] if mode is not None else None
                x = run_fused(layer, layers[i + 1], x, fused, training, drop, mode)  # and a Dropout after them
                i += 2 if drop is None else 3
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape))
        return shape

    @property
    def input_shape(self) -> tuple | None:
        return self._input_shape

    @property
    def output_shape(self) -> tuple | None:
        return None if self._input_shape is None else self.compute_output_shape(self._input_shape)

    def layer_output_shapes(self) -> list[tuple]:
        shapes = []
        shape = self._input_shape
        for layer in self.layers:
            shape = tuple(layer.compute_output_shape(shape)) if shape is not None else None
            shapes.append(shape)
        return shapes

    # --- Keras 2 conveniences -------------------------------------------------------------
    def predict_classes(self, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        """Class indices: argmax of the outputs, or outputs > 0.5 for one output unit (Keras 2)."""
        proba = self.predict(x, batch_size=batch_size, verbose=verbose)
        if proba.shape[-1] > 1:
            return proba.argmax(axis=-1)
        return (proba > 0.5).astype("int32")

    def predict_proba(self, x: Any, batch_size: int = 32, verbose: int = 0) -> Any:
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def get_config(self) -> dict:
        from ..layers import serialize
        return {"name": self.name, "layers": [serialize(layer) for layer in self._layers]}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        from ..layers import deserialize
        model = cls(name=config.get("name"))
        for spec in config["layers"]:
            model.add(deserialize(spec, custom_objects=custom_objects))
        return model
