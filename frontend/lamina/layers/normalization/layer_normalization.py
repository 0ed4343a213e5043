"""``LayerNormalization``: normalise each sample over its feature axes (no batch statistics)."""
from __future__ import annotations

from typing import Any

from ... import constraints, initializers, ops, regularizers
from ..layer import Layer
from ._axes import check_axis_argument, normalized_axes

_HALF = ("float16", "bfloat16")


class LayerNormalization(Layer):
    """Normalises each sample independently over ``axis``: for every position of the other axes,
    ``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` with the mean and (biased) variance
    taken over ``axis``. Training and inference compute the same thing.

    Args:
        axis: int or list of ints to normalise over (default -1); ``gamma`` and ``beta`` span these
            axes, e.g. ``axis=[1, 2]`` on ``(batch, 5, 6)`` gives weights of shape ``(5, 6)``.
        epsilon: added to the variance (default 1e-3).
        center: learn an offset ``beta`` (default True). scale: learn a factor ``gamma`` (default True).
        beta_initializer ("zeros"), gamma_initializer ("ones"), beta_regularizer,
            gamma_regularizer, beta_constraint, gamma_constraint.

    Half-precision inputs are normalised in float32 and cast back.

    Input shape: any, with known sizes along ``axis``. Output shape: same as input.

    Example:
        >>> x = LayerNormalization()(x)  # each token of (batch, steps, features) on its own
    """

    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer: Any = "zeros", gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None, gamma_constraint: Any = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = check_axis_argument("LayerNormalization", axis)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"LayerNormalization epsilon must be a non-negative number, got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True
        self.gamma = self.beta = None
        self._axes: tuple[int, ...] = ()
        self._input_shape: tuple = ()

    def build(self, input_shape: tuple) -> None:
        self._axes = normalized_axes(self, "LayerNormalization", self.axis, input_shape)
        self._input_shape = tuple(input_shape)
        shape = tuple(int(input_shape[a]) for a in self._axes)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)
        self.built = True

    def call(self, inputs: Any) -> ops.Tensor:
        x = ops.convert_to_tensor(inputs)
        if x.ndim != len(self._input_shape) or any(x.shape[a] != self._input_shape[a] for a in self._axes):
            raise ValueError(f"Layer {self.name!r} (LayerNormalization) was built for inputs of shape "
                             f"{self._input_shape} (normalising axes {list(self._axes)}), but got shape {x.shape}.")
        out_dtype = x.dtype
        if out_dtype in _HALF:
            x = ops.cast(x, "float32")
        bshape = tuple(x.shape[i] if i in self._axes else 1 for i in range(x.ndim))

        def param(var: ops.Variable) -> ops.Tensor:
            t = var if var.dtype == x.dtype else ops.cast(var, x.dtype)
            return ops.reshape(t, bshape)

        mean = ops.mean(x, axis=self._axes, keepdims=True)
        variance = ops.var(x, axis=self._axes, keepdims=True)
        inv = ops.divide(1.0, ops.sqrt(ops.add(variance, self.epsilon)))
        if self.scale:
            inv = ops.multiply(inv, param(self.gamma))
        y = ops.multiply(ops.subtract(x, mean), inv)
        if self.center:
            y = ops.add(y, param(self.beta))
        return ops.cast(y, out_dtype) if y.dtype != out_dtype else y

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "axis": self.axis, "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
        })
        return config
