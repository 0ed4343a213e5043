"""Loss functions with Keras names, aliases and semantics.

Each function maps ``(y_true, y_pred)`` to one loss per sample (the mean over the last axis
where Keras takes it); ``Loss`` classes add the reduction (mean over the batch by default).
"""
from __future__ import annotations

import math
from typing import Any, Callable

from . import _config, ops
from ._lookup import resolve, snake_case


def _prep(y_true: Any, y_pred: Any) -> tuple[ops.Tensor, ops.Tensor]:
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, y_pred.dtype)
    return y_true, y_pred


def mean_squared_error(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    return ops.mean(ops.square(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    return ops.mean(ops.abs(ops.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    diff = ops.abs(ops.divide(ops.subtract(y_true, y_pred), ops.maximum(ops.abs(y_true), _config.epsilon())))
    return ops.multiply(ops.mean(diff, axis=-1), 100.0)


def mean_squared_logarithmic_error(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    eps = _config.epsilon()
    a = ops.log(ops.add(ops.maximum(y_pred, eps), 1.0))
    b = ops.log(ops.add(ops.maximum(y_true, eps), 1.0))
    return ops.mean(ops.square(ops.subtract(a, b)), axis=-1)


def _smooth(y_true: ops.Tensor, label_smoothing: float, num_classes: int) -> ops.Tensor:
    if not label_smoothing:
        return y_true
    return ops.add(ops.multiply(y_true, 1.0 - label_smoothing), label_smoothing / num_classes)


def categorical_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1):
    """-sum(y_true * log(p)); probabilities are renormalised and clipped to [eps, 1-eps] as in Keras."""
    y_true, y_pred = _prep(y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[axis])
    if from_logits:
        logp = ops.log_softmax(y_pred, axis=axis)
    else:
        eps = _config.epsilon()
        p = ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True))
        logp = ops.log(ops.clip(p, eps, 1.0 - eps))
    return ops.negative(ops.sum(ops.multiply(y_true, logp), axis=axis))


def sparse_categorical_crossentropy(y_true, y_pred, from_logits: bool = False, axis: int = -1,
                                    ignore_class: int | None = None):
    """Categorical cross-entropy with integer class labels (shape ``(batch,)`` or ``(batch, 1)``)."""
    y_pred = ops.convert_to_tensor(y_pred)
    labels = ops.convert_to_tensor(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[-1] == 1:
        labels = ops.squeeze(labels, axis=-1)
    labels = ops.cast(labels, "int64")
    onehot = ops.one_hot(labels, y_pred.shape[axis], dtype=y_pred.dtype)
    loss = categorical_crossentropy(onehot, y_pred, from_logits=from_logits, axis=axis)
    if ignore_class is not None:
        loss = ops.where(ops.equal(labels, ignore_class), ops.zeros_like(loss), loss)
    return loss


def binary_crossentropy(y_true, y_pred, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1):
    y_true, y_pred = _prep(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        # max(x, 0) - x*y + log(1 + exp(-|x|)): exact and overflow-free.
        per = ops.add(ops.subtract(ops.relu(y_pred), ops.multiply(y_pred, y_true)),
                      ops.log1p(ops.exp(ops.negative(ops.abs(y_pred)))))
    else:
        eps = _config.epsilon()
        p = ops.clip(y_pred, eps, 1.0 - eps)
        per = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                                   ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))
    return ops.mean(per, axis=axis)


def hinge(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    y_true = _signed_labels(y_true)
    return ops.mean(ops.relu(ops.subtract(1.0, ops.multiply(y_true, y_pred))), axis=-1)


def squared_hinge(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    y_true = _signed_labels(y_true)
    return ops.mean(ops.square(ops.relu(ops.subtract(1.0, ops.multiply(y_true, y_pred)))), axis=-1)


def _signed_labels(y_true: ops.Tensor) -> ops.Tensor:
    """Keras converts {0, 1} labels to {-1, 1} for the hinge losses (only when every label is 0 or 1)."""
    is_binary = float(ops.min(ops.cast(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)),
                                       y_true.dtype))) == 1.0 if y_true.shape and 0 not in y_true.shape else False
    return ops.subtract(ops.multiply(y_true, 2.0), 1.0) if is_binary else y_true


def categorical_hinge(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    pos = ops.sum(ops.multiply(y_true, y_pred), axis=-1)
    neg = ops.max(ops.multiply(ops.subtract(1.0, y_true), y_pred), axis=-1)
    return ops.relu(ops.add(ops.subtract(neg, pos), 1.0))


def log_cosh(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    d = ops.subtract(y_pred, y_true)
    # log(cosh(d)) = d + softplus(-2d) - log 2, stable for large |d|
    return ops.mean(ops.subtract(ops.add(d, ops.softplus(ops.multiply(d, -2.0))), math.log(2.0)), axis=-1)


def kl_divergence(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    eps = _config.epsilon()
    t = ops.clip(y_true, eps, 1.0)
    p = ops.clip(y_pred, eps, 1.0)
    return ops.sum(ops.multiply(t, ops.log(ops.divide(t, p))), axis=-1)


def poisson(y_true, y_pred):
    y_true, y_pred = _prep(y_true, y_pred)
    return ops.mean(ops.subtract(y_pred, ops.multiply(y_true, ops.log(ops.add(y_pred, _config.epsilon())))), axis=-1)


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """Negative cosine similarity (so that minimising it aligns the vectors), as in Keras."""
    y_true, y_pred = _prep(y_true, y_pred)

    def l2n(x):
        return ops.divide(x, ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), 1e-12)))
    return ops.negative(ops.sum(ops.multiply(l2n(y_true), l2n(y_pred)), axis=axis))


def huber(y_true, y_pred, delta: float = 1.0):
    y_true, y_pred = _prep(y_true, y_pred)
    err = ops.abs(ops.subtract(y_pred, y_true))
    quad = ops.minimum(err, delta)
    lin = ops.subtract(err, quad)
    return ops.mean(ops.add(ops.multiply(ops.square(quad), 0.5), ops.multiply(lin, delta)), axis=-1)


# Keras short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
cosine_proximity = cosine_similarity


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced scalar.

    Args:
        reduction: ``"sum_over_batch_size"`` (default, a mean), ``"sum"`` or ``"none"``.
        name: the loss name.
    """

    fn: Callable = staticmethod(mean_squared_error)

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, **kwargs: Any):
        if reduction == "auto":
            reduction = "sum_over_batch_size"
        if reduction not in ("sum_over_batch_size", "sum", "none", "mean"):
            raise ValueError(f"Loss reduction must be 'sum_over_batch_size', 'sum' or 'none', got {reduction!r}.")
        self.reduction = reduction
        self.name = name or snake_case(type(self).__name__)
        self.kwargs = kwargs

    def call(self, y_true, y_pred):
        return type(self).fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        per = self.call(y_true, y_pred)
        if sample_weight is not None:
            per = ops.multiply(per, _match_weight_rank(ops.cast(ops.convert_to_tensor(sample_weight), per.dtype), per))
        if self.reduction == "none":
            return per
        total = ops.sum(per)
        if self.reduction == "sum":
            return total
        return ops.divide(total, float(max(math.prod(per.shape), 1)))

    def get_config(self) -> dict:
        return {"reduction": self.reduction, "name": self.name, **self.kwargs}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)


def _match_weight_rank(weight: ops.Tensor, values: ops.Tensor) -> ops.Tensor:
    """As Keras: ``(batch, 1)`` weights on ``(batch,)`` values are squeezed, and ``(batch,)`` weights
    on ``(batch, d, ...)`` values gain trailing axes (so they weight samples, never columns)."""
    while weight.ndim > values.ndim and weight.shape[-1] == 1:
        weight = ops.squeeze(weight, axis=-1)
    while 0 < weight.ndim < values.ndim:
        weight = ops.expand_dims(weight, -1)
    return weight


def _loss_class(name: str, fn: Callable, **defaults: Any) -> type:
    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, **kwargs: Any):
        merged = {**defaults, **kwargs}
        Loss.__init__(self, reduction=reduction, name=name, **merged)
    return type(name, (Loss,), {"fn": staticmethod(fn), "__init__": __init__,
                                "__doc__": f"Class form of ``{fn.__name__}``."})


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy)
SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy)
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy)
Hinge = _loss_class("Hinge", hinge)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge)
LogCosh = _loss_class("LogCosh", log_cosh)
KLDivergence = _loss_class("KLDivergence", kl_divergence)
Poisson = _loss_class("Poisson", poisson)
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity)
Huber = _loss_class("Huber", huber)

_FUNCTIONS = [mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
              mean_squared_logarithmic_error, categorical_crossentropy, sparse_categorical_crossentropy,
              binary_crossentropy, hinge, squared_hinge, categorical_hinge, log_cosh, kl_divergence, poisson,
              cosine_similarity, huber]
_TABLE: dict[str, Any] = {f.__name__: f for f in _FUNCTIONS}
_TABLE.update({"mse": mse, "mae": mae, "mape": mape, "msle": msle, "kld": kld, "logcosh": log_cosh,
               "kullback_leibler_divergence": kl_divergence, "cosine_proximity": cosine_similarity,
               "huber_loss": huber})
_CLASSES = [MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, Hinge, SquaredHinge,
            CategoricalHinge, LogCosh, KLDivergence, Poisson, CosineSimilarity, Huber]
_CLASS_TABLE = {c.__name__: c for c in _CLASSES}


def get(identifier: Any) -> Callable:
    """A loss function or ``Loss`` object for a name (``"mse"``, ``"categorical_crossentropy"``…)."""
    if isinstance(identifier, str) and identifier in _CLASS_TABLE:
        return _CLASS_TABLE[identifier]()
    if isinstance(identifier, dict) and identifier.get("class_name") in _CLASS_TABLE:  # a serialized Loss
        return _CLASS_TABLE[identifier["class_name"]].from_config(identifier.get("config", {}))
    if isinstance(identifier, str) and identifier.upper() in ("MSE", "MAE", "MAPE", "MSLE", "KLD"):
        identifier = identifier.lower()
    return resolve("loss", identifier, _TABLE)


def loss_name(fn: Any) -> str:
    return getattr(fn, "name", None) or getattr(fn, "__name__", type(fn).__name__)
