"""Metrics: functions (per-sample values) and stateful ``Metric`` objects whose totals stay on
the device until ``result()`` is read.

Every stateful metric has Keras' interface: ``update_state(y_true, y_pred, sample_weight=None)``,
``result()``, ``reset_state()`` (Keras 2: ``reset_states()``), ``get_config()``/``from_config()``;
calling the object updates it and returns the result. ``update_state`` never reads a value back
to the host, so training keeps the device busy; ``result()`` returns a device scalar (a vector
for Precision/Recall/… given several thresholds).

Names accepted by ``get`` (and so by ``model.compile(metrics=[...])``): ``"accuracy"``/``"acc"``
(resolved from the loss, as Keras does), the metric functions (``"mse"``, ``"mae"``,
``"top_k_categorical_accuracy"``…), the class names (``"AUC"``, ``"Precision"``…) and their
snake-case forms (``"auc"``, ``"precision"``, ``"recall"``, ``"root_mean_squared_error"``…).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from . import _config, ops
from . import losses as _losses
from ._lookup import resolve, snake_case
from .backends import current as current_backend

NEG_INF = -1e10  # Keras' stand-in for -inf when top_k masks predictions


# --- per-sample metric functions ---------------------------------------------------------------

def _labels(y_true: ops.Tensor, y_pred: ops.Tensor) -> ops.Tensor:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    return y_true


def _same_rank(y_true: ops.Tensor, y_pred: ops.Tensor) -> tuple[ops.Tensor, ops.Tensor]:
    """Keras' squeeze-or-expand: a trailing axis of size 1 on one side only is dropped."""
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        y_pred = ops.squeeze(y_pred, axis=-1)
    elif y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    return y_true, y_pred


def _float_dtype(x: ops.Tensor) -> str:
    return x.dtype if x.dtype.startswith(("float", "bfloat")) else _config.floatx()


