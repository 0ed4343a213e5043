"""Shared bases of the pooling layers: windowed (``_Pooling``) and global (``_GlobalPooling``)."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..convolutional._reshaping import SpatialLayer
from ..convolutional.base_conv import as_tuple, check_padding, spatial_output


class _Pooling(SpatialLayer):
    """Max or average over windows of ``pool_size`` moved by ``strides`` (``None``: ``pool_size``)."""

    mode = "max"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        kind = type(self).__name__
        # Keras 1 spellings.
        pool_size = kwargs.pop("pool_length", pool_size)
        strides = kwargs.pop("stride", strides)
        padding = kwargs.pop("border_mode", padding)
        super().__init__(data_format, **kwargs)
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size", kind)
        self.strides = self.pool_size if strides is None else as_tuple(strides, self.rank, "strides", kind)
        self.padding = check_padding(padding, kind)

    def call(self, inputs: Any) -> ops.Tensor:
        self._split(inputs.shape)
        pool = ops.max_pool if self.mode == "max" else ops.average_pool
        return pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        return self._join(batch, spatial_output(self, spatial, self.pool_size, self.strides, self.padding), channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding,
                       "data_format": self.data_format})
        return config


class _GlobalPooling(SpatialLayer):
    """Max or mean over all spatial axes: ``(batch, channels)``, or with ``keepdims=True`` the
    spatial axes kept with length 1."""

    mode = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(data_format, **kwargs)
        self.keepdims = bool(keepdims)

    def call(self, inputs: Any) -> ops.Tensor:
        self._split(inputs.shape)
        reduce = ops.max if self.mode == "max" else ops.mean
        return reduce(inputs, axis=self.spatial_axes(), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        if self.keepdims:
            return self._join(batch, (1,) * self.rank, channels)
        return (batch, channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config
