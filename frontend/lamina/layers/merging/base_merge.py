"""``_Merge``: the shared base of the element-wise merge layers (Keras' broadcasting rules)."""
from __future__ import annotations

from typing import Any, Sequence

from ... import ops
from ..layer import Layer


def is_shape_list(input_shape: Any) -> bool:
    """Whether ``input_shape`` is a list of shapes (one per input) rather than one shape."""
    return isinstance(input_shape, (list, tuple)) and len(input_shape) > 0 and all(
        s is None or isinstance(s, (list, tuple)) for s in input_shape)


def as_shape_list(layer: Layer, input_shape: Any, kind: str) -> list[tuple | None]:
    """The per-input shapes, or a ValueError naming ``layer`` when it got a single shape."""
    if not is_shape_list(input_shape):
        raise ValueError(f"Layer {layer.name!r} ({kind}) must be called on a list of inputs, "
                         f"e.g. {kind}()([a, b]); got a single input of shape {_fmt(input_shape)}.")
    return [None if s is None else tuple(s) for s in input_shape]


def _fmt(shape: Any) -> str:
    return str(tuple(shape)) if isinstance(shape, list) else str(shape)


class _Merge(Layer):
    """Combines a list of tensors element-wise, broadcasting as Keras does.

    The batch axes must agree; the other axes are right-aligned and broadcast (size 1 or equal).
    A lower-rank input is given size-1 axes after its batch axis, so ``(batch, 3)`` merges with
    ``(batch, 4, 3)`` into ``(batch, 4, 3)``. Subclasses implement ``_merge_function``.

    Input: a list of tensors (at least ``min_inputs``). Output: the broadcast shape.
    """

    min_inputs = 1
    max_inputs: int | None = None

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.supports_masking = True

    # --- shapes ------------------------------------------------------------------------
    def _kind(self) -> str:
        return type(self).__name__

    def _check_count(self, n: int, shapes: Sequence[Any]) -> None:
        kind = self._kind()
        if self.max_inputs is not None and self.min_inputs == self.max_inputs and n != self.min_inputs:
            raise ValueError(f"Layer {self.name!r} ({kind}) must be called on a list of exactly "
                             f"{self.min_inputs} inputs, got {n} with shapes {list(shapes)}.")
        if n < self.min_inputs:
            raise ValueError(f"Layer {self.name!r} ({kind}) must be called on a list of at least "
                             f"{self.min_inputs} input(s), got {n}.")

    def _broadcast_pair(self, shape1: tuple | None, shape2: tuple | None, all_shapes: list) -> tuple | None:
        if shape1 is None or shape2 is None:
            return None
        if len(shape1) < len(shape2):
            shape1, shape2 = shape2, shape1
        if not shape2:
            return tuple(shape1)
        out = list(shape1[:len(shape1) - len(shape2)])
        for i, j in zip(shape1[len(shape1) - len(shape2):], shape2):
            if i is None or j is None:
                out.append(None)
            elif i == 1:
                out.append(j)
            elif j == 1 or i == j:
                out.append(i)
            else:
                raise ValueError(f"Layer {self.name!r} ({self._kind()}) cannot merge inputs of shapes "
                                 f"{', '.join(str(s) for s in all_shapes)}: axes of size {i} and {j} do not "
                                 "broadcast. Give the inputs equal shapes (or size 1 on the axes to broadcast), "
                                 "e.g. with a Dense or Reshape layer before merging.")
        return tuple(out)

    def compute_output_shape(self, input_shape: Any) -> tuple | None:
        shapes = as_shape_list(self, input_shape, self._kind())
        self._check_count(len(shapes), shapes)
        batch_sizes = {s[0] for s in shapes if s} - {None}
        if len(batch_sizes) > 1:
            raise ValueError(f"Layer {self.name!r} ({self._kind()}) cannot merge tensors with different batch "
                             f"sizes; got inputs of shapes {', '.join(str(s) for s in shapes)}.")
        out = None if shapes[0] is None else tuple(shapes[0][1:])
        for s in shapes[1:]:
            out = self._broadcast_pair(out, None if s is None else tuple(s[1:]), shapes)
        if out is None:
            return None
        return ((batch_sizes.pop() if batch_sizes else None),) + out

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)  # validates, so a bad graph fails when it is built
        self.built = True

    # --- calling -----------------------------------------------------------------------
    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras' rule: a position is kept where every input that has a mask keeps it."""
        masks = [ops.convert_to_tensor(m) for m in mask if m is not None] if isinstance(mask, (list, tuple)) else []
        if not masks:
            return None
        top = max(m.ndim for m in masks)
        out = None
        for m in masks:
            while m.ndim < top:  # as the inputs: new axes right after the batch axis
                m = ops.expand_dims(m, 1)
            out = m if out is None else ops.logical_and(out, m)
        return out

    def _merge_function(self, inputs: list[ops.Tensor]) -> ops.Tensor:
        raise NotImplementedError

    def call(self, inputs: Any) -> ops.Tensor:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"Layer {self.name!r} ({self._kind()}) must be called on a list of inputs, "
                             f"e.g. {self._kind()}()([a, b]); got a single tensor of shape {tuple(inputs.shape)}.")
        inputs = [ops.convert_to_tensor(x) for x in inputs]
        self.compute_output_shape([x.shape for x in inputs])
        ranks = [x.ndim for x in inputs]
        top = max(ranks)
        if min(ranks) != top:
            # Keras' rule: new axes go right after the batch axis, then NumPy broadcasting applies.
            expanded = []
            for x in inputs:
                for _ in range(top - x.ndim):
                    x = ops.expand_dims(x, 1)
                expanded.append(x)
            inputs = expanded
        return self._merge_function(inputs)

