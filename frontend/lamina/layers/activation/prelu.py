"""``PReLU``: a leaky ReLU whose negative slope is learned."""
from __future__ import annotations

from typing import Any

from ... import constraints, initializers, ops, regularizers
from ..layer import Layer


class PReLU(Layer):
    """``x`` for ``x >= 0``, ``alpha * x`` otherwise, with ``alpha`` a trainable weight of the input's
    non-batch shape (one slope per unit), shared along ``shared_axes``.

    Args:
        alpha_initializer: default ``"zeros"`` (so the layer starts as a ReLU).
        alpha_regularizer, alpha_constraint: as for any weight.
        shared_axes: the non-batch axes (1-indexed, counted with the batch axis) along which one
            slope is shared, e.g. ``[1, 2]`` for one slope per channel of a ``(batch, h, w, c)``
            image.

    Input shape: any, with known non-batch sizes. Output shape: same as input.

    Example:
        >>> model.add(PReLU(shared_axes=[1, 2]))
    """

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if any(isinstance(a, bool) or not isinstance(a, int) or a < 1 for a in axes):
                raise ValueError(f"PReLU shared_axes must be non-batch axes (ints >= 1), got {shared_axes!r}.")
            self.shared_axes = axes
        self.alpha = None
        self.supports_masking = True

    def build(self, input_shape: tuple) -> None:
        param_shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            if axis >= len(input_shape):
                raise ValueError(f"Layer {self.name!r} (PReLU) shares axis {axis}, but its input of shape "
                                 f"{tuple(input_shape)} has no such non-batch axis.")
            param_shape[axis - 1] = 1
        if any(s is None for s in param_shape):
            raise ValueError(f"Layer {self.name!r} (PReLU) needs known sizes on the non-batch axes that are "
                             f"not shared, got input shape {tuple(input_shape)}; share the unknown axes with "
                             "shared_axes.")
        self.alpha = self.add_weight("alpha", param_shape, initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)
        self.built = True

    def call(self, inputs: Any) -> ops.Tensor:
        return ops.add(ops.relu(inputs), ops.multiply(self.alpha, ops.minimum(inputs, 0.0)))

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": self.shared_axes,
        })
        return config
