"""Shared base of UpSampling, ZeroPadding and Cropping: a per-axis integer spec on the spatial axes."""
from __future__ import annotations

from typing import Any

from ..layer import Layer
from .base_conv import join_shape, pop_data_format, split_shape


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def pairs(value: Any, rank: int, name: str, kind: str) -> tuple[tuple[int, int], ...]:
    """Keras' padding/cropping spec: an int (same on both sides of every axis), ``rank`` ints
    (symmetric per axis) or ``rank`` pairs ``(before, after)``; 1-D also takes one pair."""
    if _is_int(value):
        out = ((value, value),) * rank
    else:
        try:
            items = list(value)
        except TypeError:
            raise TypeError(f"{kind}: {name} must be an int, {rank} ints or {rank} pairs of ints, got {value!r}.") \
                from None
        if rank == 1 and len(items) == 2 and all(_is_int(v) for v in items):
            out = ((items[0], items[1]),)
        elif len(items) == rank and all(_is_int(v) for v in items):
            out = tuple((v, v) for v in items)
        elif len(items) == rank and all(not _is_int(v) and len(list(v)) == 2 and all(_is_int(u) for u in v)
                                        for v in items):
            out = tuple((int(v[0]), int(v[1])) for v in items)
        else:
            raise ValueError(f"{kind}: {name} must be an int, {rank} ints or {rank} pairs of ints, got {value!r}.")
    if any(a < 0 or b < 0 for a, b in out):
        raise ValueError(f"{kind}: {name} entries must be >= 0, got {value!r}.")
    return out


class SpatialLayer(Layer):
    """A layer acting on the spatial axes of ``(batch, *spatial, channels)`` (or channels-first)."""

    rank = 2
    has_data_format = True

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        if self.has_data_format:
            self.data_format = pop_data_format(kwargs, data_format, type(self).__name__)
        else:
            self.data_format = "channels_last"
        super().__init__(**kwargs)

    def spatial_axes(self) -> tuple[int, ...]:
        first = 2 if self.data_format == "channels_first" else 1
        return tuple(range(first, first + self.rank))

    def _split(self, input_shape: tuple) -> tuple:
        return split_shape(self, input_shape, self.rank, self.data_format)

    def _join(self, batch: Any, spatial: Any, channels: Any) -> tuple:
        return join_shape(batch, spatial, channels, self.data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        if self.has_data_format:
            config["data_format"] = self.data_format
        return config
