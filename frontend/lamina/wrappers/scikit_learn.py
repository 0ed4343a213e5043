"""Keras 2's ``keras.wrappers.scikit_learn``: a model-building function as a scikit-learn estimator.

``KerasClassifier`` and ``KerasRegressor`` follow scikit-learn's estimator protocol (``fit``,
``predict``, ``predict_proba``, ``score``, ``get_params``, ``set_params``) by duck typing, so they
work with ``cross_val_score``, ``GridSearchCV`` and ``Pipeline`` without Lamina depending on
scikit-learn.

Example:
    >>> def build(hidden=32):
    ...     model = Sequential([Dense(hidden, activation="relu", input_shape=(4,)), Dense(3, activation="softmax")])
    ...     model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    ...     return model
    >>> clf = KerasClassifier(build_fn=build, hidden=16, epochs=20, batch_size=8, verbose=0)
    >>> clf.fit(x, labels); clf.score(x, labels)
"""
from __future__ import annotations

import inspect
import types
from typing import Any, Callable

from ..utils import data as data_utils
from ..utils.np_utils import to_categorical


def _has_arg(fn: Callable, name: str) -> bool:
    """Whether ``fn`` names ``name`` as a parameter (a ``**kwargs`` catch-all does not count)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    p = params.get(name)
    return p is not None and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _sequential() -> type:
    from ..models import Sequential  # late: the models package is not needed to import this module
    return Sequential


def _loss_name(loss: Any) -> str | None:
    if isinstance(loss, str):
        return loss
    name = getattr(loss, "__name__", None) or getattr(loss, "name", None)
    if name is None:
        name = type(loss).__name__
    return {"CategoricalCrossentropy": "categorical_crossentropy"}.get(name, name)


def _as_column(y: Any) -> Any:
    """1-D targets as ``(samples, 1)``, as Keras 2 standardised them for a model with one output unit."""
    return y.reshape(-1, 1) if y.ndim == 1 else y


class BaseWrapper:
    """Shared logic of the two wrappers.

    Args:
        build_fn: a function (or callable object) returning a compiled model; ``None`` means the
            subclass's ``__call__`` builds it.
        **sk_params: arguments of ``build_fn`` and of the model's ``fit``, ``predict``,
            ``predict_classes`` and ``evaluate`` (e.g. ``epochs``, ``batch_size``, ``verbose``);
            each is passed to whichever of them names it.
    """

    def __init__(self, build_fn: Callable | None = None, **sk_params: Any):
        self.build_fn = build_fn
        self.sk_params = sk_params
        self.check_params(sk_params)

    def _build_callable(self) -> Callable:
        if self.build_fn is None:
            return self.__call__
        if isinstance(self.build_fn, (types.FunctionType, types.MethodType)):
            return self.build_fn
        return self.build_fn.__call__

    def check_params(self, params: dict) -> None:
        """Raise ``ValueError`` for a parameter that no building, fitting or predicting function takes."""
        seq = _sequential()
        legal = [seq.fit, seq.predict, getattr(seq, "predict_classes", seq.predict), seq.evaluate,
                 self._build_callable()]
        for name in params:
            if name == "nb_epoch" or any(_has_arg(fn, name) for fn in legal):
                continue
            raise ValueError(f"{name!r} is not a legal parameter of {type(self).__name__}: it is an argument of "
                             "neither build_fn nor the model's fit/predict/evaluate.")

    def get_params(self, deep: bool = True, **params: Any) -> dict:
        """``sk_params`` plus ``build_fn`` (scikit-learn's estimator protocol)."""
        res = dict(self.sk_params)
        res["build_fn"] = self.build_fn
        return res

    def set_params(self, **params: Any) -> "BaseWrapper":
        """Update ``sk_params`` (``build_fn`` too); returns ``self``."""
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self.check_params(params)
        self.sk_params.update(params)
        return self

    def filter_sk_params(self, fn: Callable, override: dict | None = None) -> dict:
        """The ``sk_params`` that ``fn`` takes, updated with ``override``."""
        res = {name: value for name, value in self.sk_params.items() if _has_arg(fn, name)}
        if "nb_epoch" in self.sk_params and fn is _sequential().fit and "epochs" not in res:
            res["epochs"] = self.sk_params["nb_epoch"]
        res.update(override or {})
        return res

    def fit(self, x: Any, y: Any, **kwargs: Any) -> Any:
        """Build a fresh model with ``build_fn`` and train it; returns the ``History``."""
        build = self._build_callable()
        self.model = build(**self.filter_sk_params(build))
        y = data_utils.to_host_array(y, "y")
        if _loss_name(getattr(self.model, "loss", None)) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y)
        y = _as_column(y)
        fit_args = self.filter_sk_params(_sequential().fit)
        fit_args.update(kwargs)
        return self.model.fit(x, y, **fit_args)


