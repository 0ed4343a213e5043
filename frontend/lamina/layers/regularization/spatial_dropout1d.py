"""``SpatialDropout1D``: drops whole channels of a sequence."""
from __future__ import annotations

from typing import Any

from .base_spatial_dropout import _SpatialDropout


class SpatialDropout1D(_SpatialDropout):
    """Dropout of entire 1-D feature maps: a dropped channel is zero at every step.

    Args:
        rate: fraction of channels to drop, in [0, 1).
        seed: int for a reproducible Philox stream.

    Input shape: ``(batch, steps, channels)``. Output shape: same.

    Example:
        >>> model.add(SpatialDropout1D(0.2))
    """

    rank = 3

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        kwargs.pop("data_format", None)  # sequences are always (batch, steps, channels)
        super().__init__(rate, data_format="channels_last", seed=seed, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("data_format", None)
        return config
