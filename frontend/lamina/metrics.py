"""Metrics: functions (per-sample values) and stateful ``Metric`` objects whose totals stay on
the device until ``result()`` is read."""
from __future__ import annotations

from typing import Any, Callable

from . import losses as _losses
from . import ops
from ._lookup import resolve, snake_case


def _labels(y_true: ops.Tensor, y_pred: ops.Tensor) -> ops.Tensor:
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    return y_true


def binary_accuracy(y_true, y_pred, threshold: float = 0.5):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    pred = ops.cast(ops.greater(y_pred, threshold), y_pred.dtype)
    return ops.mean(ops.cast(ops.equal(ops.cast(y_true, y_pred.dtype), pred), y_pred.dtype), axis=-1)


def categorical_accuracy(y_true, y_pred):
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
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


class Metric:
    """Base class: ``update_state(y_true, y_pred, sample_weight=None)``, ``result()``, ``reset_state()``."""

    def __init__(self, name: str | None = None, dtype: str | None = None):
        self.name = name or snake_case(type(self).__name__)
        self.dtype = dtype
        self.reset_state()

    def reset_state(self) -> None:
        self.total: Any = None  # a device scalar
        self.count = 0.0  # a host number: counting samples needs no synchronisation

    reset_states = reset_state  # Keras 2 spelling

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> ops.Tensor:
        if self.total is None or self.count == 0:
            return ops.zeros(())
        return ops.divide(self.total, float(self.count))

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    def __call__(self, *args: Any, **kwargs: Any) -> ops.Tensor:
        self.update_state(*args, **kwargs)
        return self.result()


class Mean(Metric):
    """Weighted mean of the values it is given."""

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        values = ops.stop_gradient(ops.convert_to_tensor(values))
        if sample_weight is None:
            s = ops.sum(values)
            n: Any = 1
            for d in values.shape:
                n *= d
        else:
            w = ops.cast(ops.convert_to_tensor(sample_weight), values.dtype)
            w = ops.broadcast_to(_losses._match_weight_rank(w, values), values.shape) if values.ndim else w
            s, n = ops.sum(ops.multiply(values, w)), ops.sum(w)  # the weight total stays on the device
        self.total = s if self.total is None else ops.add(self.total, s)
        if isinstance(n, int) and isinstance(self.count, (int, float)):
            self.count += n
        elif isinstance(self.count, (int, float)) and self.count == 0:
            self.count = n
        else:
            self.count = ops.add(self.count, n)

    def result(self) -> ops.Tensor:
        if self.total is None:
            return ops.zeros(())
        return ops.divide(self.total, self.count)


class MeanMetricWrapper(Mean):
    """Mean over samples of ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable, name: str | None = None, dtype: str | None = None, **kwargs: Any):
        self.fn = fn
        self.fn_kwargs = kwargs
        super().__init__(name=name or fn.__name__, dtype=dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        values = self.fn(ops.stop_gradient(ops.convert_to_tensor(y_true)),
                         ops.stop_gradient(ops.convert_to_tensor(y_pred)), **self.fn_kwargs)
        super().update_state(values, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), **self.fn_kwargs}


def _wrapper_class(name: str, fn: Callable, default_name: str, **defaults: Any) -> type:
    def __init__(self, name: str | None = None, dtype: str | None = None, **kwargs: Any):
        MeanMetricWrapper.__init__(self, fn, name=name or default_name, dtype=dtype, **{**defaults, **kwargs})
    return type(name, (MeanMetricWrapper,), {"__init__": __init__, "__doc__": f"Stateful ``{fn.__name__}``."})


BinaryAccuracy = _wrapper_class("BinaryAccuracy", binary_accuracy, "binary_accuracy")
CategoricalAccuracy = _wrapper_class("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper_class("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                           "sparse_categorical_accuracy")
TopKCategoricalAccuracy = _wrapper_class("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                         "top_k_categorical_accuracy")
SparseTopKCategoricalAccuracy = _wrapper_class("SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
                                               "sparse_top_k_categorical_accuracy")
MeanSquaredError = _wrapper_class("MeanSquaredError", _losses.mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", _losses.mean_absolute_error, "mean_absolute_error")

# Keras 2 function aliases.
mse = MSE = mean_squared_error = _losses.mean_squared_error
mae = MAE = mean_absolute_error = _losses.mean_absolute_error
mape = mean_absolute_percentage_error = _losses.mean_absolute_percentage_error
categorical_crossentropy = _losses.categorical_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
binary_crossentropy = _losses.binary_crossentropy

_FUNCTIONS: dict[str, Callable] = {
    "binary_accuracy": binary_accuracy, "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "top_k_categorical_accuracy": top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy": sparse_top_k_categorical_accuracy,
    "mean_squared_error": mean_squared_error, "mse": mean_squared_error,
    "mean_absolute_error": mean_absolute_error, "mae": mean_absolute_error,
    "mean_absolute_percentage_error": mean_absolute_percentage_error, "mape": mean_absolute_percentage_error,
    "categorical_crossentropy": categorical_crossentropy, "binary_crossentropy": binary_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
_CLASSES = {c.__name__: c for c in (BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
                                    TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
                                    MeanAbsoluteError, Mean)}
_ACCURACY_NAMES = ("accuracy", "acc")


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


def get(identifier: Any, loss_fn: Any = None, output_shape: tuple | None = None) -> Metric:
    """A stateful metric for a name, function or Metric, named as the user wrote it."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str) and identifier in _ACCURACY_NAMES:
        return MeanMetricWrapper(resolve_accuracy(loss_fn, output_shape), name=identifier)
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    fn = resolve("metric", identifier, {**_FUNCTIONS, "accuracy": None, "acc": None})
    name = identifier if isinstance(identifier, str) else getattr(fn, "__name__", "metric")
    return MeanMetricWrapper(fn, name=name)