def accuracy(y_true, y_pred):
    """1.0 where ``y_pred`` equals ``y_true`` exactly (Keras' ``Accuracy`` metric), per element."""
    y_pred = ops.convert_to_tensor(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    y_true, y_pred = _same_rank(y_true, y_pred)
    if y_true.dtype != y_pred.dtype:
        y_true = ops.cast(y_true, y_pred.dtype)
    return ops.cast(ops.equal(y_true, y_pred), _float_dtype(y_pred))


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    pred = ops.cast(ops.greater(y_pred, threshold), y_pred.dtype)
    return ops.mean(ops.cast(ops.equal(ops.cast(y_true, y_pred.dtype), pred), y_pred.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    if y_true.shape == y_pred.shape and y_true.dtype == y_pred.dtype and y_pred.ndim:
        # the backend's one op (one helper loop, one GPU launch) for argmax, argmax, equal and cast
        return ops.Tensor(current_backend().argmax_equal(y_true.value, y_pred.value, y_pred.dtype))
    return ops.cast(ops.equal(ops.argmax(y_true, axis=-1), ops.argmax(y_pred, axis=-1)), y_pred.dtype)


def sparse_categorical_accuracy(y_true, y_pred):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    labels = ops.cast(_labels(y_true, y_pred), "int64")
    return ops.cast(ops.equal(labels, ops.argmax(y_pred, axis=-1)), y_pred.dtype)


def _in_top_k(scores: ops.Tensor, target: ops.Tensor, k: int) -> ops.Tensor:
    """True where the target's score is among the k largest (ties counted in its favour)."""
    target_score = ops.sum(ops.multiply(scores, ops.one_hot(target, scores.shape[-1], scores.dtype)), axis=-1,
                           keepdims=True)
    better = ops.sum(ops.cast(ops.greater(scores, target_score), "int64"), axis=-1)
    return ops.less(better, k)


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    return ops.cast(_in_top_k(y_pred, ops.argmax(y_true, axis=-1), k), y_pred.dtype)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    return ops.cast(_in_top_k(y_pred, ops.cast(_labels(y_true, y_pred), "int64"), k), y_pred.dtype)


def cosine_similarity(y_true, y_pred, axis: int = -1):
    """The cosine of the angle between ``y_true`` and ``y_pred`` (positive; the loss is its negative)."""
    return ops.negative(_losses.cosine_similarity(y_true, y_pred, axis=axis))


# --- helpers -------------------------------------------------------------------------------------

def _divide_no_nan(a: Any, b: Any) -> ops.Tensor:
    """a / b, and 0 where b == 0 (Keras' ``divide_no_nan``)."""
    if isinstance(b, (int, float)):  # a host count: no device work to decide, and a keeps its dtype
        return ops.divide(a, float(b)) if b else ops.zeros_like(ops.convert_to_tensor(a))
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    zero = ops.equal(b, 0.0)
    safe = ops.where(zero, ops.ones_like(b), b)
    return ops.where(zero, ops.zeros_like(ops.divide(a, safe)), ops.divide(a, safe))


def _accumulate(total: Any, value: ops.Tensor) -> ops.Tensor:
    return value if total is None else ops.add(total, value)


# --- base classes ---------------------------------------------------------------------------------

class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``, ``reset_state()``.

    Subclasses keep their running totals as device tensors (``None`` until the first update) and
    set any attributes ``reset_state`` needs before calling ``Metric.__init__``.
    """

    def __init__(self, name: str | None = None, dtype: str | None = None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.reset_state()

    def reset_state(self) -> None:
        self.total: Any = None  # a device scalar
        self.count: Any = 0.0  # a host number (no synchronisation), or a device scalar with weights

    def reset_states(self) -> None:  # Keras 2 spelling
        self.reset_state()

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> ops.Tensor:
        if self.total is None or (isinstance(self.count, (int, float)) and self.count == 0):
            return ops.zeros(())
        return _divide_no_nan(self.total, self.count)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        return cls(**config)

    def __call__(self, *args: Any, **kwargs: Any) -> ops.Tensor:
        self.update_state(*args, **kwargs)
        return self.result()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"


class Mean(Metric):
    """Weighted mean of the values it is given (``sample_weight`` weights samples)."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = ops.stop_gradient(ops.convert_to_tensor(values))
        if sample_weight is None:
            s = ops.sum(values)
            n: Any = 1
            for d in values.shape:
                n *= d
        else:
            w = _losses._match_weight_rank(ops.cast(ops.convert_to_tensor(sample_weight), values.dtype), values)
            if values.ndim >= 1 and w.ndim > values.ndim and tuple(w.shape[:values.ndim]) == tuple(values.shape):
                # Weights finer than the values: a per-sample metric on a masked sequence output gets
                # (batch, time) mask weights. Each value is weighted by the mean of its weights, i.e.
                # by the share of its steps that are kept (a fully padded sample counts zero).
                w = ops.mean(w, axis=tuple(range(values.ndim, w.ndim)))
            w = ops.broadcast_to(w, values.shape) if values.ndim else w
            s, n = ops.sum(ops.multiply(values, w)), ops.sum(w)  # the weight total stays on the device
        self.total = _accumulate(self.total, s)
        if isinstance(n, int) and isinstance(self.count, (int, float)):
            self.count += n
        elif isinstance(self.count, (int, float)) and self.count == 0:
            self.count = n
        else:
            self.count = ops.add(self.count, n)

    def result(self) -> ops.Tensor:
        if self.total is None:
            return ops.zeros(())
        return _divide_no_nan(self.total, self.count)


class Sum(Metric):
    """Weighted sum of the values it is given."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = ops.stop_gradient(ops.convert_to_tensor(values))
        if sample_weight is not None:
            w = ops.cast(ops.convert_to_tensor(sample_weight), values.dtype)
            values = ops.multiply(values, _losses._match_weight_rank(w, values))
        self.total = _accumulate(self.total, ops.sum(values))

    def result(self) -> ops.Tensor:
        return ops.zeros(()) if self.total is None else self.total


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype: str | None = None, **kwargs: Any):
        self.fn = fn
        self.fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", "metric"), dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        values = self.fn(ops.stop_gradient(ops.convert_to_tensor(y_true)),
                         ops.stop_gradient(ops.convert_to_tensor(y_pred)), **self.fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        config = {**super().get_config(), **self.fn_kwargs}
        if type(self) is MeanMetricWrapper:  # the generic wrapper needs its function back
            config["fn"] = getattr(self.fn, "__name__", None)
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Metric":
        config = dict(config)
        if cls is MeanMetricWrapper:
            fn = config.pop("fn", None)
            if fn not in _FUNCTIONS:
                raise ValueError(f"MeanMetricWrapper.from_config: unknown metric function {fn!r}; pass the "
                                 "function itself to MeanMetricWrapper, or register a custom metric class.")
            return cls(_FUNCTIONS[fn], **config)
        return cls(**config)


def _wrapper_class(name: str, fn: Callable, default_name: str, **defaults: Any) -> type:
    def __init__(self, name: str | None = None, dtype: str | None = None, **kwargs: Any):
        MeanMetricWrapper.__init__(self, fn, name=name or default_name, dtype=dtype, **{**defaults, **kwargs})
    doc = f"Stateful ``{fn.__name__}`` (mean over samples; default name ``{default_name!r}``)."
    return type(name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


Accuracy = _wrapper_class("Accuracy", accuracy, "accuracy")
BinaryAccuracy = _wrapper_class("BinaryAccuracy", binary_accuracy, "binary_accuracy", threshold=0.5)
CategoricalAccuracy = _wrapper_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                           "sparse_categorical_accuracy")
TopKCategoricalAccuracy = _wrapper_class("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                         "top_k_categorical_accuracy", k=5)
SparseTopKCategoricalAccuracy = _wrapper_class("SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
                                               "sparse_top_k_categorical_accuracy", k=5)
MeanSquaredError = _wrapper_class("MeanSquaredError", _losses.mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", _losses.mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper_class("MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error,
                                             "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _wrapper_class("MeanSquaredLogarithmicError", _losses.mean_squared_logarithmic_error,
                                             "mean_squared_logarithmic_error")
CosineSimilarity = _wrapper_class("CosineSimilarity", cosine_similarity, "cosine_similarity", axis=-1)
LogCoshError = _wrapper_class("LogCoshError", _losses.log_cosh, "logcosh")
BinaryCrossentropy = _wrapper_class("BinaryCrossentropy", _losses.binary_crossentropy, "binary_crossentropy",
                                    from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _wrapper_class("CategoricalCrossentropy", _losses.categorical_crossentropy,
                                         "categorical_crossentropy", from_logits=False, label_smoothing=0.0)
SparseCategoricalCrossentropy = _wrapper_class("SparseCategoricalCrossentropy",
                                               _losses.sparse_categorical_crossentropy,
                                               "sparse_categorical_crossentropy", from_logits=False)
KLDivergence = _wrapper_class("KLDivergence", _losses.kl_divergence, "kl_divergence")
Poisson = _wrapper_class("Poisson", _losses.poisson, "poisson")
Hinge = _wrapper_class("Hinge", _losses.hinge, "hinge")
SquaredHinge = _wrapper_class("SquaredHinge", _losses.squared_hinge, "squared_hinge")
CategoricalHinge = _wrapper_class("CategoricalHinge", _losses.categorical_hinge, "categorical_hinge")


class RootMeanSquaredError(Mean):
    """sqrt of the (weighted) mean of ``(y_pred - y_true)²`` over every element seen."""

    def __init__(self, name: str | None = "root_mean_squared_error", dtype: str | None = None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        y_true, y_pred = _losses._prep(ops.stop_gradient(ops.convert_to_tensor(y_true)),
                                       ops.stop_gradient(ops.convert_to_tensor(y_pred)))
        y_true, y_pred = _same_rank(y_true, y_pred)
        super().update_state(ops.square(ops.subtract(y_pred, y_true)), sample_weight=sample_weight)

    def result(self) -> ops.Tensor:
        return ops.sqrt(super().result())


# --- confusion-matrix metrics ----------------------------------------------------------------------

def _parse_thresholds(thresholds: Any, default: float, owner: str) -> tuple[list[float], bool]:
    """(list of thresholds, whether the user gave one number so results are scalars)."""
    if thresholds is None:
        return [default], True
    single = isinstance(thresholds, (int, float))
    values = [float(thresholds)] if single else [float(t) for t in thresholds]
    if not values or any(not 0.0 <= t <= 1.0 for t in values):
        raise ValueError(f"{owner} thresholds must lie in [0, 1], got {thresholds!r}.")
    return values, single


def _filter_top_k(x: ops.Tensor, k: int) -> ops.Tensor:
    """Keep the k largest entries of the last axis, set the rest to ``NEG_INF`` (lower index wins ties)."""
    mask = None
    remaining = x
    for _ in range(min(k, x.shape[-1])):
        chosen = ops.one_hot(ops.argmax(remaining, axis=-1), x.shape[-1], x.dtype)
        mask = chosen if mask is None else ops.add(mask, chosen)
        remaining = ops.where(ops.greater(chosen, 0.0), ops.full(x.shape, float("-inf"), x.dtype), remaining)
    return ops.where(ops.greater(mask, 0.0), x, ops.full(x.shape, NEG_INF, x.dtype))


def _confusion_inputs(y_true: Any, y_pred: Any, sample_weight: Any, *, top_k: int | None = None,
                      class_id: int | None = None, from_logits: bool = False, label_weights: Any = None
                      ) -> tuple[ops.Tensor, ops.Tensor, ops.Tensor]:
    """(predictions, labels as 0/1, weights), all the same shape and float dtype, as Keras prepares them."""
    y_pred = ops.stop_gradient(ops.convert_to_tensor(y_pred))
    dtype = _float_dtype(y_pred)
    y_pred = ops.cast(y_pred, dtype) if y_pred.dtype != dtype else y_pred
    y_true = ops.stop_gradient(ops.convert_to_tensor(y_true))
    y_true, y_pred = _same_rank(y_true, y_pred)
    if tuple(y_true.shape) != tuple(y_pred.shape):
        raise ValueError(f"Confusion-matrix metrics need y_true and y_pred of the same shape, got {tuple(y_true.shape)} "
                         f"and {tuple(y_pred.shape)}; one-hot encode integer labels first.")
    if from_logits:
        y_pred = ops.sigmoid(y_pred)
    labels = ops.cast(ops.not_equal(y_true, 0), dtype)
    if sample_weight is None:
        weights = ops.ones(y_pred.shape, dtype)
    else:
        w = ops.cast(ops.convert_to_tensor(sample_weight), dtype)
        weights = ops.broadcast_to(_losses._match_weight_rank(w, y_pred), y_pred.shape)
    if label_weights is not None:
        weights = ops.multiply(weights, ops.convert_to_tensor(label_weights, dtype))
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        key = (Ellipsis, class_id)
        y_pred, labels, weights = ops.getitem(y_pred, key), ops.getitem(labels, key), ops.getitem(weights, key)
    return y_pred, labels, weights


def _threshold_tensor(metric: Any, dtype: str) -> ops.Tensor:
    """The metric's thresholds on the device, uploaded once per backend and dtype."""
    cache = metric.__dict__.setdefault("_threshold_cache", {})
    key = (id(ops.backend_object()), dtype)
    if key not in cache:
        cache[key] = ops.convert_to_tensor(metric.thresholds, dtype)
    return cache[key]


def _confusion_counts(preds: ops.Tensor, labels: ops.Tensor, weights: ops.Tensor, thresholds: ops.Tensor,
                      per_label: bool = False) -> tuple[ops.Tensor, ...]:
    """Weighted (tp, fp, tn, fn) for each threshold (a prediction is positive when ``> threshold``).

    Shapes ``(T,)``, or ``(T, labels)`` with ``per_label`` (the last axis kept apart)."""
    if per_label:
        n_labels = preds.shape[-1] if preds.ndim else 1
        preds, labels, weights = (ops.reshape(t, (-1, n_labels)) for t in (preds, labels, weights))
        pos_w = ops.multiply(labels, weights)                       # (N, L)
        neg_w = ops.subtract(weights, pos_w)
        above = ops.cast(ops.greater(ops.expand_dims(preds, 0), ops.reshape(thresholds, (-1, 1, 1))),
                         preds.dtype)                                # (T, N, L)
        tp = ops.sum(ops.multiply(above, pos_w), axis=1)
        fp = ops.sum(ops.multiply(above, neg_w), axis=1)
        pos_total, neg_total = ops.sum(pos_w, axis=0), ops.sum(neg_w, axis=0)
    else:
        preds, labels, weights = (ops.reshape(t, (-1,)) for t in (preds, labels, weights))
        pos_w = ops.multiply(labels, weights)
        neg_w = ops.subtract(weights, pos_w)
        above = ops.cast(ops.greater(ops.expand_dims(preds, 0), ops.reshape(thresholds, (-1, 1))), preds.dtype)
        tp = ops.matmul(above, pos_w)                               # (T,)
        fp = ops.matmul(above, neg_w)
        pos_total, neg_total = ops.sum(pos_w), ops.sum(neg_w)
    return tp, fp, ops.subtract(neg_total, fp), ops.subtract(pos_total, tp)


class _ConfusionMatrixMetric(Metric):
    """Running true/false positive/negative totals at each threshold, on the device."""

    _default_threshold = 0.5

    def __init__(self, thresholds: Any = None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype: str | None = None):
        default = self._default_threshold if top_k is None else NEG_INF
        self.init_thresholds = thresholds
        self.thresholds, self._single = _parse_thresholds(thresholds, default, type(self).__name__)
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"{type(self).__name__} top_k must be a positive integer, got {top_k!r}.")
        self.top_k, self.class_id = top_k, class_id
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self.true_positives: Any = None
        self.false_positives: Any = None
        self.true_negatives: Any = None
        self.false_negatives: Any = None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        preds, labels, weights = _confusion_inputs(y_true, y_pred, sample_weight, top_k=self.top_k,
                                                   class_id=self.class_id)
        thr = _threshold_tensor(self, preds.dtype)
        tp, fp, tn, fn = _confusion_counts(preds, labels, weights, thr)
        self.true_positives = _accumulate(self.true_positives, tp)
        self.false_positives = _accumulate(self.false_positives, fp)
        self.true_negatives = _accumulate(self.true_negatives, tn)
        self.false_negatives = _accumulate(self.false_negatives, fn)

    def _value(self, values: ops.Tensor) -> ops.Tensor:
        return ops.getitem(values, 0) if self._single else values

    def _zeros(self) -> ops.Tensor:
        return ops.zeros(()) if self._single else ops.zeros((len(self.thresholds),))

    def get_config(self) -> dict:
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class Precision(_ConfusionMatrixMetric):
    """``tp / (tp + fp)`` over everything seen (0 when nothing was predicted positive).

    Args:
        thresholds: a prediction counts as positive when it is ``> threshold``; default 0.5 (or,
            with ``top_k``, any of the top k). A list gives one precision per threshold.
        top_k: only the k highest predictions of each sample may count as positive.
        class_id: compute the metric for this class (last-axis index) only.
    """

    def result(self) -> ops.Tensor:
        if self.true_positives is None:
            return self._zeros()
        return self._value(_divide_no_nan(self.true_positives, ops.add(self.true_positives, self.false_positives)))


class Recall(_ConfusionMatrixMetric):
    """``tp / (tp + fn)`` over everything seen (0 when there were no positive labels). Arguments as
    ``Precision``."""

    def result(self) -> ops.Tensor:
        if self.true_positives is None:
            return self._zeros()
        return self._value(_divide_no_nan(self.true_positives, ops.add(self.true_positives, self.false_negatives)))


def _count_class(name: str, attr: str) -> type:
    def __init__(self, thresholds: Any = None, name: str | None = None, dtype: str | None = None):
        _ConfusionMatrixMetric.__init__(self, thresholds=thresholds, name=name, dtype=dtype)

    def result(self) -> ops.Tensor:
        values = getattr(self, attr)
        return self._zeros() if values is None else self._value(values)

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "thresholds": self.init_thresholds}
    doc = f"The weighted number of {attr.replace('_', ' ')} (a prediction is positive when ``> thresholds``, default 0.5)."
    return type(name, (_ConfusionMatrixMetric,), {"__init__": __init__, "result": result, "get_config": get_config,
                                                  "__doc__": doc, "__module__": __name__})


TruePositives = _count_class("TruePositives", "true_positives")
FalsePositives = _count_class("FalsePositives", "false_positives")
TrueNegatives = _count_class("TrueNegatives", "true_negatives")
FalseNegatives = _count_class("FalseNegatives", "false_negatives")


class AUC(Metric):
    """Area under the ROC or precision-recall curve, by a Riemann sum over fixed thresholds (Keras).

    Args:
        num_thresholds: default 200; the thresholds are ``0 - eps``, ``i / (num_thresholds - 1)`` for
            ``i = 1 … num_thresholds - 2``, and ``1 + eps`` (eps = 1e-7), unless ``thresholds`` lists
            the inner ones.
        curve: ``"ROC"`` (default) or ``"PR"``.
        summation_method: ``"interpolation"`` (default: trapezoids for ROC, Davis & Goadrich's
            interpolation for PR), ``"minoring"`` or ``"majoring"`` (lower/upper Riemann sums).
        multi_label: treat each column as its own label and average the per-label AUCs
            (weighted by ``label_weights``); otherwise every entry is pooled into one curve.
        label_weights: per-label weights (multi_label: for the average; else for the counts).
        from_logits: apply a sigmoid to the predictions first.
    """

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name: str | None = None, dtype: str | None = None, thresholds: Sequence[float] | None = None,
                 multi_label: bool = False, num_labels: int | None = None, label_weights: Any = None,
                 from_logits: bool = False):
        curve = str(getattr(curve, "value", curve)).upper()
        if curve not in ("ROC", "PR"):
            raise ValueError(f"AUC curve must be 'ROC' or 'PR', got {curve!r}.")
        summation_method = str(getattr(summation_method, "value", summation_method)).lower()
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC summation_method must be 'interpolation', 'minoring' or 'majoring', got "
                             f"{summation_method!r}.")
        eps = 1e-7
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
            if any(not 0.0 <= t <= 1.0 for t in inner):
                raise ValueError(f"AUC thresholds must lie in [0, 1], got {list(thresholds)!r}.")
            num_thresholds = len(inner) + 2
            self._init_from_thresholds = True
        else:
            if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, int) or num_thresholds <= 1:
                raise ValueError(f"AUC num_thresholds must be an integer > 1, got {num_thresholds!r}.")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._init_from_thresholds = False
        self.num_thresholds = num_thresholds
        self.thresholds = [0.0 - eps] + inner + [1.0 + eps]
        self.curve, self.summation_method = curve, summation_method
        self.multi_label, self.num_labels = bool(multi_label), num_labels
        self.label_weights = None if label_weights is None else [float(w) for w in label_weights]
        self.from_logits = bool(from_logits)
        super().__init__(name=name, dtype=dtype)

    def reset_state(self) -> None:
        self.true_positives: Any = None
        self.false_positives: Any = None
        self.true_negatives: Any = None
        self.false_negatives: Any = None

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        preds, labels, weights = _confusion_inputs(
            y_true, y_pred, sample_weight, from_logits=self.from_logits,
            label_weights=None if self.multi_label else self.label_weights)
        thr = _threshold_tensor(self, preds.dtype)
        tp, fp, tn, fn = _confusion_counts(preds, labels, weights, thr, per_label=self.multi_label)
        self.true_positives = _accumulate(self.true_positives, tp)
        self.false_positives = _accumulate(self.false_positives, fp)
        self.true_negatives = _accumulate(self.true_negatives, tn)
        self.false_negatives = _accumulate(self.false_negatives, fn)

    def _reduce(self, terms: ops.Tensor) -> ops.Tensor:
        if not self.multi_label:
            return ops.sum(terms)
        by_label = ops.sum(terms, axis=0)
        if self.label_weights is None:
            return ops.mean(by_label)
        lw = ops.convert_to_tensor(self.label_weights, by_label.dtype)
        return _divide_no_nan(ops.sum(ops.multiply(by_label, lw)), ops.sum(lw))

    def _interpolate_pr_auc(self) -> ops.Tensor:
        """Davis & Goadrich (2006): precision interpolated along the recall axis between thresholds."""
        n = self.num_thresholds
        tp, fp, fn = self.true_positives, self.false_positives, self.false_negatives
        head, tail = slice(0, n - 1), slice(1, n)
        dtp = ops.subtract(ops.getitem(tp, head), ops.getitem(tp, tail))
        p = ops.add(tp, fp)
        dp = ops.subtract(ops.getitem(p, head), ops.getitem(p, tail))
        prec_slope = _divide_no_nan(dtp, ops.maximum(dp, 0.0))
        intercept = ops.subtract(ops.getitem(tp, tail), ops.multiply(prec_slope, ops.getitem(p, tail)))
        p_head, p_tail = ops.getitem(p, head), ops.getitem(p, tail)
        both = ops.logical_and(ops.greater(p_head, 0.0), ops.greater(p_tail, 0.0))
        safe_ratio = ops.where(both, _divide_no_nan(p_head, ops.maximum(p_tail, 0.0)), ops.ones_like(p_tail))
        increment = _divide_no_nan(
            ops.multiply(prec_slope, ops.add(dtp, ops.multiply(intercept, ops.log(safe_ratio)))),
            ops.maximum(ops.add(ops.getitem(tp, tail), ops.getitem(fn, tail)), 0.0))
        return self._reduce(increment)

    def result(self) -> ops.Tensor:
        if self.true_positives is None:
            return ops.zeros(())
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc()
        tp, fp, tn, fn = self.true_positives, self.false_positives, self.true_negatives, self.false_negatives
        recall = _divide_no_nan(tp, ops.add(tp, fn))
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, ops.add(fp, tn)), recall
        else:
            x, y = recall, _divide_no_nan(tp, ops.add(tp, fp))
        n = self.num_thresholds
        head, tail = slice(0, n - 1), slice(1, n)
        y_head, y_tail = ops.getitem(y, head), ops.getitem(y, tail)
        if self.summation_method == "interpolation":
            heights = ops.multiply(ops.add(y_head, y_tail), 0.5)
        elif self.summation_method == "minoring":
            heights = ops.minimum(y_head, y_tail)
        else:
            heights = ops.maximum(y_head, y_tail)
        widths = ops.subtract(ops.getitem(x, head), ops.getitem(x, tail))
        return self._reduce(ops.multiply(widths, heights))

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self.label_weights,
                  "from_logits": self.from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config


