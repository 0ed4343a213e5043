"""``AlphaDropout``: dropout that keeps the self-normalising property of SELU networks."""
from __future__ import annotations

from typing import Any

from ... import ops
from ..core.dropout import Dropout

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class AlphaDropout(Dropout):
    """Sets dropped inputs to SELU's negative saturation value ``-alpha * scale`` and applies the
    affine map that restores the input's mean and variance (Keras' formula, for inputs of mean 0
    and variance 1)::

        alpha_p = -1.6732632... * 1.0507009...
        a = ((1 - rate) * (1 + rate * alpha_p²)) ** -0.5
        b = -a * alpha_p * rate
        y = a * (x * keep + alpha_p * (1 - keep)) + b

    during training; the identity at inference. The keep mask comes from the same Philox bits and
    threshold as ``Dropout``'s, so a seed fixes it on every backend.

    Args:
        rate: drop probability, in [0, 1).
        noise_shape: shape of the mask, broadcast against the input (``None`` entries take the
            input's size).
        seed: int for a reproducible stream; default derives one from the global seed.

    Input shape: any. Output shape: same as input.

    Example:
        >>> model.add(Dense(64, activation="selu", kernel_initializer="lecun_normal"))
        >>> model.add(AlphaDropout(0.1))
    """

    def call(self, inputs: Any, training: bool | None = None) -> ops.Tensor:
        if not training or self.rate == 0.0:
            return inputs
        seed, counter = self.seed_generator.next()
        scaled = ops.dropout(ops.ones(self._mask_shape(inputs.shape), inputs.dtype), self.rate, seed, counter)
        keep = ops.stop_gradient(ops.cast(ops.greater(scaled, 0.0), inputs.dtype))
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1.0 - self.rate) * (1.0 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        dropped = ops.multiply(ops.subtract(1.0, keep), alpha_p)
        x = ops.add(ops.multiply(inputs, keep), dropped)
        return ops.add(ops.multiply(x, a), b)
