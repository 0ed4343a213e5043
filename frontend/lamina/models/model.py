"""``Model``: compile, the training loop (``fit``), ``evaluate``, ``predict`` and the batch methods.

Data flow of a step: the whole data set is uploaded once per ``fit`` (on a GPU it then lives in
device memory), each batch is gathered on the device, the forward pass runs inside a
``GradientTape``, the optimizer updates the weights in place, and the loss and metric totals stay
on the device until a progress line or a callback needs numbers (one transfer per read).
"""
from __future__ import annotations

import sys
import time
import warnings
from typing import Any

from .. import __version__, callbacks as callbacks_module, losses as losses_module, metrics as metrics_module
from .. import ops, optimizers
from ..layers.layer import Layer
from ..utils import data as data_utils
from ..utils.progbar import Progbar


class NotCompiledError(ValueError, RuntimeError):
    """fit/evaluate/train_on_batch called before compile (a ValueError, and a RuntimeError as in Keras)."""


_ANNOUNCED = False


def _announce_backend() -> None:
    """Name the backend and device once per process, on the first verbose training run."""
    global _ANNOUNCED
    if not _ANNOUNCED:
        be = ops.backend_object()
        print(f"Lamina {__version__}: backend {be.name!r} on {be.device_description()}")
        _ANNOUNCED = True


