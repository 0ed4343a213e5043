"""``Add``: the element-wise sum of a list of tensors."""
from __future__ import annotations

from ... import ops
from .base_merge import _Merge


class Add(_Merge):
    """Sums a list of tensors element-wise (Keras broadcasting, see ``_Merge``).

    Example:
        >>> added = Add()([x1, x2])   # same as add([x1, x2])
    """

    def _merge_function(self, inputs: list[ops.Tensor]) -> ops.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = ops.add(out, x)
        return out
