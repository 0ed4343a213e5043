"""``ZeroPadding1D``/``ZeroPadding2D``/``ZeroPadding3D``: zeros around the spatial axes."""
from __future__ import annotations

from typing import Any

from ... import ops
from ._reshaping import SpatialLayer, pairs


class _ZeroPadding(SpatialLayer):
    def __init__(self, padding: Any = 1, data_format: str | None = None, **kwargs: Any):
        super().__init__(data_format, **kwargs)
        self.padding = pairs(padding, self.rank, "padding", type(self).__name__)

    def call(self, inputs: Any) -> ops.Tensor:
        self._split(inputs.shape)
        widths = [(0, 0)] * inputs.ndim
        for axis, pw in zip(self.spatial_axes(), self.padding):
            widths[axis] = pw
        return ops.pad(inputs, widths)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        return self._join(batch, [None if n is None else n + a + b for n, (a, b) in zip(spatial, self.padding)],
                          channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config["padding"] = self.padding[0] if self.rank == 1 else self.padding
        return config


class ZeroPadding1D(_ZeroPadding):
    """Zeros at the start and end of the steps axis.

    Args:
        padding: an int (both ends, default 1) or a pair ``(start, end)``.

    Input ``(batch, steps, features)``; output ``(batch, start + steps + end, features)``.

    Example:
        >>> model.add(ZeroPadding1D(2))
    """

    rank = 1
    has_data_format = False

    def __init__(self, padding: Any = 1, **kwargs: Any):
        super().__init__(padding, **kwargs)


class ZeroPadding2D(_ZeroPadding):
    """Zeros around rows and columns.

    Args:
        padding: an int (default 1), 2 ints ``(rows, cols)`` (symmetric) or 2 pairs
            ``((top, bottom), (left, right))``.
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).

    Input ``(batch, rows, cols, channels)``; output ``(batch, top + rows + bottom, left + cols + right,
    channels)`` (channels_last).

    Example:
        >>> model.add(ZeroPadding2D((1, 1)))
    """

    rank = 2

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(padding, data_format, **kwargs)


class ZeroPadding3D(_ZeroPadding):
    """Zeros around three spatial axes (an int, 3 ints or 3 pairs; default 1). See :class:`ZeroPadding2D`."""

    rank = 3

    def __init__(self, padding: Any = (1, 1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(padding, data_format, **kwargs)
