"""``Conv3D``: 3-D convolution layer (Keras 1 name ``Convolution3D``)."""
from __future__ import annotations

from .base_conv import _Conv


class Conv3D(_Conv):
    """3-D convolution: ``activation(conv(inputs, kernel) + bias)`` (cross-correlation, as Keras).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: an int or 3 ints (Keras 1: ``kernel_dim1``, ``kernel_dim2``, ``kernel_dim3``;
            ``Convolution3D(8, 3, 3, 3)`` means a 3x3x3 kernel).
        strides: an int or 3 ints, default 1 (Keras 1: ``subsample``).
        padding: ``"valid"`` or ``"same"``; default ``"valid"`` (Keras 1: ``border_mode``).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` means the global
            ``image_data_format`` (Keras 1: ``dim_ordering="tf"/"th"``).
        dilation_rate: an int or 3 ints, default 1 (Keras 1: ``atrous_rate``).
        groups: split the input channels into this many groups, each convolved with
            ``filters // groups`` filters (default 1).
        activation, use_bias, kernel_initializer (``"glorot_uniform"``, Keras 1 ``init``),
        bias_initializer (``"zeros"``), kernel_regularizer / bias_regularizer / activity_regularizer
        (Keras 1 ``W_regularizer``, ``b_regularizer``), kernel_constraint / bias_constraint
        (Keras 1 ``W_constraint``, ``b_constraint``): as in ``Dense``.

    Kernel shape: ``(*kernel_size, in_channels // groups, filters)`` in both data formats.

    Input shape: ``(batch, dim1, dim2, dim3, channels)`` (channels_last; channels_first puts channels
    after the batch axis).
    Output shape: ``(batch, new_dim1, new_dim2, new_dim3, filters)``.

    Example:
        >>> model.add(Conv3D(8, 3, input_shape=(16, 16, 16, 1)))
    """

    rank = 3


Convolution3D = Conv3D
