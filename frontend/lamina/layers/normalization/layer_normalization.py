"""``LayerNormalization``: normalise each sample over its feature axes (no batch statistics)."""
from __future__ import annotations

from typing import Any

from ... import ops
from ._axes import AffineNormalization, normalized_axes


class LayerNormalization(AffineNormalization):
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
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        self._input_shape: tuple = ()

    def build(self, input_shape: tuple) -> None:
        self._axes = normalized_axes(self, "LayerNormalization", self.axis, input_shape)
        self._input_shape = tuple(input_shape)
        self._add_affine_weights(tuple(int(input_shape[a]) for a in self._axes))
        self.built = True

    def call(self, inputs: Any) -> ops.Tensor:
        x = ops.convert_to_tensor(inputs)
        if x.ndim != len(self._input_shape) or any(x.shape[a] != self._input_shape[a] for a in self._axes):
            raise ValueError(f"Layer {self.name!r} (LayerNormalization) was built for inputs of shape "
                             f"{self._input_shape} (normalising axes {list(self._axes)}), but got shape {x.shape}.")
        return self._normalize(x, lambda x, param: (ops.mean(x, axis=self._axes, keepdims=True),
                                                    ops.var(x, axis=self._axes, keepdims=True)))
