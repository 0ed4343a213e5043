"""``Wrapper``: the base of layers that wrap another layer (its weights are the wrapper's)."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class Wrapper(Layer):
    """Holds an inner ``layer``; ``weights``, ``trainable_weights``, ``losses`` and the config
    include the inner layer's.

    Args:
        layer: the wrapped ``Layer`` instance.
    """

    def __init__(self, layer: Layer, **kwargs: Any):
        if not isinstance(layer, Layer):
            raise ValueError(f"{type(self).__name__} wraps a Layer instance, got {layer!r}; e.g. "
                             f"{type(self).__name__}(Dense(8)).")
        super().__init__(**kwargs)
        self.layer = layer

    @property
    def weights(self) -> list[ops.Variable]:
        return list(self._weights) + [w for w in self.layer.weights if all(w is not v for v in self._weights)]

    @property
    def trainable_weights(self) -> list[ops.Variable]:
        if not self.trainable:
            return []
        return [w for w in self._weights if w.trainable] + self.layer.trainable_weights

    @property
    def non_trainable_weights(self) -> list[ops.Variable]:
        if not self.trainable:
            return self.weights
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    trainable_variables = trainable_weights
    variables = weights

    @property
    def losses(self) -> list[ops.Tensor]:
        return list(Layer.losses.fget(self)) + list(self.layer.losses)

    def get_config(self) -> dict:
        from .. import serialize  # registered custom classes go by their registered name
        config = super().get_config()
        config["layer"] = serialize(self.layer)
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Wrapper":
        from .. import deserialize  # lamina.layers' lookup; imported late (it imports this package)
        config = dict(config)
        spec = config.pop("layer")
        inner = spec if isinstance(spec, Layer) else deserialize(spec, custom_objects=custom_objects)
        return cls(inner, **config)
