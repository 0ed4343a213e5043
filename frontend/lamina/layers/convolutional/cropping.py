"""``Cropping1D``/``Cropping2D``/``Cropping3D``: cut entries off the ends of the spatial axes."""
from __future__ import annotations

from typing import Any

from ... import ops
from ._reshaping import SpatialLayer, pairs


class _Cropping(SpatialLayer):
    def __init__(self, cropping: Any = 1, data_format: str | None = None, **kwargs: Any):
        super().__init__(data_format, **kwargs)
        self.cropping = pairs(cropping, self.rank, "cropping", type(self).__name__)

    def _check(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        out = []
        for i, (n, (a, b)) in enumerate(zip(spatial, self.cropping)):
            if n is not None and a + b >= n:
                raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) cannot crop {a} + {b} entries from "
                                 f"spatial axis {i + 1} of length {n} (input shape {tuple(input_shape)}); "
                                 f"at least one must remain.")
            out.append(None if n is None else n - a - b)
        return batch, out, channels

    def call(self, inputs: Any) -> ops.Tensor:
        self._check(inputs.shape)
        key = [slice(None)] * inputs.ndim
        for axis, (a, b) in zip(self.spatial_axes(), self.cropping):
            key[axis] = slice(a, inputs.shape[axis] - b)
        return ops.getitem(inputs, tuple(key))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self._join(*self._check(input_shape))

    def get_config(self) -> dict:
        config = super().get_config()
        config["cropping"] = self.cropping[0] if self.rank == 1 else self.cropping
        return config


class Cropping1D(_Cropping):
    """Crop the steps axis.

    Args:
        cropping: an int (both ends) or a pair ``(start, end)``; default ``(1, 1)``.

    Input ``(batch, steps, features)``; output ``(batch, steps - start - end, features)``.

    Example:
        >>> model.add(Cropping1D((1, 2)))
    """

    rank = 1
    has_data_format = False

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any):
        super().__init__(cropping, **kwargs)


class Cropping2D(_Cropping):
    """Crop rows and columns.

    Args:
        cropping: an int, 2 ints ``(rows, cols)`` (symmetric) or 2 pairs
            ``((top, bottom), (left, right))``; default ``((0, 0), (0, 0))``.
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).

    Input ``(batch, rows, cols, channels)``; output ``(batch, rows - top - bottom, cols - left - right,
    channels)`` (channels_last).

    Example:
        >>> model.add(Cropping2D(((2, 2), (4, 4))))
    """

    rank = 2

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any):
        super().__init__(cropping, data_format, **kwargs)


class Cropping3D(_Cropping):
    """Crop three spatial axes (default ``((1, 1), (1, 1), (1, 1))``). See :class:`Cropping2D`."""

    rank = 3

    def __init__(self, cropping: Any = ((1, 1), (1, 1), (1, 1)), data_format: str | None = None, **kwargs: Any):
        super().__init__(cropping, data_format, **kwargs)
