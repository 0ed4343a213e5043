"""``Conv1D``: 1-D convolution layer (Keras 1 name ``Convolution1D``)."""
from __future__ import annotations

from .base_conv import _Conv


class Conv1D(_Conv):
    """1-D convolution: ``activation(conv(inputs, kernel) + bias)`` (cross-correlation, as Keras).

    Args:
        filters: number of output channels (Keras 1: ``nb_filter``).
        kernel_size: an int or a 1-tuple (Keras 1: ``filter_length``).
        strides: an int or a 1-tuple, default 1 (Keras 1: ``subsample`` / ``subsample_length``).
        padding: ``"valid"``, ``"same"`` or ``"causal"`` (output ``t`` sees inputs ``<= t`` only);
            default ``"valid"`` (Keras 1: ``border_mode``).
        data_format: ``"channels_last"`` or ``"channels_first"``; ``None`` means the global
            ``image_data_format`` (Keras 1: ``dim_ordering="tf"/"th"``).
        dilation_rate: an int or a 1-tuple, default 1 (Keras 1: ``atrous_rate``).
        groups: split the input channels into this many groups, each convolved with
            ``filters // groups`` filters (default 1).
        activation, use_bias, kernel_initializer (``"glorot_uniform"``, Keras 1 ``init``),
        bias_initializer (``"zeros"``), kernel_regularizer / bias_regularizer / activity_regularizer
        (Keras 1 ``W_regularizer``, ``b_regularizer``), kernel_constraint / bias_constraint
        (Keras 1 ``W_constraint``, ``b_constraint``): as in ``Dense``.

    Kernel shape: ``(*kernel_size, in_channels // groups, filters)`` in both data formats.

    Input shape: ``(batch, steps, channels)`` (channels_last; channels_first puts channels after the batch axis).
    Output shape: ``(batch, new_steps, filters)``.

    Example:
        >>> model.add(Conv1D(64, 3, padding="causal", activation="relu"))
    """

    rank = 1
    _allowed_padding = ("valid", "same", "causal")


Convolution1D = Conv1D
