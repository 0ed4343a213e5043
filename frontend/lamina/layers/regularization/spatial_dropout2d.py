"""``SpatialDropout2D``: drops whole channels of an image."""
from __future__ import annotations

from typing import Any

from .base_spatial_dropout import _SpatialDropout


class SpatialDropout2D(_SpatialDropout):
    """Dropout of entire 2-D feature maps: a dropped channel is zero at every pixel.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: ``"channels_last"`` (batch, rows, cols, channels) or ``"channels_first"``
            (batch, channels, rows, cols); default ``image_data_format()``.
        seed: int for a reproducible Philox stream.

    Input shape: 4-D as ``data_format`` says. Output shape: same.

    Example:
        >>> model.add(SpatialDropout2D(0.25))
    """

    rank = 4

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any):
        super().__init__(rate, data_format=data_format, seed=seed, **kwargs)
