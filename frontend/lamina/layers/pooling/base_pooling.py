"""Shared bases of the pooling layers: windowed (``_Pooling``) and global (``_GlobalPooling``)."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..convolutional._reshaping import SpatialLayer
from ..convolutional.base_conv import as_tuple, check_padding, spatial_output
from .._masked import masked_mean, step_weights


class _Pooling(SpatialLayer):
    """Max or average over windows of ``pool_size`` moved by ``strides`` (``None``: ``pool_size``)."""

    mode = "max"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        kind = type(self).__name__
        # Keras 1 spellings.
        pool_size = kwargs.pop("pool_length", pool_size)
        strides = kwargs.pop("stride", strides)
        padding = kwargs.pop("border_mode", padding)
        super().__init__(data_format, **kwargs)
        self.pool_size = as_tuple(pool_size, self.rank, "pool_size", kind)
        self.strides = self.pool_size if strides is None else as_tuple(strides, self.rank, "strides", kind)
        self.padding = check_padding(padding, kind)

    def call(self, inputs: Any) -> ops.Tensor:
        self._split(inputs.shape)
        pool = ops.max_pool if self.mode == "max" else ops.average_pool
        return pool(inputs, self.pool_size, self.strides, self.padding, self.data_format)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        return self._join(batch, spatial_output(self, spatial, self.pool_size, self.strides, self.padding), channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding,
                       "data_format": self.data_format})
        return config


class _GlobalPooling(SpatialLayer):
    """Max or mean over all spatial axes: ``(batch, channels)``, or with ``keepdims=True`` the
    spatial axes kept with length 1."""

    mode = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any):
        super().__init__(data_format, **kwargs)
        self.keepdims = bool(keepdims)

    def call(self, inputs: Any, mask: Any = None) -> ops.Tensor:
        self._split(inputs.shape)
        if mask is not None and self.mode != "max" and self.rank == 1:
            return self._masked_mean(inputs, mask)
        reduce = ops.max if self.mode == "max" else ops.mean
        return reduce(inputs, axis=self.spatial_axes(), keepdims=self.keepdims)

    def _masked_mean(self, inputs: ops.Tensor, mask: Any) -> ops.Tensor:
        """The mean over the steps the ``(batch, steps)`` mask keeps, as Keras' GlobalAveragePooling1D
        (0 for a sequence that is all padding)."""
        keep = step_weights(mask, inputs, 1 if self.data_format == "channels_first" else -1)
        return masked_mean(inputs, keep, self.spatial_axes(), self.keepdims)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._split(input_shape)
        if self.keepdims:
            return self._join(batch, (1,) * self.rank, channels)
        return (batch, channels)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


_SHAPES = {1: ("(batch, steps, features)", "steps"), 2: ("(batch, rows, cols, channels)", "rows, cols"),
           3: ("(batch, d1, d2, d3, channels)", "d1, d2, d3")}


def pooling_class(name: str, rank: int, mode: str) -> type:
    """A Keras pooling layer class: windowed ``MaxPoolingND``/``AveragePoolingND``."""
    what = "maximum" if mode == "max" else "average"
    doc = f"""{rank}-D {what} pooling over windows of ``pool_size``.

    Args:
        pool_size: an int or {rank} ints, default 2 along every spatial axis.
        strides: an int or {rank} ints; ``None`` (default) means ``pool_size``.
        padding: ``"valid"`` (default) or ``"same"``{' (the average counts only real elements)' if mode != 'max' else ''}.
        data_format: ``None`` means the global ``image_data_format``.
        Keras 1 names: ``pool_length``, ``stride``, ``border_mode``, ``dim_ordering``.

    Input ``{_SHAPES[rank][0]}``; output the same with the spatial axes ({_SHAPES[rank][1]}) pooled,
    lengths per ``conv_output_shape`` (channels_first puts channels after the batch axis).

    Example:
        >>> model.add({name}({'(2, 2)' if rank == 2 else '2'}))
    """
    return type(name, (_Pooling,), {"rank": rank, "mode": mode, "__doc__": doc, "__module__": __name__})


def global_pooling_class(name: str, rank: int, mode: str) -> type:
    """A Keras global pooling layer class: ``GlobalMaxPoolingND``/``GlobalAveragePoolingND``."""
    what = "maximum" if mode == "max" else "mean"
    masked = "\n    With a mask (``Masking``, ``Embedding(mask_zero=True)``) only the kept steps are averaged."
    masked = masked if mode != "max" and rank == 1 else ""
    doc = f"""Global {what} over the {rank} spatial axes.

    Args:
        data_format: ``None`` means the global ``image_data_format`` (Keras 1 ``dim_ordering``).
        keepdims: keep the spatial axes with length 1 (default False).

    Input ``{_SHAPES[rank][0]}``; output ``(batch, channels)``.{masked}

    Example:
        >>> model.add({name}())
    """
    return type(name, (_GlobalPooling,), {"rank": rank, "mode": mode, "__doc__": doc, "__module__": __name__})
