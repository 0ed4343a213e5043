"""``Dense``: ``activation(inputs @ kernel + bias)``."""
from __future__ import annotations

from typing import Any

from ... import activations, constraints, initializers, ops, regularizers
from ..layer import Layer
from ..symbolic import KerasTensor
from .activation import Activation
from .dropout import Dropout


# Activations that ops.dense applies itself (each derivative follows from the output).
_FUSED = {getattr(activations, name): name for name in ops.DENSE_ACTIVATIONS}


class Dense(Layer):
    """A densely connected layer.

    Args:
        units: size of the output's last axis (Keras 1 name: ``output_dim``).
        activation: name or callable; ``None`` means linear.
        use_bias: add a bias vector (default True).
        kernel_initializer: default ``"glorot_uniform"`` (Keras 1 name: ``init``).
        bias_initializer: default ``"zeros"``.
        kernel_regularizer, bias_regularizer, activity_regularizer: penalties
            (Keras 1 names ``W_regularizer``, ``b_regularizer``).
        kernel_constraint, bias_constraint: applied after each update
            (Keras 1 names ``W_constraint``, ``b_constraint``).

    Input shape: ``(batch, ..., input_dim)``. Output shape: ``(batch, ..., units)``.

    Example:
        >>> model.add(Dense(500, activation="tanh", input_shape=(784,)))
    """

    def __init__(self, units: int | None = None, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any):
        # Keras 1 spellings.
        units = kwargs.pop("output_dim", units)
        kernel_initializer = kwargs.pop("init", kernel_initializer)
        kernel_regularizer = kwargs.pop("W_regularizer", kernel_regularizer)
        bias_regularizer = kwargs.pop("b_regularizer", bias_regularizer)
        kernel_constraint = kwargs.pop("W_constraint", kernel_constraint)
        bias_constraint = kwargs.pop("b_constraint", bias_constraint)
        use_bias = kwargs.pop("bias", use_bias)
        super().__init__(**kwargs)
        if units is None or isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(f"Dense needs a positive integer number of units, got {units!r}.")
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.kernel = self.bias = None
        self.supports_masking = True  # per time step, so a sequence mask passes through

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Layer {self.name!r} (Dense) needs inputs of shape (batch, ..., features) "
                             f"with a known last axis, got {tuple(input_shape)}.")
        self.input_dim = int(input_shape[-1])
        self.kernel = self.add_weight("kernel", (self.input_dim, self.units), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self.built = True

    def call(self, inputs: Any, _activation: str | None = None, _dropout: tuple | None = None) -> ops.Tensor:
        # ``_activation``: the name of the following Activation layer's function when a model runs
        # the pair as one op (``activation_to_fuse``); only given for a linear Dense. ``_dropout``:
        # the (rate, seed, counter) of a Dropout layer after that pair in training (``run_fused``).
        if inputs.shape[-1] != self.input_dim:
            raise ValueError(f"Layer {self.name!r} (Dense) expects inputs whose last axis is {self.input_dim}, "
                             f"but got shape {inputs.shape}; reshape the data or change input_shape.")
        fused = _fused_name(self.activation) if _activation is None else _activation
        if fused is not None and inputs.ndim == 2:  # one recorded op instead of three (same values)
            return ops.dense(inputs, self.kernel, self.bias, fused, _dropout)
        y = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            y = ops.add(y, self.bias)
        return (self.activation if _activation is None else activations.get(_activation))(y)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.built and input_shape[-1] not in (None, self.input_dim):
            raise ValueError(f"Layer {self.name!r} (Dense) was built for inputs whose last axis is {self.input_dim}, "
                             f"but got shape {tuple(input_shape)}; use a new Dense layer for this input.")
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "units": self.units, "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self.activity_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        })
        return config


def activation_to_fuse(layer: Layer, following: Layer, inputs: Any) -> str | None:
    """The name of ``following``'s activation when a model may run ``layer`` then ``following``
    on ``inputs`` as one ``ops.dense`` (else None).

    That is the classic Keras pair ``Dense(n)`` + ``Activation("tanh")``: the values and gradients
    are the pair's bit for bit (``ops.dense`` runs the same backend operations), with one recorded
    op instead of two and the activation applied in place in the product's buffer. Only for these
    exact classes with nothing replaced on the instance, a linear Dense, no activity regularizer, a
    2-D input without a mask, and outside symbolic (graph-building) calls; the caller must ensure
    nothing else reads the Dense layer's output.
    """
    if type(layer) is not Dense or type(following) is not Activation or isinstance(inputs, KerasTensor):
        return None
    name = _fused_name(following.activation)
    if name is None or _fused_name(layer.activation) != "linear":
        return None
    if layer.activity_regularizer is not None or following.activity_regularizer is not None:
        return None
    if "call" in vars(layer) or "call" in vars(following) or "__call__" in vars(layer) or "__call__" in vars(following):
        return None
    if (Activation.call is not _ORIGINAL["Activation.call"] or Dense.call is not _ORIGINAL["Dense.call"]
            or Activation.__call__ is not _ORIGINAL["Layer.__call__"] or Dense.__call__ is not _ORIGINAL["Layer.__call__"]):
        return None  # a class-level hook (tracing, patching) must see both layers called
    if getattr(inputs, "ndim", None) != 2 or getattr(inputs, "_keras_mask", None) is not None:
        return None  # other ranks take Dense's general path; a mask would have to pass through both layers
    return name


def dropout_to_fuse(layer: Layer, training: Any) -> str | None:
    """How a model that runs a Dense + Activation pair as one ``ops.dense`` (``activation_to_fuse``)
    may fold the ``Dropout`` ``layer`` that follows the pair into that op too, for this exact class
    with nothing replaced and no activity regularizer: ``"mask"`` where its call would draw a mask
    (in training at a rate above 0, without ``noise_shape``: the op applies the mask its own call
    would draw, the same seed generator, the same counter), ``"identity"`` where its call returns its
    input unchanged (in inference, or at rate 0: nothing to do but what its call does to the layer
    itself), else None. ``training`` is tested once, as the layer's call tests it; the caller passes
    the answer on to ``run_fused`` and must ensure nothing else reads the Activation layer's output."""
    if type(layer) is not Dropout or layer.activity_regularizer is not None or "call" in vars(layer) \
            or "__call__" in vars(layer):
        return None
    if Dropout.call is not _ORIGINAL["Dropout.call"] or Dropout.__call__ is not _ORIGINAL["Layer.__call__"]:
        return None
    if not training or layer.rate == 0.0:  # Dropout.call's own test: it returns its input
        return "identity"
    return "mask" if layer.noise_shape is None else None


def run_fused(layer: Layer, following: Layer, inputs: Any, activation: str, training: Any,
              dropout: Layer | None = None, mode: str | None = None) -> Any:
    """Call ``layer`` with ``following``'s activation folded in (see ``activation_to_fuse``), and the
    ``dropout`` layer folded in as ``dropout_to_fuse`` said (``mode``): its mask applied for
    ``"mask"``, the output passed on unchanged for ``"identity"``; the layers folded in are built and
    reset as if they had been called."""
    drop = (dropout.rate,) + tuple(dropout.seed_generator.next()) if dropout is not None and mode == "mask" else None
    try:
        out = layer(inputs, training=training, _activation=activation, _dropout=drop)
    except BaseException:
        if drop is not None:  # the Dropout layer was never reached: its draw did not happen
            dropout.seed_generator.counter = drop[2]
        raise
    for folded in (following, dropout):
        if folded is not None:
            folded._maybe_build(out.shape)
            folded._call_losses, folded._call_metrics = [], {}  # what its own call would have reset
    return out


def _fused_name(fn: Any) -> str | None:
    """The ``ops.dense`` name of an activation function, or None (also for unhashable callables)."""
    try:
        return _FUSED.get(fn)
    except TypeError:
        return None


# The methods as defined here: a model fuses the pair only while nobody has replaced them on the class.
_ORIGINAL = {"Activation.call": Activation.call, "Dense.call": Dense.call, "Dropout.call": Dropout.call,
             "Layer.__call__": Layer.__call__}
