"""``Conv2D``: 2-D convolution layer (Keras 1 name ``Convolution2D``)."""
from __future__ import annotations

from .base_conv import _Conv


class Conv2D(_Conv):
    """2-D convolution: ``activation(conv(inputs, kernel) + bias)`` (cross-correlation, as Keras).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: an int or 2 ints (Keras 1: ``nb_row``, ``nb_col``; ``Convolution2D(32, 3, 3)`` means a 3x3 kernel).
        strides: an int or 2 ints, default 1 (Keras 1: ``subsample``).
        padding: ``"valid"`` or ``"same"``; default ``"valid"`` (Keras 1: ``border_mode``).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` means the global
            ``image_data_format`` (Keras 1: ``dim_ordering="tf"/"th"``).
        dilation_rate: an int or 2 ints, default 1 (Keras 1: ``atrous_rate``).
        groups: split the input channels into this many groups, each convolved with
            ``filters // groups`` filters (default 1).
        activation, use_bias, kernel_initializer (``"glorot_uniform"``, Keras 1 ``init``),
        bias_initializer (``"zeros"``), kernel_regularizer / bias_regularizer / activity_regularizer
        (Keras 1 ``W_regularizer``, ``b_regularizer``), kernel_constraint / bias_constraint
        (Keras 1 ``W_constraint``, ``b_constraint``): as in ``Dense``.

    Kernel shape: ``(*kernel_size, in_channels // groups, filters)`` in both data formats.

    Input shape: ``(batch, rows, cols, channels)`` (channels_last; channels_first puts channels after the batch axis).
    Output shape: ``(batch, new_rows, new_cols, filters)``.

    Example:
        >>> model.add(Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
    """

    rank = 2


Convolution2D = Conv2D
