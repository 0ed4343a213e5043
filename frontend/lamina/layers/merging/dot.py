"""``Dot``: per-sample dot products of two tensors along chosen axes."""
from __future__ import annotations

import math
from typing import Any

from ... import ops
from ..layer import Layer
from .base_merge import as_shape_list

_EPSILON = 1e-12  # Keras' l2_normalize floor on the squared norm


def l2_normalize(x: ops.Tensor, axis: int) -> ops.Tensor:
    """``x / sqrt(max(sum(x², axis), 1e-12))`` (Keras' ``l2_normalize``)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return ops.divide(x, ops.sqrt(ops.maximum(square_sum, _EPSILON)))


def batch_dot(x: ops.Tensor, y: ops.Tensor, axes: tuple[int, int]) -> ops.Tensor:
    """Keras' ``batch_dot``: for each sample, contract axis ``axes[0]`` of ``x`` with ``axes[1]`` of
    ``y``. The result's axes are the batch axis, ``x``'s remaining axes, then ``y``'s; a result with
    only the batch axis gets a trailing axis of size 1."""
    ax, ay = axes
    xr = [a for a in range(1, x.ndim) if a != ax]
    yr = [a for a in range(1, y.ndim) if a != ay]
    batch = x.shape[0]
    xs = [x.shape[a] for a in xr]
    ys = [y.shape[a] for a in yr]
    x2 = ops.reshape(ops.transpose(x, [0] + xr + [ax]), (batch, math.prod(xs), x.shape[ax]))
    y2 = ops.reshape(ops.transpose(y, [0, ay] + yr), (batch, y.shape[ay], math.prod(ys)))
    out = ops.matmul(x2, y2)
    shape = (batch,) + tuple(xs) + tuple(ys)
    if len(shape) == 1:
        shape = (batch, 1)
    return ops.reshape(out, shape)


class Dot(Layer):
    """Dot product of two samples' tensors along ``axes`` (Keras' ``batch_dot``).

    Args:
        axes: an int (the same axis of both inputs) or a pair ``(axis_of_first, axis_of_second)``;
            counted with the batch axis, which cannot be contracted. Negative values count from the
            end.
        normalize: L2-normalise both inputs along the contracted axes first, so the result is the
            cosine proximity (default False).

    Input: a list of two tensors, ``(batch, n)`` and ``(batch, n)`` for ``axes=1`` or e.g.
    ``(batch, m, n)`` and ``(batch, n, k)`` for ``axes=(2, 1)``. Output: the batch axis, the first
    input's remaining axes, then the second's; ``(batch, 1)`` when nothing remains.

    Example:
        >>> similarity = Dot(axes=1, normalize=True)([a, b])   # (batch, 1) cosine similarity
    """

    def __init__(self, axes: Any = None, normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if axes is None:
            raise ValueError("Dot needs axes: an int or a pair of ints, e.g. Dot(axes=1).")
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
                raise ValueError(f"Dot axes must be an int or a pair of ints, got {axes!r}.")
            axes = tuple(axes)
        elif isinstance(axes, bool) or not isinstance(axes, int):
            raise ValueError(f"Dot axes must be an int or a pair of ints, got {axes!r}.")
        self.axes = axes
        self.normalize = bool(normalize)

    def _pair_axes(self, rank1: int, rank2: int) -> tuple[int, int]:
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        return pair[0] % rank1 if pair[0] < 0 else pair[0], pair[1] % rank2 if pair[1] < 0 else pair[1]

    def _checked(self, input_shape: Any) -> tuple[tuple, tuple, tuple[int, int]]:
        shapes = as_shape_list(self, input_shape, "Dot")
        if len(shapes) != 2:
            raise ValueError(f"Layer {self.name!r} (Dot) must be called on a list of exactly 2 inputs, "
                             f"got {len(shapes)} with shapes {shapes}.")
        s1, s2 = shapes
        if s1 is None or s2 is None:
            return s1, s2, (0, 0)
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(f"Layer {self.name!r} (Dot) needs inputs of rank >= 2 (batch, ...), got shapes "
                             f"{s1} and {s2}.")
        a1, a2 = self._pair_axes(len(s1), len(s2))
        if not (1 <= a1 < len(s1) and 1 <= a2 < len(s2)):
            raise ValueError(f"Layer {self.name!r} (Dot) cannot contract axes {self.axes} of inputs with shapes "
                             f"{s1} and {s2}: each axis must be a non-batch axis of its input.")
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(f"Layer {self.name!r} (Dot) cannot contract axis {a1} of shape {s1} (size {s1[a1]}) "
                             f"with axis {a2} of shape {s2} (size {s2[a2]}): the sizes differ.")
        if s1[0] is not None and s2[0] is not None and s1[0] != s2[0]:
            raise ValueError(f"Layer {self.name!r} (Dot) cannot combine different batch sizes; got shapes "
                             f"{s1} and {s2}.")
        return s1, s2, (a1, a2)

    def build(self, input_shape: Any) -> None:
        self._checked(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple | None:
        s1, s2, (a1, a2) = self._checked(input_shape)
        if s1 is None or s2 is None:
            return None
        rest1 = [n for i, n in enumerate(s1) if i != a1]
        rest2 = [n for i, n in enumerate(s2) if i not in (0, a2)]
        out = rest1 + rest2
        if len(out) == 1:
            out.append(1)
        if out[0] is None:
            out[0] = s2[0]
        return tuple(out)

    def call(self, inputs: Any) -> ops.Tensor:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Layer {self.name!r} (Dot) must be called on a list of two inputs, "
                             f"e.g. Dot(axes=1)([a, b]); got a single tensor of shape {tuple(inputs.shape)}.")
        inputs = [ops.convert_to_tensor(x) for x in inputs]
        _, _, axes = self._checked([x.shape for x in inputs])
        x1, x2 = inputs
        if self.normalize:
            x1 = l2_normalize(x1, axes[0])
            x2 = l2_normalize(x2, axes[1])
        return batch_dot(x1, x2, axes)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"axes": list(self.axes) if isinstance(self.axes, tuple) else self.axes,
                       "normalize": self.normalize})
        return config
