"""Shared machinery of the convolution layers: argument normalisation (Keras 2 names, Keras 1
spellings), the ``_Conv`` base of Conv1D/2D/3D, the bias on the channel axis and shape checks."""
from __future__ import annotations

from typing import Any, Sequence

from ... import _config, activations, constraints, initializers, ops, regularizers
from ...ops.conv import conv_output_shape, normalize_tuple
from ..layer import Layer

_DIM_ORDERING = {"th": "channels_first", "tf": "channels_last", "default": None}


def pop_data_format(kwargs: dict, data_format: Any, kind: str) -> str:
    """The layer's data format: ``data_format``, else Keras 1 ``dim_ordering`` ('th'/'tf'), else the
    global ``image_data_format``."""
    dim = kwargs.pop("dim_ordering", None)
    if data_format is None and dim is not None:
        if dim not in _DIM_ORDERING:
            raise ValueError(f"{kind}: dim_ordering must be 'th' or 'tf', got {dim!r}.")
        data_format = _DIM_ORDERING[dim]
    fmt = _config.image_data_format() if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{kind}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}.")
    return fmt


def check_padding(padding: Any, kind: str, allowed: Sequence[str] = ("valid", "same")) -> str:
    p = str(padding).lower()
    if p not in allowed:
        raise ValueError(f"{kind}: padding must be one of {', '.join(repr(a) for a in allowed)}, got {padding!r}.")
    return p


def as_tuple(value: Any, n: int, name: str, kind: str) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise TypeError(f"{kind}: {name} must be an int or a tuple of {n} ints, got {value!r}.")
    return normalize_tuple(value, n, name, kind)


def channel_axis(data_format: str) -> int:
    return 1 if data_format == "channels_first" else -1


def split_shape(layer: Layer, input_shape: tuple, rank: int, data_format: str) -> tuple[Any, tuple, Any]:
    """``(batch, spatial, channels)`` of ``input_shape``; a ValueError naming the layer for a wrong rank."""
    input_shape = tuple(input_shape)
    if len(input_shape) != rank + 2:
        layout = ("(batch, channels, " if data_format == "channels_first" else "(batch, ") + \
            ", ".join(f"dim{i + 1}" for i in range(rank)) + (")" if data_format == "channels_first" else ", channels)")
        raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) expects inputs of rank {rank + 2} "
                         f"{layout} ({data_format}), got shape {input_shape}.")
    if data_format == "channels_first":
        return input_shape[0], input_shape[2:], input_shape[1]
    return input_shape[0], input_shape[1:-1], input_shape[-1]


def join_shape(batch: Any, spatial: Sequence, channels: Any, data_format: str) -> tuple:
    if data_format == "channels_first":
        return (batch, channels) + tuple(spatial)
    return (batch,) + tuple(spatial) + (channels,)


def spatial_output(layer: Layer, spatial: Sequence, window: Sequence[int], strides: Any, padding: str,
                   dilation: Any = 1) -> tuple:
    """Per-axis output length (``None`` stays ``None``); impossible geometry raises ValueError naming the layer."""
    n = len(spatial)
    s = normalize_tuple(strides, n, "strides", type(layer).__name__)
    d = normalize_tuple(dilation, n, "dilation_rate", type(layer).__name__)
    out = []
    for i, length in enumerate(spatial):
        if length is None:
            out.append(None)
            continue
        eff = d[i] * (window[i] - 1) + 1
        if padding == "valid" and length < eff:
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}): spatial axis {i + 1} has length "
                             f"{length}, shorter than the window {eff} (size {window[i]}, dilation {d[i]}) with "
                             f"padding='valid'; use padding='same' or a larger input.")
        out.append(conv_output_shape((length,), (window[i],), (s[i],), padding, (d[i],))[0])
    return tuple(out)


def add_channel_bias(y: ops.Tensor, bias: ops.Tensor, data_format: str) -> ops.Tensor:
    if data_format == "channels_first":
        return ops.add(y, ops.reshape(bias, (bias.shape[0],) + (1,) * (y.ndim - 2)))
    return ops.add(y, bias)


def pop_keras1_weights(kwargs: dict, names: dict) -> dict:
    """Keras 1 spellings (``init``, ``W_regularizer``, …) mapped onto the Keras 2 names in ``names``."""
    table = {"init": "kernel_initializer", "W_regularizer": "kernel_regularizer",
             "b_regularizer": "bias_regularizer", "W_constraint": "kernel_constraint",
             "b_constraint": "bias_constraint", "bias": "use_bias"}
    for old, new in table.items():
        if old in kwargs:
            names[new] = kwargs.pop(old)
    return names


_LEGACY_ORDER = ("strides", "padding", "data_format", "dilation_rate", "activation", "use_bias")


