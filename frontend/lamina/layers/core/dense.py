"""``Dense``: ``activation(inputs @ kernel + bias)``."""
from __future__ import annotations

from typing import Any

from ... import activations, constraints, initializers, ops, regularizers
from ..layer import Layer


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

    def call(self, inputs: Any) -> ops.Tensor:
        if inputs.shape[-1] != self.input_dim:
            raise ValueError(f"Layer {self.name!r} (Dense) expects inputs whose last axis is {self.input_dim}, "
                             f"but got shape {inputs.shape}; reshape the data or change input_shape.")
        fused = _FUSED.get(self.activation)
        if fused is not None and inputs.ndim == 2:  # one recorded op instead of three (same values)
            return ops.dense(inputs, self.kernel, self.bias, fused)
        y = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            y = ops.add(y, self.bias)
        return self.activation(y)

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
