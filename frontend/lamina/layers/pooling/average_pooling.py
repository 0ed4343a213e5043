"""Average pooling layers (1-D, 2-D, 3-D) and their Keras short aliases."""
from __future__ import annotations

from typing import Any

from .base_pooling import _Pooling


class AveragePooling1D(_Pooling):
    """1-D mean (padding not counted) pooling over windows of ``pool_size``.

    Args:
        pool_size: an int or a 1-tuple, default ``2``.
        strides: an int or a 1-tuple; ``None`` (default) means ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``None`` means the global ``image_data_format``.
        Keras 1 names: ``pool_length``, ``stride``, ``border_mode``.

    Input ``(batch, steps, features)``; output ``(batch, pooled_steps, features)``
    (channels_last; channels_first puts channels after the batch axis), lengths per
    ``conv_output_shape``.

    Example:
        >>> model.add(AveragePooling1D(2))
    """

    rank = 1
    mode = "average"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


AvgPool1D = AveragePooling1D


class AveragePooling2D(_Pooling):
    """2-D mean (padding not counted) pooling over windows of ``pool_size``.

    Args:
        pool_size: an int or 2 ints, default ``(2, 2)``.
        strides: an int or 2 ints; ``None`` (default) means ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``None`` means the global ``image_data_format``.
        Keras 1 names: ``border_mode``, ``dim_ordering``.

    Input ``(batch, rows, cols, channels)``; output ``(batch, pooled_rows, pooled_cols, channels)``
    (channels_last; channels_first puts channels after the batch axis), lengths per
    ``conv_output_shape``.

    Example:
        >>> model.add(AveragePooling2D(pool_size=(2, 2)))
    """

    rank = 2
    mode = "average"

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


AvgPool2D = AveragePooling2D


class AveragePooling3D(_Pooling):
    """3-D mean (padding not counted) pooling over windows of ``pool_size``.

    Args:
        pool_size: an int or 3 ints, default ``(2, 2, 2)``.
        strides: an int or 3 ints; ``None`` (default) means ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``.
        data_format: ``None`` means the global ``image_data_format``.
        Keras 1 names: ``border_mode``, ``dim_ordering``.

    Input ``(batch, d1, d2, d3, channels)``; output ``(batch, p1, p2, p3, channels)``
    (channels_last; channels_first puts channels after the batch axis), lengths per
    ``conv_output_shape``.

    Example:
        >>> model.add(AveragePooling3D((2, 2, 2)))
    """

    rank = 3
    mode = "average"

    def __init__(self, pool_size: Any = (2, 2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


AvgPool3D = AveragePooling3D
