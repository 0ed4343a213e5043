"""Global max pooling layers (1-D, 2-D, 3-D) and their Keras short aliases."""
from __future__ import annotations

from .base_pooling import _GlobalPooling


class GlobalMaxPooling1D(_GlobalPooling):
    """Global maximum over the 1 spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``(batch, steps, features)``; output ``(batch, channels)``.

    Example:
        >>> model.add(GlobalMaxPooling1D())
    """

    rank = 1
    mode = "max"


GlobalMaxPool1D = GlobalMaxPooling1D


class GlobalMaxPooling2D(_GlobalPooling):
    """Global maximum over the 2 spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``(batch, rows, cols, channels)``; output ``(batch, channels)``.

    Example:
        >>> model.add(GlobalMaxPooling2D())
    """

    rank = 2
    mode = "max"


GlobalMaxPool2D = GlobalMaxPooling2D


class GlobalMaxPooling3D(_GlobalPooling):
    """Global maximum over the 3 spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``(batch, d1, d2, d3, channels)``; output ``(batch, channels)``.

    Example:
        >>> model.add(GlobalMaxPooling3D())
    """

    rank = 3
    mode = "max"


GlobalMaxPool3D = GlobalMaxPooling3D
