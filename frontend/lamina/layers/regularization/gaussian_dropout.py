"""``GaussianDropout``: multiplicative 1-centred Gaussian noise while training."""
from __future__ import annotations

import math
from typing import Any

from ... import ops
from ..layer import Layer


class GaussianDropout(Layer):
    """Multiplies the input by ``N(1, rate / (1 - rate))`` noise during training (the same mean and
    variance as inverted dropout with this rate); the identity at inference.

    Args:
        rate: drop probability of the equivalent dropout, in [0, 1).
        seed: int for a reproducible Philox stream; default derives one from the global seed.

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(GaussianDropout(0.2))
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"GaussianDropout rate must be a number in [0, 1), got {rate!r}.")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = ops.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> ops.Tensor:
        if not training or self.rate == 0.0:
            return inputs
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = ops.random_normal(inputs.shape, mean=1.0, stddev=stddev, dtype=inputs.dtype,
                                  seed=self.seed_generator)
        return ops.multiply(inputs, noise)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