class _Conv(Layer):
    """Base of Conv1D/Conv2D/Conv3D: ``activation(conv(inputs, kernel) + bias)``.

    The kernel is ``(*kernel_size, in_channels // groups, filters)`` whatever the data format
    (Keras' layout), so weights move unchanged between channels_first and channels_last models.
    """

    rank = 2
    _allowed_padding: tuple[str, ...] = ("valid", "same")

    def __init__(self, filters: int | None = None, kernel_size: Any = None, *legacy: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None, dilation_rate: Any = 1, groups: int = 1,
                 activation: Any = None, use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any):
        kind = type(self).__name__
        args = dict(strides=strides, padding=padding, data_format=data_format, dilation_rate=dilation_rate,
                    activation=activation, use_bias=use_bias, kernel_initializer=kernel_initializer,
                    kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                    kernel_constraint=kernel_constraint, bias_constraint=bias_constraint)
        filters, kernel_size, legacy = self._keras1_positional(filters, kernel_size, list(legacy), kwargs)
        # Keras 2 positional order after kernel_size: strides, padding, data_format, dilation_rate, ...
        if len(legacy) > len(_LEGACY_ORDER):
            raise TypeError(f"{kind} got too many positional arguments.")
        for name, value in zip(_LEGACY_ORDER, legacy):
            args[name] = value
        # Keras 1 spellings.
        filters = kwargs.pop("nb_filter", filters)
        kernel_size = self._keras1_kernel(kernel_size, kwargs)
        if "border_mode" in kwargs:
            args["padding"] = kwargs.pop("border_mode")
        for old in ("subsample", "subsample_length"):
            if old in kwargs:
                args["strides"] = kwargs.pop(old)
        if "atrous_rate" in kwargs:
            args["dilation_rate"] = kwargs.pop("atrous_rate")
        pop_keras1_weights(kwargs, args)
        data_format = pop_data_format(kwargs, args["data_format"], kind)
        super().__init__(**kwargs)
        if filters is None or isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
            raise ValueError(f"{kind} needs a positive integer number of filters, got {filters!r}.")
        if kernel_size is None:
            raise ValueError(f"{kind} needs a kernel_size (an int or a tuple of {self.rank} ints).")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1 or filters % groups:
            raise ValueError(f"{kind}: groups must be a positive int dividing filters={filters}, got {groups!r}.")
        self.filters = filters
        self.groups = groups
        self.kernel_size = as_tuple(kernel_size, self.rank, "kernel_size", kind)
        self.strides = as_tuple(args["strides"], self.rank, "strides", kind)
        self.padding = check_padding(args["padding"], kind, self._allowed_padding)
        self.data_format = data_format
        self.dilation_rate = as_tuple(args["dilation_rate"], self.rank, "dilation_rate", kind)
        self.activation = activations.get(args["activation"])
        self.use_bias = bool(args["use_bias"])
        self.kernel_initializer = initializers.get(args["kernel_initializer"])
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(args["kernel_regularizer"])
        self.bias_regularizer = regularizers.get(args["bias_regularizer"])
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(args["kernel_constraint"])
        self.bias_constraint = constraints.get(args["bias_constraint"])
        self.kernel = self.bias = None
        self.input_channels: int | None = None

    # --- Keras 1 ---------------------------------------------------------------------------
    def _keras1_positional(self, filters: Any, kernel_size: Any, legacy: list, kwargs: dict):
        """Keras 1 ``Convolution2D(nb_filter, nb_row, nb_col)`` (and 3-D with three sizes): ints
        after an int ``kernel_size`` are the other kernel sizes (Keras 2 read them the same way)."""
        n = self.rank - 1
        if n and isinstance(kernel_size, int) and len(legacy) >= n and all(
                isinstance(v, int) and not isinstance(v, bool) for v in legacy[:n]):
            kernel_size = (kernel_size,) + tuple(legacy[:n])
            legacy = legacy[n:]
        return filters, kernel_size, legacy

    def _keras1_kernel(self, kernel_size: Any, kwargs: dict) -> Any:
        names = {1: ("filter_length",), 2: ("nb_row", "nb_col"), 3: ("kernel_dim1", "kernel_dim2", "kernel_dim3")}
        keys = names[self.rank]
        given = [k for k in keys if k in kwargs]
        if not given:
            return kernel_size
        if self.rank == 1:
            return kwargs.pop(keys[0])
        sizes = list(kernel_size if isinstance(kernel_size, (tuple, list)) else
                     ([kernel_size] if kernel_size is not None else []))
        for k in keys[len(sizes):]:
            if k not in kwargs:
                raise ValueError(f"{type(self).__name__}: Keras 1 kernel sizes need all of {', '.join(keys)}.")
            sizes.append(kwargs.pop(k))
        for k in keys:
            kwargs.pop(k, None)
        return tuple(sizes)

    # --- weights and math ------------------------------------------------------------------
    def build(self, input_shape: tuple) -> None:
        _, _, channels = split_shape(self, input_shape, self.rank, self.data_format)
        if channels is None:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) needs a known channel axis, got "
                             f"input shape {tuple(input_shape)} ({self.data_format}).")
        if channels % self.groups:
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}): {channels} input channels do not "
                             f"divide into groups={self.groups}.")
        self.input_channels = int(channels)
        shape = self.kernel_size + (self.input_channels // self.groups, self.filters)
        self.kernel = self.add_weight("kernel", shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def _check_input(self, input_shape: tuple) -> tuple:
        batch, spatial, channels = split_shape(self, input_shape, self.rank, self.data_format)
        if self.input_channels is not None and channels not in (None, self.input_channels):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) was built for {self.input_channels} "
                             f"input channels, but got shape {tuple(input_shape)} ({self.data_format}).")
        return batch, spatial, channels

    def call(self, inputs: Any) -> ops.Tensor:
        self._check_input(inputs.shape)
        y = ops.conv(inputs, self.kernel, self.strides, self.padding, self.data_format, self.dilation_rate)
        if self.use_bias:
            y = add_channel_bias(y, self.bias, self.data_format)
        return self.activation(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        batch, spatial, _ = self._check_input(input_shape)
        out = spatial_output(self, spatial, self.kernel_size, self.strides, self.padding, self.dilation_rate)
        return join_shape(batch, out, self.filters, self.data_format)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
            "padding": self.padding, "data_format": self.data_format, "dilation_rate": self.dilation_rate,
            "groups": self.groups, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        })
        return config
