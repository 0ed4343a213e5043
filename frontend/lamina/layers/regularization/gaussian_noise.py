"""``GaussianNoise``: additive zero-centred Gaussian noise while training."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..layer import Layer


class GaussianNoise(Layer):
    """Adds ``N(0, stddev²)`` noise during training (a regulariser against overfitting); the
    identity at inference. The noise comes from the Philox stream, so a seed fixes it on every
    backend.

    Args:
        stddev: standard deviation of the noise.
        seed: int for a reproducible stream; default derives one from the global seed.

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(GaussianNoise(0.1, input_shape=(784,)))
    """

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(stddev, bool) or not isinstance(stddev, (int, float)) or stddev < 0:
            raise ValueError(f"GaussianNoise stddev must be a number >= 0, got {stddev!r}.")
        self.stddev = float(stddev)
        self.seed = seed
        self.seed_generator = ops.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs: Any, training: bool | None = None) -> ops.Tensor:
        if not training or self.stddev == 0.0:
            return inputs
        noise = ops.random_normal(inputs.shape, mean=0.0, stddev=self.stddev, dtype=inputs.dtype,
                                  seed=self.seed_generator)
        return ops.add(inputs, noise)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"stddev": self.stddev, "seed": self.seed})
        return config
