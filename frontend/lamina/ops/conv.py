"""Differentiable convolution and pooling (``keras.ops.conv``, ``max_pool``, …).

Each op is one backend call forward and backend calls backward (``conv_input_grad``,
``conv_kernel_grad``, ``max_pool_grad``, ``avg_pool_grad``), so a backend with faster kernels
overrides those methods and every layer gets them. Arguments and defaults follow ``keras.ops``:

* ``inputs`` is (batch, *spatial, channels) for ``data_format="channels_last"`` and
  (batch, channels, *spatial) for ``"channels_first"``; ``None`` means the global
  ``image_data_format`` (``channels_last`` unless configured). Channels-first data is viewed as
  channels-last with ``backend.to_channels_last`` and the result viewed back: the numbers are
  identical, only the layout differs.
* kernels never change layout: ``conv`` takes (*kernel_size, in_channels / groups, filters),
  ``depthwise_conv`` (*kernel_size, in_channels, depth_multiplier), ``conv_transpose``
  (*kernel_size, filters, in_channels) — Keras' weight layouts.
* ``strides``, ``dilation_rate``, ``pool_size`` are an int or one int per spatial dimension;
  ``padding`` is ``"valid"``, ``"same"`` or (1-D convolution only) ``"causal"``.

Shape helpers for layers' ``compute_output_shape``: :func:`conv_output_shape`,
:func:`conv_transpose_output_shape` (re-exported from :mod:`lamina.backends.conv`).
"""
from __future__ import annotations

from typing import Any

from .. import _config
from ..backends.conv import conv_output_shape, conv_transpose_output_shape, normalize_tuple  # noqa: F401
from .core import convert_to_tensor, make, reshape
from .tape import B, Tensor

__all__ = ["conv", "conv_transpose", "depthwise_conv", "separable_conv", "max_pool", "average_pool"]


def _data_format(data_format: str | None, op: str) -> str:
    fmt = _config.image_data_format() if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{op}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    return fmt


def _check_rank(x: Tensor, op: str, fmt: str) -> int:
    if x.ndim < 3:
        layout = "(batch, channels, *spatial)" if fmt == "channels_first" else "(batch, *spatial, channels)"
        raise ValueError(f"{op}: inputs must be {layout} with at least one spatial dimension, got shape {x.shape}.")
    return x.ndim - 2


class _Layout:
    """Channels-first in/out around a channels-last computation (views, both directions)."""

    def __init__(self, fmt: str):
        self.first = fmt == "channels_first"

    def into(self, v: Any) -> Any:  # user layout -> channels_last
        return B().to_channels_last(v) if self.first else v

    def back(self, v: Any) -> Any:  # channels_last -> user layout
        return B().to_channels_first(v) if self.first else v


def conv(inputs: Any, kernel: Any, strides: Any = 1, padding: str = "valid", data_format: str | None = None,
         dilation_rate: Any = 1) -> Tensor:
    """N-d convolution (cross-correlation, as Keras). ``kernel`` is (*kernel_size, C_in / groups,
    filters); ``groups`` is inferred as ``C_in // kernel.shape[-2]`` (Keras' rule). Output:
    (batch, *out, filters) (channels-last), ``out`` per :func:`conv_output_shape`."""
    x, k = convert_to_tensor(inputs), convert_to_tensor(kernel)
    fmt = _data_format(data_format, "conv")
    nd = _check_rank(x, "conv", fmt)
    lay = _Layout(fmt)
    be = B()
    xv = lay.into(x.value)
    cin = int(xv.shape[-1])
    if k.ndim != nd + 2 or k.shape[-2] < 1 or cin % k.shape[-2]:
        raise ValueError(f"conv: a kernel of shape {k.shape} does not fit inputs of shape {x.shape} "
                         f"({fmt}, {cin} channels): expected (*kernel_size[{nd}], in_channels / groups, filters) "
                         f"with in_channels / groups dividing {cin}.")
    groups = cin // k.shape[-2]
    s = normalize_tuple(strides, nd, "strides", "conv")
    d = normalize_tuple(dilation_rate, nd, "dilation_rate", "conv")
    out = be.conv(xv, k.value, s, padding, d, groups)

    def vjp(g):
        g = lay.into(g)
        gx = gk = None
        if x._tracked:
            gx = lay.back(be.conv_input_grad(g, k.value, tuple(xv.shape), s, padding, d, groups))
        if k._tracked:
            gk = be.conv_kernel_grad(xv, g, k.shape, s, padding, d, groups)
        return gx, gk
    return make(lay.back(out), (x, k), vjp)


