"""``_SpatialDropout``: dropout of whole feature maps (one mask value per sample and channel)."""
from __future__ import annotations

from typing import Any

from ... import _config, ops
from ..core.dropout import Dropout


class _SpatialDropout(Dropout):
    """Drops entire channels: the mask has size 1 on the spatial (or time) axes, so a dropped
    channel is zero at every position and the kept ones are scaled by 1/(1-rate). The mask bits
    are those ``Dropout`` would draw for a mask of that shape.

    Subclasses set ``rank`` (the input's rank, batch included).
    """

    rank = 3

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any):
        kwargs.pop("noise_shape", None)  # fixed by the layer; tolerated for configs written by Dropout
        super().__init__(rate, seed=seed, **kwargs)
        if data_format is None:
            data_format = _config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"{type(self).__name__} data_format must be 'channels_last' or 'channels_first', "
                             f"got {data_format!r}.")
        self.data_format = data_format

    def _noise_shape(self, shape: tuple) -> tuple:
        if len(shape) != self.rank:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) expects inputs of rank {self.rank} "
                             f"({self._layout()}), got shape {tuple(shape)}.")
        if self.data_format == "channels_first":
            return (shape[0], shape[1]) + (1,) * (self.rank - 2)
        return (shape[0],) + (1,) * (self.rank - 2) + (shape[-1],)

    def _layout(self) -> str:
        spatial = ", ".join(["steps"] if self.rank == 3 else [f"dim{i + 1}" for i in range(self.rank - 2)])
        if self.data_format == "channels_first":
            return f"batch, channels, {spatial}"
        return f"batch, {spatial}, channels"

    def build(self, input_shape: Any) -> None:
        self._noise_shape(tuple(input_shape))
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> ops.Tensor:
        shape = self._noise_shape(inputs.shape)
        if not training or self.rate == 0.0:
            return inputs
        seed, counter = self.seed_generator.next()
        mask = ops.dropout(ops.ones(shape, inputs.dtype), self.rate, seed, counter)
        return ops.multiply(inputs, ops.stop_gradient(mask))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        self._noise_shape(tuple(input_shape))  # checks the rank
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("noise_shape", None)
        config["data_format"] = self.data_format
        return config