def _resolve_verbose(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return int(verbose)


class Model(Layer):
    """A trainable stack of layers; subclass it and write ``call``, or use ``Sequential``."""

    def __init__(self, *args: Any, **kwargs: Any):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            raise TypeError("Model(inputs, outputs) functional graphs are not supported in this version; "
                            "use Sequential or subclass Model and write call().")
        super().__init__(**kwargs)
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._metric_specs: list = []

    # --- weights across layers -----------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        return [v for v in vars(self).values() if isinstance(v, Layer)]

    def _all_layers(self) -> list[Layer]:
        return self.layers

    @property
    def weights(self) -> list[ops.Variable]:
        seen: set[int] = set()
        out = []
        for w in list(self._weights) + [w for layer in self._all_layers() for w in layer.weights]:
            if id(w) not in seen:
                seen.add(id(w))
                out.append(w)
        return out

    @property
    def trainable_weights(self) -> list[ops.Variable]:
        if not self.trainable:
            return []
        ids = {id(w) for layer in self._all_layers() for w in layer.trainable_weights}
        ids |= {id(w) for w in self._weights if w.trainable}
        return [w for w in self.weights if id(w) in ids]

    @property
    def non_trainable_weights(self) -> list[ops.Variable]:
        ids = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in ids]

    trainable_variables = trainable_weights
    variables = weights

    @property
    def losses(self) -> list[ops.Tensor]:
        out = list(Layer.losses.fget(self))
        for layer in self._all_layers():
            out.extend(layer.losses)
        return out

    # --- compile -------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: Any = None,
                **kwargs: Any) -> None:
        """Choose optimizer, loss and metrics (Keras names or objects).

        Keras 2's ``class_mode`` and ``sample_weight_mode`` are accepted (with a warning for
        ``class_mode``, which Keras 2 had already dropped).
        """
        if "class_mode" in kwargs:
            warnings.warn("compile(class_mode=...) is a Keras 1 argument with no effect; the accuracy "
                          "metric is chosen from the loss instead.", DeprecationWarning, stacklevel=2)
            kwargs.pop("class_mode")
        kwargs.pop("sample_weight_mode", None)
        kwargs.pop("jit_compile", None)
        kwargs.pop("steps_per_execution", None)
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='categorical_crossentropy'.")
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._loss_fn = losses_module.get(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, (str, metrics_module.Metric)) or callable(metrics) and not isinstance(metrics, (list, tuple)):
            metrics = [metrics]
        if isinstance(metrics, dict):
            metrics = [m for v in metrics.values() for m in (v if isinstance(v, (list, tuple)) else [v])]
        for m in metrics:  # resolve now so an unknown name fails at compile, not mid-training
            metrics_module.get(m, self._loss_fn, None)
        self._metric_specs = list(metrics)
        self.compiled = True

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise NotCompiledError(f"The model must be compiled before {what}(); call "
                                   "model.compile(optimizer=..., loss=..., metrics=[...]) first.")

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [self._metric_name(m) for m in self._metric_specs]

    @staticmethod
    def _metric_name(m: Any) -> str:
        if isinstance(m, str):
            return m
        return getattr(m, "name", None) or getattr(m, "__name__", "metric")

    def _make_metrics(self, output_shape: tuple | None) -> list[metrics_module.Metric]:
        made = []
        for m in self._metric_specs:
            metric = metrics_module.get(m, self._loss_fn, output_shape)
            metric.reset_state()
            made.append(metric)
        return made

    # --- building and checking data ------------------------------------------------------
    def _expected_input_shape(self) -> tuple | None:
        return None

    def _ensure_built(self, sample_shape: tuple) -> None:
        if not self.built:
            self.build((None,) + tuple(sample_shape))

    def _check_inputs(self, x: Any) -> None:
        expected = self._expected_input_shape()
        if expected is None:
            return
        got = tuple(x.shape[1:])
        exp = tuple(expected[1:])
        if len(got) != len(exp) or any(e is not None and e != g for e, g in zip(exp, got)):
            first = self._first_layer_name()
            raise ValueError(f"Layer {first} expects samples of shape {exp}, but the input data has samples of "
                             f"shape {got} (data shape {tuple(x.shape)}); reshape the data or change the "
                             f"model's input_shape.")

    def _first_layer_name(self) -> str:
        return repr(self.name)

    def _check_targets(self, y: Any, output_shape: tuple | None) -> None:
        if output_shape is None or y is None:
            return
        fn = getattr(self._loss_fn, "fn", self._loss_fn)
        classes = output_shape[-1] if output_shape else None
        if fn is losses_module.sparse_categorical_crossentropy:
            if y.ndim == len(output_shape) and y.shape[-1] == classes and classes not in (None, 1):
                raise ValueError(f"sparse_categorical_crossentropy expects integer class labels of shape "
                                 f"({len(y)},) but got targets of shape {tuple(y.shape)}, which look one-hot; use "
                                 "loss='categorical_crossentropy', or pass y.argmax(axis=-1).")
        elif fn is losses_module.categorical_crossentropy and classes not in (None, 1):
            if y.ndim < len(output_shape) or (y.ndim == len(output_shape) and y.shape[-1] == 1):
                raise ValueError(f"categorical_crossentropy expects one-hot targets of shape ({len(y)}, {classes}) "
                                 f"but got targets of shape {tuple(y.shape)} (integer labels?); use "
                                 "loss='sparse_categorical_crossentropy', or one-hot encode them with "
                                 "lamina.utils.to_categorical(y, num_classes).")
        if y.ndim == len(output_shape) and classes is not None and y.shape[-1] not in (classes, 1) \
                and fn is not losses_module.sparse_categorical_crossentropy:
            raise ValueError(f"The model's output has shape {tuple(output_shape)} but the targets have shape "
                             f"{tuple(y.shape)}; the last axes must match.")

    def _output_shape(self, sample_shape: tuple) -> tuple | None:
        try:
            return tuple(self.compute_output_shape((None,) + tuple(sample_shape)))
        except NotImplementedError:
            return None

    def _prepare(self, x: Any, y: Any, sample_weight: Any, what: str) -> tuple:
        x = data_utils.cast_inputs(data_utils.to_host_array(x, "x"))
        y = None if y is None else data_utils.cast_targets(data_utils.to_host_array(y, "y"))
        sw = None if sample_weight is None else data_utils.to_host_array(sample_weight, "sample_weight")
        data_utils.check_same_length(x, y, sw)
        self._check_inputs(x)
        self._ensure_built(x.shape[1:])
        return x, y, sw

    # --- one step ------------------------------------------------------------------------
    def _compute_loss(self, y: ops.Tensor, y_pred: ops.Tensor, sw: Any) -> ops.Tensor:
        fn = self._loss_fn
        if isinstance(fn, losses_module.Loss):
            return fn(y, y_pred, sample_weight=sw)
        per = fn(y, y_pred)
        if sw is not None:
            w = ops.cast(sw, per.dtype)
            while w.ndim < per.ndim:
                w = ops.expand_dims(w, -1)
            per = ops.multiply(per, w)
        n = 1
        for d in per.shape:
            n *= d
        return ops.divide(ops.sum(per), float(max(n, 1)))

    def _total_loss(self, y: Any, y_pred: ops.Tensor, sw: Any) -> ops.Tensor:
        loss = self._compute_loss(y, y_pred, sw)
        for extra in self.losses:
            loss = ops.add(loss, extra)
        return loss

    def train_step(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[ops.Tensor, ops.Tensor]:
        """One optimisation step on a batch (device arrays); returns (loss, predictions)."""
        variables = self.trainable_weights
        with ops.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._total_loss(y, y_pred, sample_weight)
        grads = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(grads, variables))
        return loss, y_pred

    def test_step(self, x: Any, y: Any, sample_weight: Any = None) -> tuple[ops.Tensor, ops.Tensor]:
        y_pred = self(x, training=False)
        return self._total_loss(y, y_pred, sample_weight), y_pred

    # --- running totals ------------------------------------------------------------------
    class _Totals:
        """Loss sum (weighted by batch size) and metrics, all on the device."""

        def __init__(self, metrics: list):
            self.loss_sum: Any = None
            self.count = 0
            self.metrics = metrics

        def update(self, loss: ops.Tensor, n: int, y: Any, y_pred: Any, sw: Any) -> None:
            term = ops.multiply(ops.stop_gradient(loss), float(n))
            self.loss_sum = term if self.loss_sum is None else ops.add(self.loss_sum, term)
            self.count += n
            for m in self.metrics:
                m.update_state(y, y_pred, sample_weight=sw)

        def read(self, names: list[str], prefix: str = "") -> dict[str, float]:
            """All values in one device-to-host transfer."""
            if self.loss_sum is None:
                return {}
            parts = [ops.divide(self.loss_sum, float(self.count))] + [m.result() for m in self.metrics]
            values = ops.stack([ops.cast(p, "float64") for p in parts]).numpy()
            return {prefix + k: float(v) for k, v in zip(names, values)}

    # --- fit -----------------------------------------------------------------------------
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: Any = True, class_weight: dict | None = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, **kwargs: Any) -> callbacks_module.History:
        """Train for ``epochs`` epochs; returns a ``History`` (Keras 2's ``nb_epoch`` accepted)."""
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        self._require_compiled("fit")
        verbose = _resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else data_utils.positive_int(batch_size, "batch_size")
        epochs = data_utils.positive_int(epochs, "epochs")
        if isinstance(initial_epoch, bool) or not isinstance(initial_epoch, int) or initial_epoch < 0:
            raise ValueError(f"initial_epoch must be a non-negative integer, got {initial_epoch!r}.")
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"shuffle must be True, False or 'batch', got {shuffle!r}.")
        x, y, sw = self._prepare(x, y, sample_weight, "fit")
        if y is None:
            raise ValueError("fit() needs targets y (one per sample in x).")

        # Validation data: an explicit tuple wins; else the last fraction, taken before shuffling.
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight).")
            val = self._prepare(validation_data[0], validation_data[1],
                                validation_data[2] if len(validation_data) == 3 else None, "fit")
        elif validation_split:
            at = data_utils.split_at(len(x), validation_split)
            val = (x[at:], y[at:], None if sw is None else sw[at:])
            x, y, sw = x[:at], y[:at], None if sw is None else sw[:at]
        if class_weight is not None:
            sw = self._class_weights(y, class_weight, sw)

        output_shape = self._output_shape(x.shape[1:])
        self._check_targets(y, output_shape)
        if val is not None:
            self._check_targets(val[1], output_shape)

        be = ops.backend_object()
        n = len(x)
        steps = -(-n // batch_size)
        if steps_per_epoch is not None:
            steps = min(steps, data_utils.positive_int(steps_per_epoch, "steps_per_epoch"))
        sources = [_BatchSource(be, a) for a in (x, y, None if sw is None else sw.astype(self.dtype))]

        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(list(callbacks or []) + [history], self,
                                            {"batch_size": batch_size, "epochs": epochs, "steps": steps,
                                             "samples": n, "verbose": verbose})
        metrics = self._make_metrics(output_shape)
        names = ["loss"] + [m.name for m in metrics]
        if verbose:
            _announce_backend()
            if val is not None:
                print(f"Train on {n} samples, validate on {len(val[0])} samples")
        seeds = ops.SeedGenerator()
        self.stop_training = False
        cbs.call("on_train_begin", None)
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            if self.stop_training:
                break
            cbs.call("on_epoch_begin", epoch, None)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            totals = self._Totals(metrics)
            for m in metrics:
                m.reset_state()
            seed, counter = seeds.next()
            order = data_utils.epoch_order(n, shuffle, batch_size, seed, counter)
            order_dev = None if order is None else be.asarray(order)  # on the device, once per epoch
            bar = Progbar(steps, verbose=verbose, unit_name="step")
            pending: list[Any] = []  # batch losses not yet checked for NaN
            for step in range(steps):
                lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                key = slice(lo, hi)
                xb, yb, swb = (src.batch(key, order, order_dev) for src in sources)
                cbs.call("on_train_batch_begin", step, None)
                loss, y_pred = self.train_step(ops.Tensor(xb), ops.Tensor(yb), None if swb is None else ops.Tensor(swb))
                totals.update(loss, hi - lo, ops.Tensor(yb), y_pred, None if swb is None else ops.Tensor(swb))
                pending.append(loss.value)
                last = step == steps - 1
                want_bar = bar.wants_update(step + 1)
                if be.host_sync_cheap or want_bar or last or cbs.needs_batch_logs:
                    bad = self._first_nonfinite(pending)
                    if bad is not None:
                        batch_index = step - len(pending) + 1 + bad
                        print(f"Batch {batch_index} of epoch {epoch + 1}: the loss is not finite "
                              f"({bad_value(pending[bad])}); training stopped, as TerminateOnNaN does. Lower "
                              "the learning rate, scale the inputs, or clip gradients (clipnorm=1.0).",
                              file=sys.stderr)
                        self.stop_training = True
                        epoch_logs = totals.read(names)
                        break
                    pending.clear()
                batch_logs = totals.read(names) if (want_bar or cbs.needs_batch_logs) else None
                if want_bar and not last:
                    bar.update(step + 1, list(batch_logs.items()))
                cbs.call("on_train_batch_end", step, batch_logs)
                if self.stop_training:
                    break
            else:
                epoch_logs = totals.read(names)
            if val is not None and not (self.stop_training and epoch_logs.get("loss") != epoch_logs.get("loss")):
                if (epoch + 1 - initial_epoch) % validation_freq == 0 or epoch == epochs - 1:
                    epoch_logs.update(self._evaluate_arrays(val[0], val[1], val[2], validation_batch_size or batch_size,
                                                            output_shape, prefix="val_"))
            bar.update(steps, list(epoch_logs.items()), finalize=True)
            cbs.call("on_epoch_end", epoch, epoch_logs)
        cbs.call("on_train_end", epoch_logs)
        history.model = self
        history.params = cbs.callbacks[-1].params
        self.history = history
        return history

    @staticmethod
    def _first_nonfinite(pending: list[Any]) -> int | None:
        if not pending:
            return None
        be = ops.backend_object()
        values = be.to_numpy(be.stack(pending)) if len(pending) > 1 else be.to_numpy(be.reshape(pending[0], (1,)))
        for i, v in enumerate(values.tolist()):
            if v != v or v in (float("inf"), float("-inf")):
                return i
        return None

    def _class_weights(self, y: Any, class_weight: dict, sw: Any) -> Any:
        return data_utils.class_weights_to_sample_weights(y, class_weight, sw, self.dtype)

    # --- evaluate / predict ---------------------------------------------------------------
    def _evaluate_arrays(self, x: Any, y: Any, sw: Any, batch_size: int, output_shape: tuple | None,
                         prefix: str = "", bar: Progbar | None = None, callbacks: Any = None) -> dict[str, float]:
        be = ops.backend_object()
        metrics = self._make_metrics(output_shape)
        names = ["loss"] + [m.name for m in metrics]
        totals = self._Totals(metrics)
        sources = [_BatchSource(be, a) for a in (x, y, sw)]
        n = len(x)
        steps = -(-n // batch_size)
        for step in range(steps):
            key = slice(step * batch_size, min((step + 1) * batch_size, n))
            xb, yb, swb = (None if b is None else ops.Tensor(b) for b in (src.batch(key, None, None) for src in sources))
            if callbacks is not None:
                callbacks.call("on_test_batch_begin", step, None)
            loss, y_pred = self.test_step(xb, yb, swb)
            totals.update(loss, xb.shape[0], yb, y_pred, swb)
            if bar is not None and bar.wants_update(step + 1) and step + 1 < steps:
                bar.update(step + 1, list(totals.read(names).items()))
            if callbacks is not None:
                callbacks.call("on_test_batch_end", step, None)
        logs = totals.read(names, prefix)
        if bar is not None:
            bar.update(steps, list(logs.items()), finalize=True)
        return logs

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None, verbose: Any = "auto",
                 sample_weight: Any = None, steps: int | None = None, callbacks: list | None = None,
                 return_dict: bool = False, **kwargs: Any) -> Any:
        """Loss (and metrics) on the given data: a scalar without metrics, else a list
        ``[loss, metric, …]`` in ``metrics_names`` order (a dict with ``return_dict=True``)."""
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        self._require_compiled("evaluate")
        verbose = _resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else data_utils.positive_int(batch_size, "batch_size")
        x, y, sw = self._prepare(x, y, sample_weight, "evaluate")
        if y is None:
            raise ValueError("evaluate() needs targets y (one per sample in x).")
        output_shape = self._output_shape(x.shape[1:])
        self._check_targets(y, output_shape)
        if steps is not None:
            limit = data_utils.positive_int(steps, "steps") * batch_size
            x, y, sw = x[:limit], y[:limit], None if sw is None else sw[:limit]
        cbs = callbacks_module.CallbackList(callbacks, self, {"verbose": verbose})
        cbs.call("on_test_begin", None)
        bar = Progbar(-(-len(x) // batch_size), verbose=verbose) if verbose else None
        logs = self._evaluate_arrays(x, y, sw, batch_size, output_shape, bar=bar, callbacks=cbs)
        cbs.call("on_test_end", logs)
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0, steps: int | None = None,
                callbacks: list | None = None, **kwargs: Any) -> Any:
        """Model outputs for ``x`` as a host NumPy array (batched, inference mode)."""
        if kwargs:
            raise TypeError(f"predict() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        verbose = _resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else data_utils.positive_int(batch_size, "batch_size")
        x = data_utils.cast_inputs(data_utils.to_host_array(x, "x"))
        self._check_inputs(x)
        self._ensure_built(x.shape[1:])
        be = ops.backend_object()
        source = _BatchSource(be, x)
        n = len(x)
        n_steps = -(-n // batch_size)
        if steps is not None:
            n_steps = min(n_steps, data_utils.positive_int(steps, "steps"))
        cbs = callbacks_module.CallbackList(callbacks, self, {"verbose": verbose})
        cbs.call("on_predict_begin", None)
        bar = Progbar(n_steps, verbose=verbose) if verbose else None
        outs = []
        for step in range(n_steps):
            xb = ops.Tensor(source.batch(slice(step * batch_size, min((step + 1) * batch_size, n)), None, None))
            cbs.call("on_predict_batch_begin", step, None)
            outs.append(self(xb, training=False).value)
            cbs.call("on_predict_batch_end", step, None)
            if bar is not None:
                bar.update(step + 1)
        cbs.call("on_predict_end", None)
        if not outs:
            shape = self._output_shape(x.shape[1:]) or (None,)
            return be.to_numpy(be.zeros((0,) + tuple(shape[1:]), self.dtype))
        return be.to_numpy(be.concatenate(outs, axis=0))

    # --- batch methods ---------------------------------------------------------------------
    def _batch_results(self, logs: dict, return_dict: bool) -> Any:
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: dict | None = None,
                       reset_metrics: bool = True, return_dict: bool = False) -> Any:
        """One gradient update on one batch; returns loss (and metrics) for that batch."""
        self._require_compiled("train_on_batch")
        x, y, sw = self._prepare(x, y, sample_weight, "train_on_batch")
        if class_weight is not None:
            sw = self._class_weights(y, class_weight, sw)
        output_shape = self._output_shape(x.shape[1:])
        self._check_targets(y, output_shape)
        be = ops.backend_object()
        swt = None if sw is None else ops.Tensor(be.asarray(sw))
        yt = ops.Tensor(be.asarray(y))
        loss, y_pred = self.train_step(ops.Tensor(be.asarray(x)), yt, swt)
        metrics = self._make_metrics(output_shape)
        totals = self._Totals(metrics)
        totals.update(loss, len(x), yt, y_pred, swt)
        return self._batch_results(totals.read(["loss"] + [m.name for m in metrics]), return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, reset_metrics: bool = True,
                      return_dict: bool = False) -> Any:
        self._require_compiled("test_on_batch")
        x, y, sw = self._prepare(x, y, sample_weight, "test_on_batch")
        output_shape = self._output_shape(x.shape[1:])
        self._check_targets(y, output_shape)
        logs = self._evaluate_arrays(x, y, sw, max(len(x), 1), output_shape)
        return self._batch_results(logs, return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        x = data_utils.cast_inputs(data_utils.to_host_array(x, "x"))
        self._check_inputs(x)
        self._ensure_built(x.shape[1:])
        return self(ops.Tensor(ops.backend_object().asarray(x)), training=False).numpy()

    # --- weights and summary -------------------------------------------------------------
    def get_weights(self) -> list[Any]:
        return [w.numpy() for w in self.weights]

    def set_weights(self, weights: list[Any]) -> None:
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Model {self.name!r} has {len(mine)} weight arrays but set_weights got {len(weights)}.")
        for var, value in zip(mine, weights):
            shape = tuple(getattr(value, "shape", ()))
            if shape != var.shape:
                raise ValueError(f"Weight {var.name!r} has shape {var.shape} but set_weights gave shape {shape}.")
            var.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"Model {self.name!r} is not built yet, so it has no weights to count; give the "
                             "first layer an input_shape or call the model on data first.")
        return sum(_size(w.shape) for w in self.weights)

    def summary(self, line_length: int | None = None, positions: list | None = None, print_fn: Any = None) -> None:
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)


class _BatchSource:
    """One training array: uploaded once when the device can hold it, else kept on the host
    and uploaded a batch at a time. Batches are gathered where the data lives."""

    def __init__(self, be: Any, host: Any):
        self.be = be
        self.host = host
        resident = host is None or be.can_hold(getattr(host, "nbytes", 0))
        self.device = None if host is None or not resident else be.asarray(host)

    def batch(self, key: slice, order: Any, order_dev: Any) -> Any:
        be = self.be
        if self.host is None:
            return None
        if self.device is not None:
            if order_dev is None:
                return be.getitem(self.device, key)
            return be.take(self.device, be.getitem(order_dev, key), 0)
        rows = self.host[key] if order is None else self.host[order[key]]
        return be.asarray(rows)


def _size(shape: tuple) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def bad_value(v: Any) -> str:
    try:
        return repr(float(ops.backend_object().to_numpy(v)))
    except Exception:
        return "non-finite"
