"""Loss functions with Keras names, aliases and semantics.

Each function maps ``(y_true, y_pred)`` to one loss per sample (the mean over the last axis
where Keras takes it); ``Loss`` classes add the reduction (mean over the batch by default).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

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
    return ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=axis)


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
        ignored = ops.equal(labels, ignore_class)
        loss = ops.where(ignored, ops.zeros_like(loss), loss)
        loss._keras_mask = ops.logical_not(ignored)  # the mean is over the kept labels (Keras 3)
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
    """Keras converts {0, 1} labels to {-1, 1} for the hinge losses (only when every label is 0 or 1).

    The test runs on the device (a 0-d condition fed to ``where``), so no value is read back."""
    if not y_true.shape or 0 in y_true.shape:
        return y_true
    is_binary = ops.min(ops.cast(ops.logical_or(ops.equal(y_true, 0.0), ops.equal(y_true, 1.0)), y_true.dtype))
    return ops.where(ops.equal(is_binary, 1.0), ops.subtract(ops.multiply(y_true, 2.0), 1.0), y_true)


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


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing: bool = False, alpha: float = 0.25,
                              gamma: float = 2.0, from_logits: bool = False, label_smoothing: float = 0.0,
                              axis: int = -1):
    """Focal loss (Lin et al. 2017) on binary cross-entropy, as Keras defines it:
    ``mean((1 - p_t)^gamma * bce)`` with ``p_t = y p + (1 - y)(1 - p)``; with class balancing each
    term is also weighted by ``alpha`` (positives) or ``1 - alpha`` (negatives)."""
    y_true, y_pred = _prep(y_true, y_pred)
    if label_smoothing:
        y_true = ops.add(ops.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    eps = _config.epsilon()
    p = ops.clip(y_pred, eps, 1.0 - eps)
    bce = ops.negative(ops.add(ops.multiply(y_true, ops.log(p)),
                               ops.multiply(ops.subtract(1.0, y_true), ops.log(ops.subtract(1.0, p)))))
    p_t = ops.add(ops.multiply(y_true, y_pred), ops.multiply(ops.subtract(1.0, y_true), ops.subtract(1.0, y_pred)))
    focal = ops.multiply(ops.power(ops.subtract(1.0, p_t), gamma), bce)
    if apply_class_balancing:
        weight = ops.add(ops.multiply(y_true, alpha), ops.multiply(ops.subtract(1.0, y_true), 1.0 - alpha))
        focal = ops.multiply(weight, focal)
    return ops.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha: float = 0.25, gamma: float = 2.0,
                                   from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1):
    """Focal loss on categorical cross-entropy, as Keras defines it:
    ``sum(alpha (1 - p)^gamma * -y log(p))`` with ``p`` renormalised and clipped to [eps, 1 - eps]."""
    y_true, y_pred = _prep(y_true, y_pred)
    y_true = _smooth(y_true, label_smoothing, y_pred.shape[axis])
    if from_logits:
        y_pred = ops.softmax(y_pred, axis=axis)
    eps = _config.epsilon()
    p = ops.clip(ops.divide(y_pred, ops.sum(y_pred, axis=axis, keepdims=True)), eps, 1.0 - eps)
    cce = ops.negative(ops.multiply(y_true, ops.log(p)))
    weighting = ops.multiply(ops.power(ops.subtract(1.0, p), gamma), alpha)
    return ops.sum(ops.multiply(weighting, cce), axis=axis)


# Keras short names.
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh
huber_loss = huber
cosine_proximity = cosine_similarity


class Reduction:
    """Keras 2's reduction names (``tf.keras.losses.Reduction``)."""

    AUTO = "auto"
    NONE = "none"
    SUM = "sum"
    SUM_OVER_BATCH_SIZE = "sum_over_batch_size"

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.AUTO, cls.NONE, cls.SUM, cls.SUM_OVER_BATCH_SIZE)


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` returns the reduced scalar.

    Subclass it and write ``call(y_true, y_pred)`` (per-sample losses) for a custom loss.

    Args:
        reduction: ``"sum_over_batch_size"`` (default, a mean; Keras 2's ``"auto"`` means the
            same), ``"sum"`` or ``"none"``.
        name: the loss name.
    """

    fn: Callable = staticmethod(mean_squared_error)

    def __init__(self, reduction: str = "sum_over_batch_size", name: str | None = None, dtype: str | None = None,
                 **kwargs: Any):
        if reduction == "auto":
            reduction = "sum_over_batch_size"
        if reduction not in ("sum_over_batch_size", "sum", "none", "mean"):
            raise ValueError(f"Loss reduction must be 'sum_over_batch_size', 'sum' or 'none', got {reduction!r}.")
        self.reduction = reduction
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        per = self.call(y_true, y_pred)
        return reduce_weighted_values(per, sample_weight, loss_mask(per, y_pred), self.reduction)

    def get_config(self) -> dict:
        config = {"reduction": self.reduction, "name": self.name, **self.kwargs}
        if self.dtype is not None:
            config["dtype"] = self.dtype
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} reduction={self.reduction!r}>"


class LossFunctionWrapper(Loss):
    """A ``Loss`` around any function ``fn(y_true, y_pred, **kwargs)`` (Keras 2's wrapper)."""

    def __init__(self, fn: Callable, reduction: str = "sum_over_batch_size", name: str | None = None,
                 **kwargs: Any):
        super().__init__(reduction=reduction, name=name or getattr(fn, "__name__", None), **kwargs)
        self.fn = fn

    def get_config(self) -> dict:
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", None)}

    @classmethod
    def from_config(cls, config: dict) -> "Loss":
        config = dict(config)
        fn = config.pop("fn", None)
        if fn not in _TABLE:
            raise ValueError(f"LossFunctionWrapper.from_config: unknown loss function {fn!r}; pass "
                             "custom_objects={name: function} to deserialize a custom loss.")
        return cls(_TABLE[fn], **config)


def loss_mask(per: Any, y_pred: Any) -> Any:
    """The entries a loss averages over: the prediction's mask (padded steps), and the mask the
    loss function put on its values (``ignore_class``), both where both are set (Keras 3)."""
    masks = [m for m in (getattr(y_pred, "_keras_mask", None), getattr(per, "_keras_mask", None)) if m is not None]
    if len(masks) == 2 and tuple(masks[0].shape) == tuple(masks[1].shape):
        return ops.logical_and(masks[0], masks[1])
    return masks[-1] if masks else None


def reduce_weighted_values(per: ops.Tensor, sample_weight: Any = None, mask: Any = None,
                           reduction: str = "sum_over_batch_size") -> ops.Tensor:
    """Per-entry losses times ``sample_weight`` and ``mask``, then reduced (``"none"``, ``"sum"``, or
    the mean). With a mask (the ``_keras_mask`` of the prediction, e.g. ``(batch, time)``) the mean
    is over the kept entries only, as in Keras 3; a mask of higher rank than the losses (a loss that
    averages over time itself) cannot be applied per entry and is left out."""
    if sample_weight is not None:
        per = ops.multiply(per, _match_weight_rank(ops.cast(ops.convert_to_tensor(sample_weight), per.dtype), per))
    count: Any = float(max(math.prod(per.shape), 1))
    if mask is not None and 0 < ops.convert_to_tensor(mask).ndim <= per.ndim:
        keep = ops.broadcast_to(_match_weight_rank(ops.cast(ops.convert_to_tensor(mask), per.dtype), per), per.shape)
        per = ops.multiply(per, keep)
        count = ops.maximum(ops.sum(keep), 1.0)
    if reduction == "none":
        return per
    total = ops.sum(per)
    if reduction == "sum":
        return total
    return ops.divide(total, count)


def _match_weight_rank(weight: ops.Tensor, values: ops.Tensor) -> ops.Tensor:
    """As Keras: ``(batch, 1)`` weights on ``(batch,)`` values are squeezed, and ``(batch,)`` weights
    on ``(batch, d, ...)`` values gain trailing axes (so they weight samples, never columns)."""
    while weight.ndim > values.ndim and weight.shape[-1] == 1:
        weight = ops.squeeze(weight, axis=-1)
    while 0 < weight.ndim < values.ndim:
        weight = ops.expand_dims(weight, -1)
    return weight


def _loss_class(class_name: str, fn: Callable, default_name: str | None = None, **defaults: Any) -> type:
    """A ``Loss`` class for ``fn`` with Keras' constructor: ``fn``'s own arguments first (positional
    in Keras' order), then ``reduction``, ``name``, ``dtype``."""
    params = list(defaults)
    default_name = default_name or snake_case(class_name)

    def __init__(self, *args: Any, **kwargs: Any):
        order = params + ["reduction", "name", "dtype"]
        if len(args) > len(order):
            raise TypeError(f"{class_name} takes at most {len(order)} positional arguments ({', '.join(order)}), "
                            f"got {len(args)}.")
        for key, value in zip(order, args):
            if key in kwargs:
                raise TypeError(f"{class_name} got multiple values for argument {key!r}.")
            kwargs[key] = value
        reduction = kwargs.pop("reduction", "sum_over_batch_size")
        name = kwargs.pop("name", None)
        dtype = kwargs.pop("dtype", None)
        unknown = set(kwargs) - set(params)
        if unknown:
            valid = ", ".join(params + ["reduction", "name", "dtype"])
            raise TypeError(f"{class_name} got unexpected keyword argument(s) {', '.join(sorted(unknown))}; "
                            f"it accepts {valid}.")
        Loss.__init__(self, reduction=reduction, name=name or default_name, dtype=dtype, **{**defaults, **kwargs})

    args = ", ".join(f"{k}={v!r}" for k, v in defaults.items())
    doc = (f"Class form of ``{fn.__name__}`` (default name ``{default_name!r}``).\n\n"
           f"    Args: {args + ', ' if args else ''}reduction='sum_over_batch_size', name, dtype.")
    return type(class_name, (Loss,), {"fn": staticmethod(fn), "__init__": __init__, "__doc__": doc,
                                      "__module__": __name__})


MeanSquaredError = _loss_class("MeanSquaredError", mean_squared_error)
MeanAbsoluteError = _loss_class("MeanAbsoluteError", mean_absolute_error)
MeanAbsolutePercentageError = _loss_class("MeanAbsolutePercentageError", mean_absolute_percentage_error)
MeanSquaredLogarithmicError = _loss_class("MeanSquaredLogarithmicError", mean_squared_logarithmic_error)
CategoricalCrossentropy = _loss_class("CategoricalCrossentropy", categorical_crossentropy,
                                      from_logits=False, label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _loss_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                                            from_logits=False, ignore_class=None, axis=-1)
BinaryCrossentropy = _loss_class("BinaryCrossentropy", binary_crossentropy,
                                 from_logits=False, label_smoothing=0.0, axis=-1)
BinaryFocalCrossentropy = _loss_class("BinaryFocalCrossentropy", binary_focal_crossentropy,
                                      apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                                      label_smoothing=0.0, axis=-1)
CategoricalFocalCrossentropy = _loss_class("CategoricalFocalCrossentropy", categorical_focal_crossentropy,
                                           alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1)
Hinge = _loss_class("Hinge", hinge)
SquaredHinge = _loss_class("SquaredHinge", squared_hinge)
CategoricalHinge = _loss_class("CategoricalHinge", categorical_hinge)
LogCosh = _loss_class("LogCosh", log_cosh)
KLDivergence = _loss_class("KLDivergence", kl_divergence)
Poisson = _loss_class("Poisson", poisson)
CosineSimilarity = _loss_class("CosineSimilarity", cosine_similarity, axis=-1)
Huber = _loss_class("Huber", huber, "huber_loss", delta=1.0)

_FUNCTIONS = [mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
              mean_squared_logarithmic_error, categorical_crossentropy, sparse_categorical_crossentropy,
              binary_crossentropy, binary_focal_crossentropy, categorical_focal_crossentropy, hinge, squared_hinge,
              categorical_hinge, log_cosh, kl_divergence, poisson, cosine_similarity, huber]
_TABLE: dict[str, Any] = {f.__name__: f for f in _FUNCTIONS}
_TABLE.update({"mse": mse, "mae": mae, "mape": mape, "msle": msle, "kld": kld, "logcosh": log_cosh,
               "kullback_leibler_divergence": kl_divergence, "cosine_proximity": cosine_similarity,
               "huber_loss": huber})
_CLASSES = [MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            CategoricalCrossentropy, SparseCategoricalCrossentropy, BinaryCrossentropy, BinaryFocalCrossentropy,
            CategoricalFocalCrossentropy, Hinge, SquaredHinge, CategoricalHinge, LogCosh, KLDivergence, Poisson,
            CosineSimilarity, Huber]
_CLASS_TABLE = {c.__name__: c for c in _CLASSES}
_CLASS_TABLE["LossFunctionWrapper"] = LossFunctionWrapper


def serialize(loss: Any) -> Any:
    """JSON-ready form: ``{"class_name", "config"}`` for a ``Loss``, the function's name for a function."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    if isinstance(loss, str):
        return loss
    if callable(loss):
        return getattr(loss, "__name__", None) or type(loss).__name__
    raise TypeError(f"Could not serialize loss {loss!r}: expected a Loss, a name or a function.")


def deserialize(config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """The inverse of ``serialize`` (also accepts Keras 3's ``{"class_name": "function", "config": name}``);
    ``custom_objects`` maps names of user-defined losses (classes or functions) to them."""
    if isinstance(config, Mapping) and config.get("class_name") == "function":
        config = config.get("config")
    if isinstance(config, Mapping) and "class_name" in config:
        name = config["class_name"]
        cls = (custom_objects or {}).get(name) or _CLASS_TABLE.get(name)
        if cls is None and name in _TABLE:  # a function named as a class: Keras 2 configs do this
            return _TABLE[name]
        if cls is None:
            valid = ", ".join(sorted(_CLASS_TABLE))
            raise ValueError(f"Unknown loss class {name!r}; valid loss classes are: {valid} (pass "
                             "custom_objects={name: cls} for your own).")
        cfg = dict(config.get("config") or {})
        return cls.from_config(cfg) if hasattr(cls, "from_config") else cls(**cfg)
    return get(config, custom_objects=custom_objects)


def get(identifier: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """A loss function or ``Loss`` object for a name (``"mse"``, ``"categorical_crossentropy"``…),
    a class name (``"Huber"`` → ``Huber()``), a serialized dict, a ``Loss`` or any callable."""
    if identifier is None:
        return None
    if isinstance(identifier, str) and custom_objects and identifier in custom_objects:
        found = custom_objects[identifier]
        return found() if isinstance(found, type) else found
    if isinstance(identifier, str) and identifier in _CLASS_TABLE and identifier != "LossFunctionWrapper":
        return _CLASS_TABLE[identifier]()
    if isinstance(identifier, Mapping):
        return deserialize(identifier, custom_objects)
    if isinstance(identifier, str) and identifier.upper() in ("MSE", "MAE", "MAPE", "MSLE", "KLD"):
        identifier = identifier.lower()
    return resolve("loss", identifier, _TABLE, custom_objects=custom_objects)


def loss_name(fn: Any) -> str:
    return getattr(fn, "name", None) or getattr(fn, "__name__", type(fn).__name__)
