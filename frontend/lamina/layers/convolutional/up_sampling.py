"""``UpSampling1D``/``UpSampling2D``/``UpSampling3D``: repeat every element ``size`` times along
each spatial axis (nearest-neighbour up-sampling)."""
from __future__ import annotations

from typing import Any

from ... import ops
from ._reshaping import SpatialLayer
from .base_conv import as_tuple


class _UpSampling(SpatialLayer):
    def __init__(self, size: Any = 2, data_format: str | None = None, **kwargs: Any):
        kind = type(self).__name__
        if "length" in kwargs:  # Keras 1 UpSampling1D(length=2)
            size = kwargs.pop("length")
        interpolation = kwargs.pop("interpolation", "nearest")
        if interpolation != "nearest":
            raise ValueError(f"{kind} supports interpolation='nearest' only, got {interpolation!r}.")
        super().__init__(data_format, **kwargs)
        self.size = as_tuple(size, self.rank, "size", kind)
        self.interpolation = interpolation

    def call(self, inputs: Any) -> ops.Tensor:
        self._split(inputs.shape)
        x = inputs
        # Repeat each spatial axis by inserting a broadcast axis after it, then merging the two.
        for axis, factor in zip(self.spatial_axes(), self.size):
            if factor == 1:
                continue
            shape = tuple(x.shape)
            expanded = shape[:axis + 1] + (1,) + shape[axis + 1:]
            tiled = shape[:axis + 1] + (factor,) + shape[axis + 1:]
            x = ops.broadcast_to(ops.reshape(x, expanded), tiled)
            x = ops.reshape(x, shape[:axis] + (shape[axis] * factor,) + shape[axis + 1:])
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        return self._join(batch, [None if n is None else n * f for n, f in zip(spatial, self.size)], channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config["size"] = self.size[0] if self.rank == 1 else self.size
        if self.rank == 2:
            config["interpolation"] = self.interpolation
        return config


class UpSampling1D(_UpSampling):
    """Repeat each step ``size`` times (default 2; Keras 1 ``length``).

    Input ``(batch, steps, features)``; output ``(batch, steps * size, features)``.

    Example:
        >>> model.add(UpSampling1D(2))
    """

    rank = 1
    has_data_format = False

    def __init__(self, size: int = 2, **kwargs: Any):
        super().__init__(size, **kwargs)


class UpSampling2D(_UpSampling):
    """Repeat rows and columns ``size = (2, 2)`` times (nearest neighbour).

    Args:
        size: an int or 2 ints (default ``(2, 2)``).
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        interpolation: ``"nearest"`` only.

    Input ``(batch, rows, cols, channels)``; output ``(batch, rows * size[0], cols * size[1], channels)``
    (channels_last).

    Example:
        >>> model.add(UpSampling2D((2, 2)))
    """

    rank = 2

    def __init__(self, size: Any = (2, 2), data_format: str | None = None, **kwargs: Any):
        super().__init__(size, data_format, **kwargs)


class UpSampling3D(_UpSampling):
    """Repeat the three spatial axes ``size = (2, 2, 2)`` times. See :class:`UpSampling2D`."""

    rank = 3

    def __init__(self, size: Any = (2, 2, 2), data_format: str | None = None, **kwargs: Any):
        super().__init__(size, data_format, **kwargs)