def depthwise_conv(inputs: Any, kernel: Any, strides: Any = 1, padding: str = "valid",
                   data_format: str | None = None, dilation_rate: Any = 1) -> Tensor:
    """Depthwise convolution: each input channel ``c`` convolved with its own ``depth_multiplier``
    filters ``kernel[..., c, :]`` (kernel (*kernel_size, C_in, depth_multiplier), Keras'
    DepthwiseConv2D). Output channel ``c * depth_multiplier + m``; it is ``conv`` with
    ``groups = C_in`` and the kernel reshaped to (*kernel_size, 1, C_in * depth_multiplier)."""
    x, k = convert_to_tensor(inputs), convert_to_tensor(kernel)
    fmt = _data_format(data_format, "depthwise_conv")
    nd = _check_rank(x, "depthwise_conv", fmt)
    cin = x.shape[1] if fmt == "channels_first" else x.shape[-1]
    if k.ndim != nd + 2 or k.shape[-2] != cin:
        raise ValueError(f"depthwise_conv: kernel shape {k.shape} does not fit inputs of shape {x.shape} ({fmt}): "
                         f"expected (*kernel_size[{nd}], {cin}, depth_multiplier).")
    grouped = reshape(k, k.shape[:nd] + (1, cin * k.shape[-1]))
    return conv(x, grouped, strides, padding, fmt, dilation_rate)


def separable_conv(inputs: Any, depthwise_kernel: Any, pointwise_kernel: Any, strides: Any = 1,
                   padding: str = "valid", data_format: str | None = None, dilation_rate: Any = 1) -> Tensor:
    """``depthwise_conv`` followed by a 1x1 ``conv`` with ``pointwise_kernel``
    (*1s, C_in * depth_multiplier, filters), as Keras' SeparableConv2D."""
    fmt = _data_format(data_format, "separable_conv")
    y = depthwise_conv(inputs, depthwise_kernel, strides, padding, fmt, dilation_rate)
    return conv(y, pointwise_kernel, 1, "valid", fmt, 1)


def conv_transpose(inputs: Any, kernel: Any, strides: Any = 1, padding: str = "valid",
                   output_padding: Any = None, data_format: str | None = None, dilation_rate: Any = 1) -> Tensor:
    """Transposed convolution (Keras' Conv2DTranspose): ``kernel`` is (*kernel_size, filters,
    C_in); output length per :func:`conv_transpose_output_shape` (Keras' ``deconv_output_length``).
    It is the input gradient of ``conv`` with the same kernel, so its own gradients are a ``conv``
    (inputs) and a ``conv_kernel_grad`` (kernel)."""
    x, k = convert_to_tensor(inputs), convert_to_tensor(kernel)
    fmt = _data_format(data_format, "conv_transpose")
    nd = _check_rank(x, "conv_transpose", fmt)
    lay = _Layout(fmt)
    be = B()
    xv = lay.into(x.value)
    s = normalize_tuple(strides, nd, "strides", "conv_transpose")
    d = normalize_tuple(dilation_rate, nd, "dilation_rate", "conv_transpose")
    out = be.conv_transpose(xv, k.value, s, padding, output_padding, d)

    def vjp(g):
        g = lay.into(g)
        gx = lay.back(be.conv(g, k.value, s, padding, d, 1)) if x._tracked else None
        gk = be.conv_kernel_grad(g, xv, k.shape, s, padding, d, 1) if k._tracked else None
        return gx, gk
    return make(lay.back(out), (x, k), vjp)


def _pool_args(x: Tensor, op: str, pool_size: Any, strides: Any, data_format: str | None):
    fmt = _data_format(data_format, op)
    nd = _check_rank(x, op, fmt)
    p = normalize_tuple(pool_size, nd, "pool_size", op)
    s = p if strides is None else normalize_tuple(strides, nd, "strides", op)
    return _Layout(fmt), p, s


def max_pool(inputs: Any, pool_size: Any, strides: Any = None, padding: str = "valid",
             data_format: str | None = None) -> Tensor:
    """Maximum over windows of ``pool_size`` (``strides=None``: ``pool_size``). The gradient goes
    to the first maximum of each window in row-major order (see ``Backend.max_pool_grad``)."""
    x = convert_to_tensor(inputs)
    lay, p, s = _pool_args(x, "max_pool", pool_size, strides, data_format)
    be = B()
    xv = lay.into(x.value)
    out = be.max_pool(xv, p, s, padding)
    return make(lay.back(out), (x,), lambda g: (lay.back(be.max_pool_grad(xv, out, lay.into(g), p, s, padding)),))


def average_pool(inputs: Any, pool_size: Any, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None) -> Tensor:
    """Mean over windows of ``pool_size``; with ``padding="same"`` the padded positions are not
    counted (Keras/TensorFlow)."""
    x = convert_to_tensor(inputs)
    lay, p, s = _pool_args(x, "average_pool", pool_size, strides, data_format)
    be = B()
    xv = lay.into(x.value)
    out = be.avg_pool(xv, p, s, padding)
    shape = tuple(xv.shape)
    return make(lay.back(out), (x,), lambda g: (lay.back(be.avg_pool_grad(lay.into(g), shape, p, s, padding)),))
