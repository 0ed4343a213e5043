"""``Masking``: marks time steps whose features all equal ``mask_value`` as padding."""
from __future__ import annotations

import numbers
from typing import Any

from ... import ops
from ..layer import Layer


class Masking(Layer):
    """Skips padded time steps in the layers that follow.

    A time step is padding when every feature equals ``mask_value``. Such steps are set to zero
    in the output, and the output carries a boolean mask (``False`` at padding) that later layers
    receive: recurrent layers skip the masked steps, and the loss ignores them.

    Args:
        mask_value: the padding value (default 0.0).

    Input shape: ``(batch, time, features)`` (any rank ≥ 2; the last axis holds the features).
    Output shape: same as input. Mask shape: the input shape without the last axis.

    Example:
        >>> model = Sequential()
        >>> model.add(Masking(mask_value=0.0, input_shape=(timesteps, features)))
        >>> model.add(LSTM(32))  # steps whose features are all 0.0 are skipped
    """

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, numbers.Real):
            raise ValueError(f"Masking mask_value must be a number, got {mask_value!r}; e.g. Masking(mask_value=0.0).")
        self.mask_value = float(mask_value)
        self.supports_masking = True

    def _any_kept(self, inputs: ops.Tensor, keepdims: bool) -> ops.Tensor:
        """1 where some feature differs from ``mask_value``, else 0 (the last axis reduced)."""
        differs = ops.cast(ops.not_equal(inputs, self.mask_value), inputs.dtype)
        return ops.max(differs, axis=-1, keepdims=keepdims)

    def call(self, inputs: Any) -> ops.Tensor:
        return ops.multiply(inputs, self._any_kept(inputs, keepdims=True))

    def compute_mask(self, inputs: Any, mask: Any = None) -> ops.Tensor:
        return ops.greater(self._any_kept(ops.convert_to_tensor(inputs), keepdims=False), 0)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config["mask_value"] = self.mask_value
        return config