# --- Keras 2 function aliases -----------------------------------------------------------------------
mse = MSE = mean_squared_error = _losses.mean_squared_error
mae = MAE = mean_absolute_error = _losses.mean_absolute_error
mape = MAPE = mean_absolute_percentage_error = _losses.mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error = _losses.mean_squared_logarithmic_error
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
binary_crossentropy = _losses.binary_crossentropy
kld = KLD = kullback_leibler_divergence = kl_divergence = _losses.kl_divergence
poisson = _losses.poisson
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
categorical_hinge = _losses.categorical_hinge
logcosh = log_cosh = _losses.log_cosh
cosine_proximity = _losses.cosine_similarity  # Keras 2's metric of this name is the (negative) loss

_FUNCTIONS: dict[str, Callable] = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "mean_squared_logarithmic_error": mean_squared_logarithmic_error, "msle": mean_squared_logarithmic_error,
    "categorical_crossentropy": categorical_crossentropy, "binary_crossentropy": binary_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
    "kl_divergence": kl_divergence, "kullback_leibler_divergence": kl_divergence, "kld": kl_divergence,
    "poisson": poisson, "hinge": hinge, "squared_hinge": squared_hinge, "categorical_hinge": categorical_hinge,
    "logcosh": logcosh, "log_cosh": logcosh, "cosine_similarity": cosine_similarity,
    "cosine_proximity": cosine_proximity,
}
_CLASS_LIST: tuple[type, ...] = (
    Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError, RootMeanSquaredError, CosineSimilarity, LogCoshError, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge, SquaredHinge,
    CategoricalHinge, Precision, Recall, AUC, TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
    Mean, Sum, MeanMetricWrapper)
