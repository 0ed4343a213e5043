"""``SpatialDropout3D``: drops whole channels of a volume."""
from __future__ import annotations

from typing import Any

from .base_spatial_dropout import _SpatialDropout


class SpatialDropout3D(_SpatialDropout):
    """Dropout of entire 3-D feature maps: a dropped channel is zero at every voxel.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        data_format: ``"channels_last"`` (batch, d1, d2, d3, channels) or ``"channels_first"``
            (batch, channels, d1, d2, d3); default ``image_data_format()``.
        seed: int for a reproducible Philox stream.

    Input shape: 5-D as ``data_format`` says. Output shape: same.

    Example:
        >>> model.add(SpatialDropout3D(0.25))
    """

    rank = 5

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None, **kwargs: Any):
        super().__init__(rate, data_format=data_format, seed=seed, **kwargs)
