"""``TimeDistributed``: applies a layer to every time step of a sequence."""
from __future__ import annotations

from typing import Any

from ... import ops
from .wrapper import Wrapper


class TimeDistributed(Wrapper):
    """Applies ``layer`` to each slice ``inputs[:, t]``, with the same weights for every ``t``.

    The time steps are folded into the batch axis — ``(batch, time, ...)`` becomes
    ``(batch * time, ...)``, goes through the inner layer once, and is unfolded again — so the cost
    is one call of the inner layer, not ``time`` calls.

    Args:
        layer: the ``Layer`` instance to apply.

    A ``(batch, time)`` mask on the input (from ``Masking`` or ``Embedding(mask_zero=True)``)
    passes through to the output.

    Input shape: ``(batch, time, ...)``, at least rank 3. Output shape:
    ``(batch, time) + inner_output_shape[1:]``.

    Example:
        >>> model.add(TimeDistributed(Dense(8), input_shape=(10, 16)))   # (None, 10, 16) -> (None, 10, 8)
    """

    def __init__(self, layer: Any, **kwargs: Any):
        super().__init__(layer, **kwargs)
        self.supports_masking = True  # the (batch, time) mask passes through unchanged

    def _check(self, input_shape: Any) -> None:
        if len(input_shape) < 3:
            raise ValueError(f"Layer {self.name!r} (TimeDistributed) expects inputs of shape (batch, time, ...) "
                             f"with rank >= 3, got {tuple(input_shape)}.")

    @staticmethod
    def _inner_shape(input_shape: Any) -> tuple:
        batch, time = input_shape[0], input_shape[1]
        folded = None if batch is None or time is None else batch * time
        return (folded,) + tuple(input_shape[2:])

    def build(self, input_shape: Any) -> None:
        self._check(input_shape)
        if not self.layer.built:
            self.layer.build(self._inner_shape(input_shape))
            self.layer.built = True
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple | None:
        self._check(input_shape)
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        if inner is None:
            return None
        return (input_shape[0], input_shape[1]) + tuple(inner[1:])

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> ops.Tensor:
        self._check(inputs.shape)
        batch, time = inputs.shape[0], inputs.shape[1]
        folded = ops.reshape(inputs, (batch * time,) + tuple(inputs.shape[2:]))
        kwargs: dict[str, Any] = {"training": training}
        mask = None if mask is None else ops.convert_to_tensor(mask)
        if mask is not None and mask.ndim > 2:
            # Only a mask with axes inside each step means something to the inner layer (e.g. an
            # RNN over words of each sentence); a (batch, time) mask stays outside.
            kwargs["mask"] = ops.reshape(mask, (batch * time,) + tuple(mask.shape[2:]))
        out = self.layer(folded, **kwargs)
        return ops.reshape(out, (batch, time) + tuple(out.shape[1:]))