_CLASSES: dict[str, type] = {c.__name__: c for c in _CLASS_LIST}
# Keras 3 also accepts the snake-case class names ("auc", "precision", "root_mean_squared_error"…);
# where a function has the same name (e.g. "mean_squared_error") the function wins, as in Keras.
_SNAKE_CLASSES: dict[str, type] = {snake_case(c.__name__): c for c in _CLASS_LIST
                                   if snake_case(c.__name__) not in _FUNCTIONS and c is not MeanMetricWrapper}
_ACCURACY_NAMES = ("accuracy", "acc")
_TAKES_NO_TARGETS = (Mean, Sum)  # these take values, not (y_true, y_pred)


def resolve_accuracy(loss_fn: Any, output_shape: tuple | None) -> Callable:
    """The accuracy Keras means by ``"accuracy"`` for this loss and output shape."""
    if isinstance(loss_fn, (str, dict)):  # a loss name as given to compile()
        loss_fn = _losses.get(loss_fn)
    name = _losses.loss_name(loss_fn)
    fn = getattr(loss_fn, "fn", loss_fn)
    if fn is _losses.sparse_categorical_crossentropy or "sparse" in str(name):
        return sparse_categorical_accuracy
    if fn is _losses.binary_crossentropy or (output_shape is not None and len(output_shape) and output_shape[-1] == 1):
        return binary_accuracy
    return categorical_accuracy


