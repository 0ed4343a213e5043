"""``Concatenate``: joins a list of tensors along one axis."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer
from .base_merge import as_shape_list


class Concatenate(Layer):
    """Concatenates a list of tensors along ``axis``; all other axes must match.

    Args:
        axis: the axis to join along, counted with the batch axis (default -1, the last).

    Input: a list of tensors of equal rank. Output: the same rank, the sizes along ``axis`` summed.

    Example:
        >>> merged = Concatenate()([x1, x2])          # (batch, 3) and (batch, 5) -> (batch, 8)
        >>> merged = Concatenate(axis=1)([s1, s2])    # (batch, 4, 8) and (batch, 2, 8) -> (batch, 6, 8)
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"Concatenate axis must be an int, got {axis!r}.")
        self.axis = axis
        self.supports_masking = True

    def _error(self, shapes: list, why: str) -> ValueError:
        return ValueError(f"Layer {self.name!r} (Concatenate) requires inputs with matching shapes except for "
                          f"the concat axis {self.axis}; got inputs of shapes "
                          f"{', '.join(str(s) for s in shapes)} ({why}).")

    def compute_output_shape(self, input_shape: Any) -> tuple | None:
        shapes = as_shape_list(self, input_shape, "Concatenate")
        if any(s is None for s in shapes):
            return None
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise self._error(shapes, "the ranks differ")
        rank = ranks.pop()
        if not -rank <= self.axis < rank:
            raise self._error(shapes, f"axis {self.axis} is out of range for rank {rank}")
        axis = self.axis % rank
        out: list[Any] = []
        for a in range(rank):
            sizes = [s[a] for s in shapes]
            if a == axis:
                out.append(None if None in sizes else sum(sizes))
                continue
            known = {n for n in sizes if n is not None}
            if len(known) > 1:
                raise self._error(shapes, f"axis {a} has sizes {sizes}")
            out.append(known.pop() if known else None)
        return tuple(out)

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)
        self.built = True

    def call(self, inputs: Any) -> ops.Tensor:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Layer {self.name!r} (Concatenate) must be called on a list of inputs, "
                             f"e.g. Concatenate()([a, b]); got a single tensor of shape {tuple(inputs.shape)}.")
        inputs = [ops.convert_to_tensor(x) for x in inputs]
        self.compute_output_shape([x.shape for x in inputs])
        return ops.concatenate(inputs, axis=self.axis)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras' rule: the masks, widened to their inputs' shapes (an input without one keeps
        everything), are joined like the inputs; a position is kept where all its features are."""
        if not isinstance(mask, (list, tuple)) or all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask):
            m = ops.ones(x.shape, "float32") if m is None else ops.cast(m, "float32")
            if m.ndim < x.ndim:
                m = ops.broadcast_to(ops.expand_dims(m, -1), x.shape)
            full.append(m)
        return ops.greater(ops.min(ops.concatenate(full, axis=self.axis), axis=-1), 0)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config
