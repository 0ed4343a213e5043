"""``Conv1DTranspose``/``Conv2DTranspose``/``Conv3DTranspose``: transposed ("de-") convolution
layers (Keras 1 / Keras 2 alias ``Deconvolution2D``, ``Deconvolution3D``)."""
from __future__ import annotations

from typing import Any

from ... import ops
from ...ops.conv import conv_transpose_output_shape
from .base_conv import _Conv, add_channel_bias, join_shape, split_shape


class _ConvTranspose(_Conv):
    """Transposed convolution: the input gradient of a convolution with the same kernel, so it
    maps a ``conv`` output shape back to its input shape (up-sampling by ``strides``).

    Kernel shape: ``(*kernel_size, filters, in_channels)`` (Keras' layout, both data formats).
    ``output_padding`` (an int or one int per axis, each < its stride) picks among the output
    lengths that the same forward convolution could have come from; ``None`` (default) uses
    Keras' ``deconv_output_length``: ``valid`` → ``L s + max(k - s, 0)``, ``same`` → ``L s``.
    """

    def __init__(self, filters: int | None = None, kernel_size: Any = None, *legacy: Any,
                 output_padding: Any = None, **kwargs: Any):
        kwargs.pop("output_shape", None)  # Keras 1 Deconvolution2D's explicit output_shape: derived here
        if kwargs.pop("groups", 1) != 1:
            raise ValueError(f"{type(self).__name__} does not support groups != 1.")
        super().__init__(filters, kernel_size, *legacy, **kwargs)
        if output_padding is not None:
            kind = type(self).__name__
            if isinstance(output_padding, int) and not isinstance(output_padding, bool):
                output_padding = (output_padding,) * self.rank
            try:
                output_padding = tuple(int(v) for v in output_padding)
            except TypeError:
                raise TypeError(f"{kind}: output_padding must be None, an int or {self.rank} ints, "
                                f"got {output_padding!r}.") from None
            if len(output_padding) != self.rank or any(not 0 <= op < s for op, s in
                                                       zip(output_padding, self.strides)):
                raise ValueError(f"{kind}: output_padding must have {self.rank} entries, each in [0, stride); got "
                                 f"output_padding={output_padding}, strides={self.strides}.")
        self.output_padding = output_padding

    def _keras1_positional(self, filters: Any, kernel_size: Any, legacy: list, kwargs: dict):
        filters, kernel_size, legacy = super()._keras1_positional(filters, kernel_size, legacy, kwargs)
        # Keras 1 Deconvolution2D(nb_filter, nb_row, nb_col, output_shape, ...): drop the output shape.
        if legacy and isinstance(legacy[0], (tuple, list)) and len(legacy[0]) == self.rank + 2:
            legacy = legacy[1:]
        return filters, kernel_size, legacy

    def build(self, input_shape: tuple) -> None:
        _, _, channels = split_shape(self, input_shape, self.rank, self.data_format)
        if channels is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) needs a known channel axis, got "
                             f"input shape {tuple(input_shape)} ({self.data_format}).")
        self.input_channels = int(channels)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters, self.input_channels),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs: Any) -> Any:
        self._check_input(inputs.shape)
        y = ops.conv_transpose(inputs, self.kernel, self.strides, self.padding, self.output_padding,
                               self.data_format, self.dilation_rate)
        if self.use_bias:
            y = add_channel_bias(y, self.bias, self.data_format)
        return self.activation(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, _ = self._check_input(input_shape)
        out = []
        for i, length in enumerate(spatial):
            op = None if self.output_padding is None else (self.output_padding[i],)
            out.append(None if length is None else conv_transpose_output_shape(
                (length,), (self.kernel_size[i],), (self.strides[i],), self.padding, op,
                (self.dilation_rate[i],))[0])
        return join_shape(batch, out, self.filters, self.data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("groups")
        config["output_padding"] = self.output_padding
        return config


class Conv1DTranspose(_ConvTranspose):
    """1-D transposed convolution. Input ``(batch, steps, channels)``; output
    ``(batch, new_steps, filters)`` (channels_last). See :class:`Conv2DTranspose` for the arguments."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2-D transposed convolution (Keras 1 ``Deconvolution2D``).

    Args:
        filters, kernel_size, strides (default 1), padding (``"valid"``/``"same"``), data_format,
        dilation_rate, activation, use_bias, initializers, regularizers and constraints: as
        :class:`Conv2D` (Keras 1 spellings accepted; a Keras 1 ``output_shape`` is ignored, the
        shape follows from the input).
        output_padding: ``None`` (default) or an int / 2 ints, each smaller than its stride.

    Kernel shape: ``(kh, kw, filters, in_channels)``.

    Input shape: ``(batch, rows, cols, channels)``; output ``(batch, new_rows, new_cols, filters)``
    with ``new_rows = conv_transpose_output_shape(rows, ...)`` (channels_last).

    Example:
        >>> model.add(Conv2DTranspose(16, 3, strides=2, padding="same"))  # doubles rows and cols
    """

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """3-D transposed convolution. Input ``(batch, d1, d2, d3, channels)`` (channels_last). See
    :class:`Conv2DTranspose` for the arguments."""

    rank = 3


Deconvolution2D = Conv2DTranspose
Deconvolution3D = Conv3DTranspose
