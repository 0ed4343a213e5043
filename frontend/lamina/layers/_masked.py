"""The mean over the positions a mask keeps: what masked batch statistics and masked pooling share."""
from __future__ import annotations

from typing import Any

from .. import ops


def masked_mean(x: ops.Tensor, keep: ops.Tensor, axes: tuple, keepdims: bool = False) -> ops.Tensor:
    """``sum(x * keep) / max(sum(keep), 1)`` over ``axes``; ``keep`` (0/1 in ``x``'s dtype) is
    broadcast to ``x`` first, so the count is of the positions of ``x`` that are kept (0 where
    nothing is)."""
    keep = ops.broadcast_to(keep, x.shape)
    count = ops.maximum(ops.sum(keep, axis=axes, keepdims=keepdims), 1.0)
    return ops.divide(ops.sum(ops.multiply(x, keep), axis=axes, keepdims=keepdims), count)


def step_weights(mask: Any, x: ops.Tensor, feature_axis: int = -1) -> ops.Tensor:
    """A per-step mask (one rank less than ``x``) as 0/1 weights in ``x``'s dtype, with the feature
    axis put back (length 1) at ``feature_axis`` so that it broadcasts over ``x``."""
    w = ops.cast(ops.convert_to_tensor(mask), x.dtype)
    while w.ndim < x.ndim:
        w = ops.expand_dims(w, feature_axis)
    return w
