"""Global average pooling layers (1-D, 2-D, 3-D) and their Keras short aliases."""
from __future__ import annotations

from .base_pooling import _GlobalPooling


class GlobalAveragePooling1D(_GlobalPooling):
    """Global mean over the 1 spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``(batch, steps, features)``; output ``(batch, channels)``.

    Example:
        >>> model.add(GlobalAveragePooling1D())
    """

    rank = 1
    mode = "average"


GlobalAvgPool1D = GlobalAveragePooling1D


class GlobalAveragePooling2D(_GlobalPooling):
    """Global mean over the 2 spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``(batch, rows, cols, channels)``; output ``(batch, channels)``.

    Example:
        >>> model.add(GlobalAveragePooling2D())
    """

    rank = 2
    mode = "average"


GlobalAvgPool2D = GlobalAveragePooling2D


class GlobalAveragePooling3D(_GlobalPooling):
    """Global mean over the 3 spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``(batch, d1, d2, d3, channels)``; output ``(batch, channels)``.

    Example:
        >>> model.add(GlobalAveragePooling3D())
    """

    rank = 3
    mode = "average"


GlobalAvgPool3D = GlobalAveragePooling3D
