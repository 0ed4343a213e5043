"""``Sequential``: a linear stack of layers."""
from __future__ import annotations

from typing import Any, Iterable

from ..layers.core.dense import activation_to_fuse, dropout_to_fuse, run_fused
from ..layers.input_layer import InputLayer
from ..layers.layer import Layer
from ..layers.symbolic import KerasTensor
from .functional import Functional
from .model import Model


def _model_input_shape(layer: Layer) -> tuple | None:
    """The input shape of a model with one known input (a pretrained base added first), else None."""
    if isinstance(layer, Sequential):
        return layer._input_shape
    if isinstance(layer, Functional) and len(layer.inputs) == 1:
        return tuple(layer.inputs[0].shape)
    return None


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
        # The layers called on an Input of the input shape, as Keras 2 does once that shape is
        # known: model.input/output and each layer's input/output. Tensors only (each knows its
        # layer), so that walks over a model's attributes do not meet the layers twice.
        self._graph_input: KerasTensor | None = None
        self._graph_outputs: list[KerasTensor] = []
        self._graph_error: str | None = None
        self._layer_shapes: list[tuple] = []  # each layer's output shape from build(), which the graph reuses
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
        elif not self._layers and _model_input_shape(layer) is not None:
            self._input_shape = _model_input_shape(layer)  # a built model first: its input is the stack's (Keras 2)
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
        self._layer_shapes = []
        for layer in self.layers:
            layer._maybe_build(shape)
            shape = tuple(layer.compute_output_shape(shape))
            self._layer_shapes.append(shape)
        self.built = True
        self._connect_graph()

    def _connect_graph(self) -> None:
        """Bring the symbolic graph up to date with the layers: keep the calls of the layers that
        are still in place, call the others on the last output (one node per layer, as Keras 2's
        ``add``). The batch size is the declared one (``batch_input_shape``), else ``None``."""
        if self._input_shape is None:
            return
        first = self._layers[0] if self._layers else None
        declared = None if first is None or first.batch_input_shape is None else first.batch_input_shape[0]
        shape = (declared,) + tuple(self._input_shape[1:])
        if self._graph_input is None or self._graph_input.shape != shape:
            if isinstance(first, InputLayer) and tuple(first.batch_input_shape) == shape:
                self._graph_input = first.output
            else:  # Keras 2's name for the input a Sequential model makes
                label = self.layers[0].name if self.layers else self.name
                self._graph_input = InputLayer(batch_shape=shape, name=f"{label}_input").output
            self._graph_outputs = []
        layers = self.layers
        keep = 0
        while (keep < min(len(layers), len(self._graph_outputs))
               and self._graph_outputs[keep]._keras_history[0] is layers[keep]):
            keep += 1
        del self._graph_outputs[keep:]
        x = self._graph_outputs[-1] if self._graph_outputs else self._graph_input
        self._graph_error = None
        shapes = self._layer_shapes
        try:
            for k in range(keep, len(layers)):
                layer = layers[k]
                if len(shapes) == len(layers) and all(s is None or isinstance(s, int) for s in shapes[k]):
                    # The shape build() found: computing it again would run a custom layer's call on
                    # zeros once more (its random draws and side effects; a seeded fit would change).
                    x = layer._call_symbolic(x, {}, out_shape=(shape[0],) + shapes[k][1:])
                else:
                    x = layer(x)
                self._graph_outputs.append(x)
        except (ValueError, TypeError, NotImplementedError) as exc:
            # The model still runs on arrays (build succeeded); only the symbolic view is missing.
            self._graph_error = f"calling layer {layer.name!r} on a symbolic tensor failed: {exc}"

    def _graph(self) -> tuple[KerasTensor, KerasTensor]:
        """The graph's input and output tensors, or an AttributeError saying why there are none."""
        if self._input_shape is None:
            raise AttributeError(
                f"Sequential model {self.name!r} has no input yet: give the first layer input_shape=(...) "
                "(or start with Input(shape=...)), or build it with model.build((None, ...)) or a fit/call.")
        self._connect_graph()  # the layers may have changed since the last build (pop)
        if self._graph_error is not None:
            raise AttributeError(f"Sequential model {self.name!r} has no symbolic graph: {self._graph_error}")
        return self._graph_input, self._graph_outputs[-1] if self._graph_outputs else self._graph_input

    @property
    def input(self) -> KerasTensor:
        """The symbolic input (Keras' ``model.input``): ``Model(model.input, model.layers[k].output)``
        reads intermediate activations with the same layers and weights."""
        return self._graph()[0]

    @property
    def output(self) -> KerasTensor:
        """The symbolic output: the last layer's output on ``model.input``."""
        return self._graph()[1]

    @property
    def inputs(self) -> list[KerasTensor]:
        return [self._graph()[0]]

    @property
    def outputs(self) -> list[KerasTensor]:
        return [self._graph()[1]]

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