class KerasClassifier(BaseWrapper):
    """scikit-learn classifier over a model built by ``build_fn``.

    Labels may be any sortable values (ints, strings); they are mapped to ``0..n_classes-1`` in
    sorted order (``classes_``), one-hot encoded when the loss is ``categorical_crossentropy``.
    One-hot targets (2-D with several columns) are accepted as they are.
    """

    _estimator_type = "classifier"

    def fit(self, x: Any, y: Any, sample_weight: Any = None, **kwargs: Any) -> Any:
        """Train on ``x`` and labels ``y``; sets ``classes_`` and ``n_classes_``; returns the ``History``."""
        y = data_utils.to_host_array(y, "y")
        if y.ndim == 2 and y.shape[1] > 1:
            self.classes_ = data_utils.to_host_array(list(range(y.shape[1])), "classes")
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1):
            flat = y.reshape(-1)
            first: dict = {}
            for i, value in enumerate(flat.tolist()):
                first.setdefault(value, i)
            self.classes_ = flat[[first[v] for v in sorted(first)]]
            y = self.classes_.searchsorted(y)
        else:
            raise ValueError(f"KerasClassifier.fit got labels y of shape {y.shape}; pass a 1-D array of labels "
                             "or a 2-D one-hot array.")
        self.n_classes_ = len(self.classes_)
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        return super().fit(x, y, **kwargs)

    def _require_fitted(self, what: str) -> None:
        if not hasattr(self, "model"):
            raise ValueError(f"KerasClassifier.{what}() needs a fitted model; call fit(x, y) first.")

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """Predicted labels (values of ``classes_``), one per sample."""
        self._require_fitted("predict")
        kwargs = self.filter_sk_params(getattr(_sequential(), "predict_classes", _sequential().predict), kwargs)
        proba = self.model.predict(x, **kwargs)
        if proba.shape[-1] > 1:
            classes = proba.argmax(axis=-1)
        else:  # one sigmoid unit: class 1 above 0.5, as Keras 2's predict_classes
            classes = (proba[..., 0] > 0.5).astype("int64")
        return self.classes_[classes]

    def predict_proba(self, x: Any, **kwargs: Any) -> Any:
        """Class probabilities, ``(samples, n_classes)``; a single sigmoid output gives two columns
        ``[1 - p, p]``."""
        self._require_fitted("predict_proba")
        kwargs = self.filter_sk_params(getattr(_sequential(), "predict_proba", _sequential().predict), kwargs)
        probs = self.model.predict(x, **kwargs)
        if probs.ndim == 2 and probs.shape[1] == 1:
            both = probs.repeat(2, axis=1)
            both[:, 0] = 1.0 - both[:, 0]
            return both
        return probs

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        """The model's accuracy on ``(x, y)``; needs ``metrics=["accuracy"]`` at compile."""
        self._require_fitted("score")
        y = data_utils.to_host_array(y, "y")
        if not (y.ndim == 2 and y.shape[1] > 1):
            y = self.classes_.searchsorted(y)
        kwargs = self.filter_sk_params(_sequential().evaluate, kwargs)
        if _loss_name(getattr(self.model, "loss", None)) == "categorical_crossentropy" and y.ndim != 2:
            y = to_categorical(y, num_classes=self.n_classes_)
        outputs = self.model.evaluate(x, _as_column(y), **kwargs)
        if not isinstance(outputs, list):
            outputs = [outputs]
        for name, output in zip(self.model.metrics_names, outputs):
            if name in ("accuracy", "acc"):
                return float(output)
        raise ValueError("KerasClassifier.score needs the accuracy metric; compile the model with "
                         "metrics=['accuracy'] in build_fn.")


class KerasRegressor(BaseWrapper):
    """scikit-learn regressor over a model built by ``build_fn``."""

    _estimator_type = "regressor"

    def predict(self, x: Any, **kwargs: Any) -> Any:
        """Predictions; a trailing output axis of size 1 is dropped (``(samples,)``)."""
        if not hasattr(self, "model"):
            raise ValueError("KerasRegressor.predict() needs a fitted model; call fit(x, y) first.")
        kwargs = self.filter_sk_params(_sequential().predict, kwargs)
        out = self.model.predict(x, **kwargs)
        return out[..., 0] if out.ndim > 1 and out.shape[-1] == 1 else out

    def score(self, x: Any, y: Any, **kwargs: Any) -> float:
        """Minus the loss on ``(x, y)`` (greater is better, as scikit-learn expects)."""
        if not hasattr(self, "model"):
            raise ValueError("KerasRegressor.score() needs a fitted model; call fit(x, y) first.")
        kwargs = self.filter_sk_params(_sequential().evaluate, kwargs)
        loss = self.model.evaluate(x, _as_column(data_utils.to_host_array(y, "y")), **kwargs)
        if isinstance(loss, list):
            return -float(loss[0])
        return -float(loss)
