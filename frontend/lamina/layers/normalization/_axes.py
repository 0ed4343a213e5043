"""What the normalisation layers share: axis handling and the affine base class."""
from __future__ import annotations

from typing import Any

from ... import constraints, initializers, ops, regularizers
from ..layer import Layer


def check_axis_argument(layer_name: str, axis: Any) -> Any:
    """``axis`` as an int or a list of ints; anything else is a clear error."""
    if isinstance(axis, tuple):
        axis = list(axis)
    ok = (isinstance(axis, int) and not isinstance(axis, bool)) or (
        isinstance(axis, list) and axis and all(isinstance(a, int) and not isinstance(a, bool) for a in axis))
    if not ok:
        raise ValueError(f"{layer_name} needs axis to be an int or a non-empty list of ints, got {axis!r}.")
    return axis


def normalized_axes(layer: Any, kind: str, axis: Any, input_shape: tuple) -> tuple[int, ...]:
    """``axis`` as sorted non-negative axes of ``input_shape``, each of known size."""
    ndim = len(input_shape)
    wanted = [axis] if isinstance(axis, int) else list(axis)
    out = []
    for a in wanted:
        if not -ndim <= a < ndim:
            raise ValueError(f"Layer {layer.name!r} ({kind}) got axis={axis!r}, but its input of shape "
                             f"{tuple(input_shape)} has rank {ndim}; use an axis in [{-ndim}, {ndim - 1}].")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"Layer {layer.name!r} ({kind}) got duplicate axes in axis={axis!r} for an input of "
                         f"rank {ndim}.")
    for a in out:
        if input_shape[a] is None:
            raise ValueError(f"Layer {layer.name!r} ({kind}) normalises over axis {a}, whose size is unknown in "
                             f"input shape {tuple(input_shape)}; give that axis a fixed size.")
    return tuple(sorted(out))


_HALF = ("float16", "bfloat16")


class AffineNormalization(Layer):
    """What BatchNormalization and LayerNormalization share: ``epsilon``, the optional
    ``gamma``/``beta`` with their initializers, regularizers and constraints, and the output
    ``(x - mean) / sqrt(variance + epsilon) * gamma + beta`` (half precision computed in float32)."""

    def __init__(self, axis: Any, epsilon: float, center: bool, scale: bool, beta_initializer: Any,
                 gamma_initializer: Any, beta_regularizer: Any, gamma_regularizer: Any, beta_constraint: Any,
                 gamma_constraint: Any, **kwargs: Any):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.axis = check_axis_argument(kind, axis)
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon < 0:
            raise ValueError(f"{kind} epsilon must be a non-negative number, got {epsilon!r}.")
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

    def _add_affine_weights(self, shape: tuple) -> None:
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, initializer=self.gamma_initializer,
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, initializer=self.beta_initializer,
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def _normalize(self, x: Any, statistics: Any) -> Any:
        """``statistics(x, param) -> (mean, variance)``; ``param(var)`` reshapes a weight to broadcast."""
        out_dtype = x.dtype
        if out_dtype in _HALF:
            x = ops.cast(x, "float32")
        bshape = tuple(x.shape[i] if i in self._axes else 1 for i in range(x.ndim))

        def param(var: Any) -> Any:
            t = var if var.dtype == x.dtype else ops.cast(var, x.dtype)
            return ops.reshape(t, bshape)

        mean, variance = statistics(x, param)
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
