"""``Dropout``: inverted dropout driven by the Philox stream."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class Dropout(Layer):
    """Sets a fraction ``rate`` of inputs to 0 during training and scales the rest by 1/(1-rate).

    The mask of each call comes from the Philox stream (seed, counter), so it is the same on every
    backend and in every run with the same seed. At inference the layer is the identity.

    Args:
        rate: fraction to drop, in [0, 1) (Keras 1 name: ``p``).
        noise_shape: shape of the mask, broadcast against the input (``None`` entries take the
            input's size).
        seed: int for a reproducible stream; default derives one from the global seed.

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(Dropout(0.5))
    """

    def __init__(self, rate: float | None = None, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any):
        rate = kwargs.pop("p", rate)
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"{type(self).__name__} rate must be a number in [0, 1), got {rate!r}; "
                             "use e.g. Dropout(0.5) to drop half of the inputs.")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)
        self.seed = seed
        self.seed_generator = ops.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> ops.Tensor:
        if not training or self.rate == 0.0:
            return inputs
        seed, counter = self.seed_generator.next()
        if self.noise_shape is None:
            return ops.dropout(inputs, self.rate, seed, counter)
        mask = ops.dropout(ops.ones(self._mask_shape(inputs.shape), inputs.dtype), self.rate, seed, counter)
        return ops.multiply(inputs, ops.stop_gradient(mask))

    def _mask_shape(self, shape: tuple) -> tuple:
        """``noise_shape`` with its ``None`` entries taken from the input's shape."""
        if self.noise_shape is None:
            return tuple(shape)
        if len(self.noise_shape) != len(shape):
            raise ValueError(f"Layer {self.name!r} ({type(self).__name__}) has noise_shape {self.noise_shape}, "
                             f"which does not match the rank of its input of shape {tuple(shape)}.")
        return tuple(n if s is None else s for s, n in zip(self.noise_shape, shape))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"rate": self.rate, "noise_shape": None if self.noise_shape is None else list(self.noise_shape),
                       "seed": self.seed})
        return config
