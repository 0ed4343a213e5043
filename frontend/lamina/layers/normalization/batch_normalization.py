"""``BatchNormalization``: normalise with batch statistics while training, moving averages after."""
from __future__ import annotations

from typing import Any

from ... import initializers, ops
from ._axes import AffineNormalization, normalized_axes
from .._masked import masked_mean, step_weights


class BatchNormalization(AffineNormalization):
    """Normalises each feature (slice along ``axis``) to zero mean and unit variance, then scales by
    ``gamma`` and shifts by ``beta``.

    Training (``training=True`` and the layer trainable): the statistics are the mean and the
    biased variance of the batch over every axis except ``axis``; gradients flow through them.
    Each such call also updates the non-trainable moving statistics in place, as Keras 3 does::

        moving_mean     = moving_mean     * momentum + batch_mean     * (1 - momentum)
        moving_variance = moving_variance * momentum + batch_variance * (1 - momentum)

    (``batch_variance`` is the biased variance, as in Keras 3; Keras 2's fused TensorFlow kernel
    used the unbiased one.) The update is not recorded by the gradient tape. With a mask (e.g.
    from ``Masking``), the batch statistics count only the kept time steps, as in Keras 3.

    Inference (``training`` False or None, or the layer frozen with ``trainable=False`` — the
    Keras 3 rule, which fine-tuning relies on): the moving statistics are used and nothing changes.

    Output: ``(x - mean) / sqrt(variance + epsilon) * gamma + beta``.

    Args:
        axis: the feature axis (int), or a list of axes (Keras 2); default -1 (channels_last; use
            1 for channels_first data).
        momentum: weight of the old moving statistics (default 0.99).
        epsilon: added to the variance (default 1e-3).
        center: learn an offset ``beta`` (default True). scale: learn a factor ``gamma`` (default True).
        beta_initializer ("zeros"), gamma_initializer ("ones"), moving_mean_initializer ("zeros"),
            moving_variance_initializer ("ones") — Keras 1 names ``beta_init``, ``gamma_init``.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint.
        synchronized: accepted (Keras 3); one device, so it changes nothing.
        fused: accepted (Keras 2) and ignored. mode: Keras 1; only ``mode=0`` exists here.

    Weights, in Keras order: ``gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_variance``.
    Half-precision inputs are normalised in float32 and cast back.

    Input shape: any, with known sizes along ``axis``. Output shape: same as input.

    Example:
        >>> model.add(Dense(64)); model.add(BatchNormalization()); model.add(Activation("relu"))
    """

    def __init__(self, axis: Any = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 moving_mean_initializer: Any = "zeros", moving_variance_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, synchronized: bool = False, **kwargs: Any):
        # Keras 1 / Keras 2 spellings.
        beta_initializer = kwargs.pop("beta_init", beta_initializer)
        gamma_initializer = kwargs.pop("gamma_init", gamma_initializer)
        mode = kwargs.pop("mode", 0)
        kwargs.pop("fused", None)
        for name, default in (("renorm", False), ("virtual_batch_size", None), ("adjustment", None)):
            if kwargs.pop(name, default) not in (default,):
                raise ValueError(f"BatchNormalization({name}=...) is not supported by Lamina; leave it at "
                                 f"{default!r}.")
        super().__init__(axis, epsilon, center, scale, beta_initializer, gamma_initializer, beta_regularizer,
                         gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        if mode != 0:
            raise ValueError(f"BatchNormalization mode={mode!r} (Keras 1 sample-wise/per-batch modes) is not "
                             "supported; only mode=0 (feature-wise, the Keras 2/3 behaviour) exists.")
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum <= 1.0:
            raise ValueError(f"BatchNormalization momentum must be a number in [0, 1], got {momentum!r}.")
        self.momentum = float(momentum)
        self.synchronized = bool(synchronized)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.moving_mean = self.moving_variance = None
        self._input_rank = 0

    def build(self, input_shape: tuple) -> None:
        self._axes = normalized_axes(self, "BatchNormalization", self.axis, input_shape)
        self._input_rank = len(input_shape)
        if len(self._axes) == 1:
            shape: tuple = (int(input_shape[self._axes[0]]),)
        else:  # Keras 2: several axes give weights broadcastable against the input
            shape = tuple(int(input_shape[i]) if i in self._axes else 1 for i in range(len(input_shape)))
        self._add_affine_weights(shape)
        self.moving_mean = self.add_weight("moving_mean", shape, initializer=self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape,
                                               initializer=self.moving_variance_initializer, trainable=False)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> ops.Tensor:
        x = ops.convert_to_tensor(inputs)
        if x.ndim != self._input_rank:
            raise ValueError(f"Layer {self.name!r} (BatchNormalization) was built for inputs of rank "
                             f"{self._input_rank}, but got shape {x.shape}.")
        for a in self._axes:
            expected = self.moving_mean.shape[0] if len(self._axes) == 1 else self.moving_mean.shape[a]
            if x.shape[a] != expected:
                raise ValueError(f"Layer {self.name!r} (BatchNormalization) was built for {expected} features on "
                                 f"axis {a}, but got inputs of shape {x.shape}.")
        reduce_axes = tuple(i for i in range(x.ndim) if i not in self._axes)

        def statistics(x: ops.Tensor, param: Any) -> tuple:
            if training and self.trainable:
                if mask is None:
                    mean = ops.mean(x, axis=reduce_axes, keepdims=True)
                    variance = ops.var(x, axis=reduce_axes, keepdims=True)
                else:
                    mean, variance = _masked_moments(x, mask, reduce_axes)
                self._update_moving(self.moving_mean, mean)
                self._update_moving(self.moving_variance, variance)
                return mean, variance
            return param(self.moving_mean), param(self.moving_variance)
        return self._normalize(x, statistics)

    def _update_moving(self, moving: ops.Variable, batch: ops.Tensor) -> None:
        """``moving <- moving * momentum + batch * (1 - momentum)``, outside the gradient tape."""
        batch = ops.reshape(ops.stop_gradient(batch), moving.shape)
        if batch.dtype != moving.dtype:
            batch = ops.cast(batch, moving.dtype)
        moving.assign(ops.add(ops.multiply(ops.stop_gradient(moving), self.momentum),
                              ops.multiply(batch, 1.0 - self.momentum)))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({
            "momentum": self.momentum, "synchronized": self.synchronized,
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
        })
        return config


def _masked_moments(x: ops.Tensor, mask: Any, axes: tuple) -> tuple[ops.Tensor, ops.Tensor]:
    """Mean and variance over the positions the mask keeps (padding would skew them), as Keras 3."""
    keep = step_weights(mask, x)  # a (batch, time) mask covers every feature of a step
    mean = masked_mean(x, keep, axes, keepdims=True)
    return mean, masked_mean(ops.square(ops.subtract(x, mean)), keep, axes, keepdims=True)
