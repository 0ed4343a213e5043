"""``Softmax``: the softmax activation as a layer, with an optional mask."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer

_MASKED = -1e9  # added to masked-out logits (Keras' choice), so they get ~0 probability


class Softmax(Layer):
    """``exp(x) / sum(exp(x), axis)``, computed stably (max-subtracted).

    Args:
        axis: the axis to normalise along (default -1); a list of axes normalises over them jointly.

    Call arguments:
        mask: optional boolean tensor broadcastable to the input; False entries get probability ~0.
            A mask of one rank less (per time step, as ``Masking`` and ``Embedding(mask_zero=True)``
            give) covers all features of a step.

    Input shape: any. Output shape: same as input.

    Example:
        >>> attention = Softmax(axis=-1)(scores)
    """

    def __init__(self, axis: Any = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)
        self.supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> ops.Tensor:
        if mask is not None:
            keep = ops.cast(ops.convert_to_tensor(mask), inputs.dtype)
            if keep.ndim == inputs.ndim - 1:
                # A per-step mask (Masking, Embedding) covers whole steps. Along the features of
                # one step it would shift every logit alike, changing nothing but the rounding.
                keep = None if self.axis in (-1, inputs.ndim - 1) else ops.expand_dims(keep, -1)
            if keep is not None:
                inputs = ops.add(inputs, ops.multiply(ops.subtract(1.0, keep), _MASKED))
        if isinstance(self.axis, list):
            # exp(x - logsumexp(x, axes)) normalises jointly over several axes.
            return ops.exp(ops.subtract(inputs, ops.logsumexp(inputs, axis=tuple(self.axis), keepdims=True)))
        return ops.softmax(inputs, axis=self.axis)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config
