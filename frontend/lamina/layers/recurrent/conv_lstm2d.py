"""``ConvLSTM2D``: an LSTM whose input and recurrent transformations are 2-D convolutions
(Shi et al. 2015), Keras' formulation and weight layout."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..convolutional.base_conv import (_Conv, add_channel_bias, as_tuple, check_padding, join_shape, pop_data_format,
                                       spatial_output, split_shape)
from .lstm import LSTMGates
from .rnn import BaseRNN, gate_keys

# Keras 3 positional order after kernel_size.
_POSITIONAL = ("strides", "padding", "data_format", "dilation_rate", "activation", "recurrent_activation", "use_bias")


class ConvLSTM2D(LSTMGates, BaseRNN):
    """Convolutional LSTM over a sequence of images.

    Per step, with ``*`` a 2-D convolution and ``z = x_t * kernel (strides, padding, dilation) +
    h_{t-1} * recurrent_kernel (stride 1, "same") + bias`` split on the channel axis into the
    blocks i, f, c, o (Keras' order), exactly the LSTM's gates::

        i = recurrent_activation(z_i)   f = recurrent_activation(z_f)   o = recurrent_activation(z_o)
        c_t = f * c_{t-1} + i * activation(z_c)
        h_t = o * activation(c_t)

    Args:
        filters: output channels of ``h`` and ``c`` (Keras 1: ``nb_filter``).
        kernel_size: an int or 2 ints, used by both convolutions (Keras 1: ``nb_row``, ``nb_col``;
            ``ConvLSTM2D(32, 3, 3)`` means a 3x3 kernel).
        strides: of the input convolution, an int or 2 ints, default 1 (Keras 1: ``subsample``).
        padding: of the input convolution, ``"valid"`` (default) or ``"same"`` (Keras 1:
            ``border_mode``). The recurrent convolution always uses stride 1 and ``"same"``.
        data_format: ``"channels_last"`` (inputs ``(batch, time, rows, cols, channels)``) or
            ``"channels_first"`` (``(batch, time, channels, rows, cols)``); ``None`` means the global
            ``image_data_format`` (Keras 1: ``dim_ordering="tf"/"th"``).
        dilation_rate: of the input convolution, an int or 2 ints, default 1 (not with strides > 1, as Keras).
        activation: default ``"tanh"``; recurrent_activation: default ``"sigmoid"``.
        use_bias: default True; unit_forget_bias: forget block of the bias starts at ones (default True).
        kernel_initializer / recurrent_initializer / bias_initializer: defaults ``"glorot_uniform"`` /
            ``"orthogonal"`` / ``"zeros"``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: as in ``LSTM``.
        dropout: fraction of the input entries dropped (one mask of one frame's shape per sequence).
        recurrent_dropout: fraction of the entries of ``h`` dropped (one mask per sequence).
        seed, return_sequences, return_state, go_backwards, stateful, zero_output_for_mask: as in ``LSTM``.

    Call arguments: ``inputs``; ``mask`` (boolean ``(batch, time)``); ``training``;
    ``initial_state=[h0, c0]``, each of the output frame shape.

    Input shape: ``(batch, time, rows, cols, channels)`` (channels_last) or
    ``(batch, time, channels, rows, cols)`` (channels_first); rows, cols and channels must be known.
    Output shape: ``(batch, new_rows, new_cols, filters)`` (channels_first: ``(batch, filters,
    new_rows, new_cols)``), with a time axis after the batch axis with ``return_sequences``; with
    ``return_state`` the list ``[output, h, c]``. ``new_rows``/``new_cols`` follow Conv2D's rules.

    Weights (Keras layout, the same in both data formats): ``kernel (kh, kw, in_channels, 4 * filters)``,
    ``recurrent_kernel (kh, kw, filters, 4 * filters)``, ``bias (4 * filters,)``.

    Example:
        >>> model.add(ConvLSTM2D(16, 3, padding="same", return_sequences=True,
        ...                      input_shape=(10, 32, 32, 1)))   # -> (None, 10, 32, 32, 16)
    """

    rank = 2  # read by the convolution layers' argument helpers
    _SIZE_NAME = "filters"
    _SIZE_EXAMPLE = "32, 3"

    def __init__(self, filters: int | None = None, kernel_size: Any = None, *legacy: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None, dilation_rate: Any = 1,
                 activation: Any = "tanh", recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 unit_forget_bias: bool = True, **kwargs: Any):
        kind = type(self).__name__
        args = dict(strides=strides, padding=padding, data_format=data_format, dilation_rate=dilation_rate,
                    activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias)
        # Keras 1 ConvLSTM2D(nb_filter, nb_row, nb_col, ...) and its keyword names, read as Conv2D reads them.
        filters, kernel_size, legacy = _Conv._keras1_positional(self, filters, kernel_size, list(legacy), kwargs)
        if len(legacy) > len(_POSITIONAL):
            raise TypeError(f"{kind} got too many positional arguments.")
        args.update(zip(_POSITIONAL, legacy))
        filters = kwargs.pop("nb_filter", filters)
        kernel_size = _Conv._keras1_kernel(self, kernel_size, kwargs)
        if "border_mode" in kwargs:
            args["padding"] = kwargs.pop("border_mode")
        if "subsample" in kwargs:
            args["strides"] = kwargs.pop("subsample")
        data_format = pop_data_format(kwargs, args["data_format"], kind)
        super().__init__(filters, activation=args["activation"], recurrent_activation=args["recurrent_activation"],
                         use_bias=args["use_bias"], **kwargs)
        if kernel_size is None:
            raise ValueError(f"{kind} needs a kernel_size (an int or a tuple of 2 ints), e.g. {kind}(32, 3).")
        self.filters = self.units
        self.kernel_size = as_tuple(kernel_size, 2, "kernel_size", kind)
        self.strides = as_tuple(args["strides"], 2, "strides", kind)
        self.padding = check_padding(args["padding"], kind)
        self.data_format = data_format
        self.dilation_rate = as_tuple(args["dilation_rate"], 2, "dilation_rate", kind)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{kind}: strides > 1 and dilation_rate > 1 cannot be combined (as in Keras), got "
                             f"strides={self.strides} and dilation_rate={self.dilation_rate}.")
        self.unit_forget_bias = bool(unit_forget_bias)
        self.input_channels: int | None = None
        self._frame_shape: tuple | None = None  # one input frame, without batch and time
        self._out_spatial: tuple | None = None

    # --- shapes ----------------------------------------------------------------------------
    def _frame(self, shape: tuple) -> tuple:
        """``(batch, spatial, channels)`` of a ``(batch, time, *frame)`` shape, rank checked."""
        if len(shape) != 5:
            layout = ("(batch, time, channels, rows, cols)" if self.data_format == "channels_first"
                      else "(batch, time, rows, cols, channels)")
            raise ValueError(f"{self._label()} expects inputs of rank 5 {layout} ({self.data_format}), got shape "
                             f"{tuple(shape)}.")
        return split_shape(self, (shape[0],) + tuple(shape[2:]), 2, self.data_format)

    def _step_output_shape(self, input_shape: tuple) -> tuple:
        _, spatial, _ = self._frame(input_shape)
        out = spatial_output(self, spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        return join_shape(None, out, self.filters, self.data_format)[1:]

    def _state_shape(self, batch: Any) -> tuple:
        return join_shape(batch, self._out_spatial, self.filters, self.data_format)

    def _check_sequence(self, x: ops.Tensor) -> None:
        if x.ndim != 5 or tuple(x.shape[2:]) != self._frame_shape:
            raise ValueError(f"{self._label()} was built for frames of shape {self._frame_shape} "
                             f"({self.data_format}), so it expects inputs (batch, time, *{self._frame_shape}), got "
                             f"{x.shape}.")

    # --- weights ---------------------------------------------------------------------------
    def _build_weights(self, shape: tuple) -> None:
        _, spatial, channels = self._frame(shape)
        if channels is None or None in spatial:
            raise ValueError(f"{self._label()} needs known rows, cols and channels (as Keras), got input shape "
                             f"{shape} ({self.data_format}).")
        self.input_channels = int(channels)
        self._frame_shape = tuple(int(s) for s in shape[2:])
        self._out_spatial = spatial_output(self, spatial, self.kernel_size, self.strides, self.padding,
                                           self.dilation_rate)
        width = 4 * self.filters
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.input_channels, width),
                                      initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        self.recurrent_kernel = self.add_weight("recurrent_kernel", self.kernel_size + (self.filters, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint)
        self._add_bias()
        # Gates are blocks of the channel axis of one step's (batch, ...) projection.
        self._gate_keys = gate_keys(1 if self.data_format == "channels_first" else 3, 4, self.filters)

    # --- the two convolutions ----------------------------------------------------------------
    def _project_inputs(self, x: ops.Tensor) -> ops.Tensor:
        batch, steps = x.shape[0], x.shape[1]
        # All batch * time frames in one convolution (one im2col product), time-major so that
        # each step's slice is a contiguous block.
        frames = ops.reshape(ops.transpose(x, (1, 0, 2, 3, 4)), (steps * batch,) + self._frame_shape)
        y = ops.conv(frames, self.kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
        if self.bias is not None:
            y = add_channel_bias(y, self.bias, self.data_format)
        return ops.reshape(y, (steps, batch) + tuple(y.shape[1:]))

    def _recurrent(self, h: ops.Tensor) -> ops.Tensor:
        return ops.conv(h, self.recurrent_kernel, 1, "same", self.data_format)

    # --- config ------------------------------------------------------------------------------
    def get_config(self) -> dict:
        config = super().get_config()
        del config["units"]
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                       "padding": self.padding, "data_format": self.data_format,
                       "dilation_rate": self.dilation_rate, "unit_forget_bias": self.unit_forget_bias})
        return config
