"""``DepthwiseConv2D`` (and ``DepthwiseConv1D``): one set of filters per input channel."""
from __future__ import annotations

from typing import Any

from ... import activations, constraints, initializers, ops, regularizers
from ..layer import Layer
from .base_conv import (add_channel_bias, as_tuple, check_padding, join_shape, pop_data_format, spatial_output,
                        split_shape)


class _DepthwiseConv(Layer):
    rank = 2

    def __init__(self, kernel_size: Any = None, strides: Any = 1, padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate: Any = 1, activation: Any = None,
                 use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any):
        kind = type(self).__name__
        data_format = pop_data_format(kwargs, data_format, kind)
        super().__init__(**kwargs)
        if kernel_size is None:
            raise ValueError(f"{kind} needs a kernel_size (an int or a tuple of {self.rank} ints).")
        if isinstance(depth_multiplier, bool) or not isinstance(depth_multiplier, int) or depth_multiplier < 1:
            raise ValueError(f"{kind} needs a positive integer depth_multiplier, got {depth_multiplier!r}.")
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size", kind)
        self.strides = as_tuple(strides, self.rank, "strides", kind)
        self.padding = check_padding(padding, kind)
        self.depth_multiplier = depth_multiplier
        self.data_format = data_format
        self.dilation_rate = as_tuple(dilation_rate, self.rank, "dilation_rate", kind)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.depthwise_kernel = self.bias = None
        self.input_channels: int | None = None

    def build(self, input_shape: tuple) -> None:
        _, _, channels = split_shape(self, input_shape, self.rank, self.data_format)
        if channels is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) needs a known channel axis, got "
                             f"input shape {tuple(input_shape)} ({self.data_format}).")
        self.input_channels = int(channels)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", self.kernel_size + (self.input_channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.input_channels * self.depth_multiplier,),
                                        initializer=self.bias_initializer, regularizer=self.bias_regularizer,
                                        constraint=self.bias_constraint)
        self.built = True

    def _check_input(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = split_shape(self, input_shape, self.rank, self.data_format)
        if self.input_channels is not None and channels not in (None, self.input_channels):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) was built for {self.input_channels} "
                             f"input channels, but got shape {tuple(input_shape)} ({self.data_format}).")
        return batch, spatial, channels

    def call(self, inputs: Any) -> ops.Tensor:
        self._check_input(inputs.shape)
        y = ops.depthwise_conv(inputs, self.depthwise_kernel, self.strides, self.padding, self.data_format,
                               self.dilation_rate)
        if self.use_bias:
            y = add_channel_bias(y, self.bias, self.data_format)
        return self.activation(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = self._check_input(input_shape)
        out = spatial_output(self, spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        return join_shape(batch, out, None if channels is None else channels * self.depth_multiplier,
                          self.data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size, "strides": self.strides, "padding": self.padding,
            "depth_multiplier": self.depth_multiplier, "data_format": self.data_format,
            "dilation_rate": self.dilation_rate, "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        })
        return config


class DepthwiseConv2D(_DepthwiseConv):
    """Depthwise 2-D convolution: input channel ``c`` is convolved with its own
    ``depth_multiplier`` filters; output channel ``c * depth_multiplier + m`` (TensorFlow's order).

    Args:
        kernel_size: an int or 2 ints. strides (default 1), padding (``"valid"``/``"same"``),
        data_format (``None``: the global ``image_data_format``; Keras 1 ``dim_ordering``),
        dilation_rate: as :class:`Conv2D`.
        depth_multiplier: filters per input channel (default 1).
        activation, use_bias, depthwise_initializer (``"glorot_uniform"``), bias_initializer
        (``"zeros"``), depthwise_regularizer, bias_regularizer, activity_regularizer,
        depthwise_constraint, bias_constraint.

    Kernel ``depthwise_kernel``: ``(kh, kw, in_channels, depth_multiplier)``; bias
    ``(in_channels * depth_multiplier,)``.

    Input shape: ``(batch, rows, cols, channels)``; output
    ``(batch, new_rows, new_cols, channels * depth_multiplier)`` (channels_last).

    Example:
        >>> model.add(DepthwiseConv2D(3, depth_multiplier=2, padding="same"))
    """

    rank = 2


class DepthwiseConv1D(_DepthwiseConv):
    """Depthwise 1-D convolution (see :class:`DepthwiseConv2D`). Input ``(batch, steps, channels)``."""

    rank = 1
