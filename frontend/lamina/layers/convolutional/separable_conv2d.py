"""``SeparableConv2D`` (and ``SeparableConv1D``): depthwise convolution, then a 1x1 convolution."""
from __future__ import annotations

from typing import Any

from ... import constraints, initializers, ops, regularizers
from .base_conv import _Conv, add_channel_bias, split_shape


class _SeparableConv(_Conv):
    def __init__(self, filters: int | None = None, kernel_size: Any = None, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None, dilation_rate: Any = 1,
                 depth_multiplier: int = 1, activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", pointwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None,
                 pointwise_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 depthwise_constraint: Any = None, pointwise_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         bias_initializer=bias_initializer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, bias_constraint=bias_constraint, **kwargs)
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{type(self).__name__} needs a positive integer depth_multiplier, "
                             f"got {depth_multiplier!r}.")
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.depthwise_kernel = self.pointwise_kernel = None

    def build(self, input_shape: tuple) -> None:
        _, _, channels = split_shape(self, input_shape, self.rank, self.data_format)
        if channels is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) needs a known channel axis, got "
                             f"input shape {tuple(input_shape)} ({self.data_format}).")
        self.input_channels = int(channels)
        mid = self.input_channels * self.depth_multiplier
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (self.input_channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1,) * self.rank + (mid, self.filters), initializer=self.pointwise_initializer,
            regularizer=self.pointwise_regularizer, constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs: Any) -> ops.Tensor:
        self._check_input(inputs.shape)
        y = ops.separable_conv(inputs, self.depthwise_kernel, self.pointwise_kernel, self.strides, self.padding,
                               self.data_format, self.dilation_rate)
        if self.use_bias:
            y = add_channel_bias(y, self.bias, self.data_format)
        return self.activation(y)

    def get_config(self) -> dict:
        config = super().get_config()
        for key in ("groups", "kernel_initializer", "kernel_regularizer", "kernel_constraint"):
            config.pop(key)
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
        })
        return config


class SeparableConv2D(_SeparableConv):
    """Depthwise-separable 2-D convolution: :class:`DepthwiseConv2D` (``depth_multiplier`` filters
    per input channel), then a 1x1 convolution to ``filters`` channels, then bias and activation.

    Args:
        filters, kernel_size, strides (default 1), padding (``"valid"``/``"same"``), data_format,
        dilation_rate, activation, use_bias: as :class:`Conv2D`.
        depth_multiplier: depthwise filters per input channel (default 1).
        depthwise_initializer / pointwise_initializer (``"glorot_uniform"``), bias_initializer
        (``"zeros"``), depthwise_regularizer / pointwise_regularizer / bias_regularizer /
        activity_regularizer, depthwise_constraint / pointwise_constraint / bias_constraint.

    Weights: ``depthwise_kernel`` ``(kh, kw, in_channels, depth_multiplier)``, ``pointwise_kernel``
    ``(1, 1, in_channels * depth_multiplier, filters)``, ``bias`` ``(filters,)``.

    Input shape: ``(batch, rows, cols, channels)``; output ``(batch, new_rows, new_cols, filters)``.

    Example:
        >>> model.add(SeparableConv2D(64, 3, padding="same", activation="relu"))
    """

    rank = 2


class SeparableConv1D(_SeparableConv):
    """Depthwise-separable 1-D convolution (see :class:`SeparableConv2D`). Input ``(batch, steps, channels)``."""

    rank = 1


SeparableConvolution2D = SeparableConv2D
SeparableConvolution1D = SeparableConv1D
