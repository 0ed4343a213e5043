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

    Input shape: ``(batch, time, ...)``, at least rank 3. Output shape:
    ``(batch, time) + inner_output_shape[1:]``.

    Example:
        >>> model.add(TimeDistributed(Dense(8), input_shape=(10, 16)))   # (None, 10, 16) -> (None, 10, 8)
    """

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

    def call(self, inputs: Any, training: bool | None = None) -> ops.Tensor:
        self._check(inputs.shape)
        batch, time = inputs.shape[0], inputs.shape[1]
        folded = ops.reshape(inputs, (batch * time,) + tuple(inputs.shape[2:]))
        out = self.layer(folded, training=training)
        return ops.reshape(out, (batch, time) + tuple(out.shape[1:]))