def serialize(metric: Any) -> Any:
    """A JSON-ready form: ``{"class_name", "config"}`` for a ``Metric``, the name for a function."""
    if isinstance(metric, Metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    if isinstance(metric, str):
        return metric
    if callable(metric):
        return getattr(metric, "__name__", None) or type(metric).__name__
    raise TypeError(f"Could not serialize metric {metric!r}: expected a Metric, a name or a function.")


def deserialize(config: Any, custom_objects: Mapping[str, Any] | None = None) -> Any:
    """The inverse of ``serialize``: a ``Metric`` for a dict, a metric function for a name."""
    if isinstance(config, str):
        if custom_objects and config in custom_objects:
            return custom_objects[config]
        if config in _FUNCTIONS:
            return _FUNCTIONS[config]
        return get(config)
    if isinstance(config, Mapping) and "class_name" in config:
        name = config["class_name"]
        cls = (custom_objects or {}).get(name) or _CLASSES.get(name)
        if cls is None:
            raise ValueError(f"Unknown metric class {name!r}; valid metric classes are: {', '.join(sorted(_CLASSES))} "
                             "(pass custom_objects={name: cls} for your own).")
        return cls.from_config(dict(config.get("config") or {}))
    raise TypeError(f"Could not interpret metric config {config!r}.")


def is_builtin_name(name: str) -> bool:
    """Whether ``get(name)`` finds one of Lamina's own metrics (not a registered custom object)."""
    return (name in _ACCURACY_NAMES or name in _CLASSES or name in _FUNCTIONS
            or name.lower() in _SNAKE_CLASSES or name.lower() in _FUNCTIONS or name.lower() in _ACCURACY_NAMES)


def get(identifier: Any, loss_fn: Any = None, output_shape: tuple | None = None) -> Metric:
    """A stateful metric for a name, function, class, config dict or Metric, named as the user wrote it."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier in _ACCURACY_NAMES:
        return MeanMetricWrapper(resolve_accuracy(loss_fn, output_shape), name=identifier)
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    if isinstance(identifier, str) and identifier not in _FUNCTIONS and identifier.lower() in _SNAKE_CLASSES:
        return _SNAKE_CLASSES[identifier.lower()](name=identifier)
    if isinstance(identifier, Mapping) and "class_name" in identifier:
        return deserialize(identifier)
    names = {**_FUNCTIONS, **{k: None for k in _SNAKE_CLASSES}, "accuracy": None, "acc": None}
    fn = resolve("metric", identifier, names)
    name = identifier if isinstance(identifier, str) else getattr(fn, "__name__", "metric")
    return MeanMetricWrapper(fn, name=name)
