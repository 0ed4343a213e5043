"""``Model``: compile, the training loop (``fit``), ``evaluate``, ``predict`` and the batch methods.

Data flow of a step: the whole data set is uploaded once per ``fit`` when the device can hold
it (else one batch at a time), each batch is gathered on the device, the forward pass runs
inside a ``GradientTape``, the optimizer updates the weights in place, and the loss and metric
totals stay on the device until a progress line or a callback needs numbers (one transfer per
read). Models have one or several inputs and outputs; ``x``/``y`` are an array, a list in
input/output order, or a dict by input/output name.
"""
from __future__ import annotations

import functools
import math
import sys
import warnings
from typing import Any, Callable

from .. import __version__, callbacks as callbacks_module, ops, optimizers
from ..layers.layer import Layer, _accepts_training, _alias
from ..ops.replay import StepReplay
from ..utils import data as data_utils
from ..utils.progbar import Progbar
from . import saving_methods
from .objectives import Objectives


def _memory_scoped(release: bool) -> Callable:
    """Run a training or inference method inside the backend's memory scope, so a steady-state step
    reuses the buffers the previous one freed (the NumPy backend's caching allocator). ``release``:
    hand the cache back when the outermost such call returns (fit, evaluate, predict); the
    per-batch methods keep it for the next call."""
    def wrap(method: Callable) -> Callable:
        @functools.wraps(method)
        def run(self, *args: Any, **kwargs: Any) -> Any:
            scope = getattr(ops.backend_object(), "memory_scope", None)  # optional for third parties
            if scope is None:
                return method(self, *args, **kwargs)
            with scope(release=release):
                return method(self, *args, **kwargs)
        return run
    return wrap


# A loop of fewer batches runs every step's Python: recording its first steps would cost more.
_REPLAY_MIN_STEPS = 4
# Keras 2 data-loading arguments of fit/evaluate/predict, accepted with no effect (one process reads the batches).
_LOADER_KWARGS = ("max_queue_size", "workers", "use_multiprocessing")


def _targets_for_class_weight(ys: list | None) -> Any:
    if ys is None:
        raise ValueError("class_weight weights samples by their target class, but no targets y were given; pass "
                         "y, or sample_weight=... instead.")
    return ys[0]


def _rows(arrays: list | None, rows: slice) -> list | None:
    return None if arrays is None else [a[rows] for a in arrays]


def _batch_arrays(xs: list, ys: list, sample_weight: Any) -> list:
    """The backend arrays of a batch, in a fixed order (None for a missing one)."""
    return [None if t is None else t.value for t in xs] + [None if t is None else t.value for t in ys] + [
        None if sample_weight is None else sample_weight.value]


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
    """A trainable model. ``Model(inputs, outputs)`` builds a functional graph; subclass it and
    write ``call`` for anything else; ``Sequential`` stacks layers."""

    def __new__(cls, *args: Any, **kwargs: Any):
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any):
        if args:
            raise TypeError(f"{type(self).__name__}() takes keyword arguments only (name=..., trainable=...).")
        super().__init__(**kwargs)
        self.optimizer: Any = None
        self.loss: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._objectives: Objectives | None = None
        # Keras' switch: True runs every step's Python; False (the default) replays recorded steps.
        self.run_eagerly = False

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Model":
        """Rebuild a model from ``get_config()`` (functional graphs; subclasses define their own)."""
        if "input_layers" in config and "layers" in config:
            from .functional import Functional
            return Functional.from_config(config, custom_objects=custom_objects)
        return cls(**config)

    # --- structure -----------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        found = []
        for value in vars(self).values():
            items = value if isinstance(value, (list, tuple)) else [value]
            found.extend(v for v in items if isinstance(v, Layer) and v not in found)
        return found

    def _all_layers(self) -> list[Layer]:
        return self.layers

    @property
    def input_names(self) -> list[str]:
        return ["input_1"]

    @property
    def output_names(self) -> list[str]:
        return ["output_1"]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by index in ``layers``."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"get_layer(index={index}) is out of range; the model has {len(self.layers)} layers.")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No layer named {name!r}; the layers are {[layer.name for layer in self.layers]}.")

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

    def _collected_metrics(self) -> dict[str, Any]:
        found = dict(self._call_metrics)
        for layer in self._all_layers():
            found.update(layer._collected_metrics())
        return found

    # --- compile -------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, weighted_metrics: Any = None, run_eagerly: Any = None,
                **kwargs: Any) -> None:
        """Choose optimizer, loss(es) and metrics (Keras names or objects).

        With several outputs, ``loss``, ``loss_weights`` and ``metrics`` may be one value for all
        outputs, a list in output order or a dict by output name. ``metrics`` ignore ``sample_weight``
        and ``class_weight`` (they see only the output's mask); ``weighted_metrics`` (same forms) are
        weighted by them, as in Keras; a weighted metric whose name an unweighted one of the same
        output already uses is logged as ``weighted_<name>``. Keras 2's ``class_mode`` and
        ``sample_weight_mode`` are accepted (``class_mode`` with a warning; it had no effect).
        """
        if "class_mode" in kwargs:
            warnings.warn("compile(class_mode=...) is a Keras 1 argument with no effect; the accuracy "
                          "metric is chosen from the loss instead.", DeprecationWarning, stacklevel=2)
            kwargs.pop("class_mode")
        for legacy in ("sample_weight_mode", "jit_compile", "steps_per_execution", "auto_scale_loss"):
            kwargs.pop(legacy, None)
        if kwargs:
            raise TypeError(f"compile() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        objectives = Objectives(loss, loss_weights, metrics, self.output_names, weighted_metrics)
        self.optimizer = optimizers.get(optimizer)
        self.loss = loss
        self._compile_args = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                              "weighted_metrics": weighted_metrics or None}
        self._objectives = objectives
        self._loss_fn = objectives.loss_fns[0]
        self.run_eagerly = bool(run_eagerly)
        self.compiled = True

    def _check_targets_given(self, y: Any, missing: str) -> None:
        """Targets may be left out only where nothing needs them: no loss function (the losses come
        from ``add_loss``, as in Keras' variational autoencoder) and no metric; else ``missing``."""
        if y is None and self._objectives.needs_targets:
            raise ValueError(missing)

    def _require_compiled(self, what: str) -> None:
        if not self.compiled:
            raise NotCompiledError(f"The model must be compiled before {what}(); call "
                                   "model.compile(optimizer=..., loss=..., metrics=[...]) first.")

    @property
    def metrics_names(self) -> list[str]:
        return self._objectives.names() if self._objectives else ["loss"]

    # --- data ----------------------------------------------------------------------------
    def _expected_input_shapes(self) -> list | None:
        """Per input, the expected shape (with None for unknown sizes), when known."""
        return None

    def _output_shapes(self, input_shapes: list) -> list | None:
        try:
            shapes = self.compute_output_shape(input_shapes[0] if len(input_shapes) == 1 else input_shapes)
        except (NotImplementedError, ValueError, TypeError):
            return None
        return shapes if isinstance(shapes, list) else [shapes]

    def _ensure_built(self, xs: list) -> None:
        """Create the weights before training, so the optimizer sees all of them."""
        if self.built and self.weights:
            return
        shapes = [(None,) + tuple(x.shape[1:]) for x in xs]
        self._build_input_shape = shapes[0] if len(shapes) == 1 else shapes
        try:
            self.build(shapes[0] if len(shapes) == 1 else shapes)
        except (NotImplementedError, TypeError):
            pass
        if not self.weights:  # subclassed models make weights on their first call
            probe = [ops.backend_object().asarray(x[:1]) for x in xs]
            self(probe[0] if len(probe) == 1 else probe, training=False)
        self.built = True

    def _as_list(self, data: Any, names: list[str], what: str) -> list:
        """``data`` (array, list or dict) as a list of host arrays in ``names`` order."""
        if isinstance(data, dict):
            missing = [n for n in names if n not in data]
            if missing:
                raise ValueError(f"{what} is a dict without entries for {missing}; the model's {what} names "
                                 f"are {names}.")
            data = [data[n] for n in names]
        elif isinstance(data, (list, tuple)) and len(names) > 1:
            if len(data) != len(names):
                raise ValueError(f"The model has {len(names)} {what}s ({names}) but got a list of {len(data)} "
                                 f"arrays; give one array per {what}, in order, or a dict by name.")
            data = list(data)
        else:
            data = [data]
        return [data_utils.to_host_array(d, f"{what} {n!r}" if len(names) > 1 else ("x" if what == "input" else "y"))
                for d, n in zip(data, names)]

    def _check_inputs(self, xs: list) -> None:
        expected = self._expected_input_shapes()
        if expected is None:
            return
        if len(expected) != len(xs):
            raise ValueError(f"The model expects {len(expected)} inputs but got {len(xs)} arrays.")
        for i, (x, exp) in enumerate(zip(xs, expected)):
            got, exp = tuple(x.shape[1:]), tuple(exp[1:])
            if len(got) != len(exp) or any(e is not None and e != g for e, g in zip(exp, got)):
                raise ValueError(f"Layer {self._input_layer_label(i)} expects samples of shape {exp}, but the input "
                                 f"data has samples of shape {got} (data shape {tuple(x.shape)}); reshape the "
                                 "data or change the model's input shape.")

    def _input_layer_label(self, i: int) -> str:
        return repr(self.name)

    def _prepare(self, x: Any, y: Any, sample_weight: Any) -> tuple[list, list | None, Any]:
        xs = [data_utils.cast_inputs(a) for a in self._as_list(x, self.input_names, "input")]
        ys = None
        if y is not None:
            ys = [data_utils.cast_targets(a) for a in self._as_list(y, self.output_names, "output")]
        sw = None if sample_weight is None else data_utils.to_host_array(sample_weight, "sample_weight")
        n = data_utils.check_same_length(xs[0], ys[0] if ys else None, sw)
        for arr in xs[1:] + (ys[1:] if ys else []):
            if len(arr) != n:
                raise ValueError(f"All inputs and targets need the same number of samples; got {n} and {len(arr)}.")
        self._check_inputs(xs)
        self._ensure_built(xs)
        return xs, ys, sw

    # --- one step ------------------------------------------------------------------------
    def _forward(self, xs: list, training: bool) -> list[ops.Tensor]:
        out = self(xs[0] if len(xs) == 1 else xs, training=training)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def train_step(self, xs: list, ys: list, sample_weight: Any = None) -> tuple:
        """One optimisation step on a batch (Tensors); returns (total loss, output losses, predictions)."""
        return self._train_step(None, xs, ys, sample_weight)

    def _gradients(self, xs: list, ys: list, sample_weight: Any, variables: list) -> tuple:
        with ops.GradientTape() as tape:
            preds = self._forward(xs, training=True)
            total, parts = self._objectives.total_loss(ys, preds, sample_weight, self.losses)
        return total, parts, preds, tape.gradient(total, variables)

    def _train_step(self, replay: StepReplay | None, xs: list, ys: list, sample_weight: Any) -> tuple:
        """``train_step``, with the forward pass, loss and gradients replayed by ``replay`` when given
        (the optimizer's update always runs: its learning rate and counters change every step)."""
        variables = self.trainable_weights
        if replay is None:
            total, parts, preds, grads = self._gradients(xs, ys, sample_weight, variables)
        else:
            total, parts, preds, grads = replay(
                _batch_arrays(xs, ys, sample_weight),
                lambda: self._gradients(xs, ys, sample_weight, variables), key=(self._objectives,) + tuple(variables))
        self.optimizer.apply_gradients(zip(grads, variables))
        return total, parts, preds

    def test_step(self, xs: list, ys: list, sample_weight: Any = None) -> tuple:
        preds = self._forward(xs, training=False)
        total, parts = self._objectives.total_loss(ys, preds, sample_weight, self.losses)
        return total, parts, preds

    def _step_replay(self, method: str, steps: int | None) -> StepReplay | None:
        """A ``StepReplay`` for one loop over ``steps`` batches of ``method`` ("train_step",
        "test_step" or "predict"), or None where every step must run its Python: ``run_eagerly``, a
        loop too short to replay anything (the first two or three steps are recorded, which costs
        more than running them: ``test_on_batch``, ``predict_on_batch``), or a step replaced in a
        subclass or on the instance (its code may do anything each step)."""
        if self.run_eagerly or (steps is not None and steps < _REPLAY_MIN_STEPS):
            return None
        if method != "predict" and getattr(getattr(self, method), "__func__", None) is not getattr(Model, method):
            return None  # replaced in a subclass or on the instance
        # A backend's graph of the step overwrites its outputs at each launch: not for predict, which
        # keeps every batch's outputs, nor when a metric of the user's own could keep the predictions.
        return StepReplay(graphs=method != "predict" and self._objectives.metrics_are_builtin())

    # --- fit -----------------------------------------------------------------------------
    @_memory_scoped(release=True)
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: list | None = None, validation_split: float = 0.0,
            validation_data: Any = None, shuffle: Any = True, class_weight: dict | None = None,
            sample_weight: Any = None, initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, **kwargs: Any) -> callbacks_module.History:
        """Train for ``epochs`` epochs; returns a ``History`` (Keras 2's ``nb_epoch`` accepted, and its
        ``max_queue_size``/``workers``/``use_multiprocessing``, which have no effect: batches come
        from the arrays or the generator in this process)."""
        if "nb_epoch" in kwargs:
            epochs = kwargs.pop("nb_epoch")
        for legacy in _LOADER_KWARGS:
            kwargs.pop(legacy, None)
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
        if x is None:
            raise ValueError("fit() needs inputs x and targets y (one target per sample).")
        if _is_stream(x):
            if y is not None:
                raise ValueError("fit() got a generator or Sequence as x and also y; the generator yields "
                                 "(x, y) or (x, y, sample_weight) batches itself.")
            feed: Any = _StreamFeed(self, x, steps_per_epoch, "steps_per_epoch", shuffle=bool(shuffle))
            val = None
            if validation_data is not None:
                val = (_StreamFeed(self, validation_data, validation_steps, "validation_steps", shuffle=False)
                       if _is_stream(validation_data) else self._array_validation(validation_data, batch_size,
                                                                                validation_batch_size))
        else:
            self._check_targets_given(y, "fit() needs inputs x and targets y (one target per sample).")
            xs, ys, sw = self._prepare(x, y, sample_weight)
            # Validation data: an explicit tuple wins; else the last fraction, taken before shuffling.
            val_arrays = None
            if validation_data is not None and not _is_stream(validation_data):
                val = self._array_validation(validation_data, batch_size, validation_batch_size)
            elif validation_data is not None:
                val = _StreamFeed(self, validation_data, validation_steps, "validation_steps", shuffle=False)
            else:
                val = None
                if validation_split:
                    at = data_utils.split_at(len(xs[0]), validation_split)
                    val_arrays = ([a[at:] for a in xs], _rows(ys, slice(at, None)), None if sw is None else sw[at:])
                    xs, ys, sw = [a[:at] for a in xs], _rows(ys, slice(at)), None if sw is None else sw[:at]
            if class_weight is not None:
                sw = data_utils.class_weights_to_sample_weights(_targets_for_class_weight(ys), class_weight, sw,
                                                            self.dtype)
            feed = _ArrayFeed(self, xs, ys, sw, batch_size, shuffle, steps_per_epoch)
            if val_arrays is not None:
                val = _ArrayFeed(self, *val_arrays, validation_batch_size or batch_size, False, None)

        be = ops.backend_object()
        steps = feed.steps
        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(list(callbacks or []) + [history], self,
                                            {"batch_size": batch_size, "epochs": epochs, "steps": steps,
                                             "samples": feed.samples, "verbose": verbose,
                                             "do_validation": val is not None,
                                             "metrics": self.metrics_names + ["val_" + m for m in self.metrics_names]
                                             if val is not None else self.metrics_names})
        if verbose:
            _announce_backend()
            if val is not None and feed.samples is not None and val.samples is not None:
                print(f"Train on {feed.samples} samples, validate on {val.samples} samples")
        seeds = ops.SeedGenerator()
        seeds.counter = initial_epoch  # epoch e shuffles with counter e, also when resuming
        self.stop_training = False
        cbs.call("on_train_begin", None)
        epoch_logs: dict[str, float] = {}
        for epoch in range(initial_epoch, epochs):
            if self.stop_training:
                break
            cbs.call("on_epoch_begin", epoch, None)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}")
            totals = None
            replay = self._step_replay("train_step", steps)  # records the epoch's first steps again
            bar = Progbar(steps, verbose=verbose, unit_name="step")
            pending: list[Any] = []  # batch losses not yet checked for NaN
            last_logs: dict[str, float] | None = None  # read at the epoch's last step
            finished = True
            for step, (xb, yb, wb, size) in enumerate(feed.epoch(*seeds.next())):
                if totals is None:
                    totals = self._objectives.totals(feed.output_shapes)
                cbs.call("on_train_batch_begin", step, None)
                if replay is None:
                    total, parts, preds = self.train_step(xb, yb, wb)
                else:
                    total, parts, preds = self._train_step(replay, xb, yb, wb)
                totals.update(total, parts, size, yb, preds, wb, self._collected_metrics())
                pending.append(total.value)
                last = step == steps - 1
                want_bar = bar.wants_update(step + 1) and not last
                batch_logs = None
                if be.host_sync_cheap or want_bar or last or cbs.needs_batch_logs:
                    # One device-to-host transfer per displayed update (and per epoch end): the
                    # logs and the batch losses still to be checked for NaN come back together.
                    if want_bar or last or cbs.needs_batch_logs:
                        batch_logs, losses = totals.read_with(pending)
                        last_logs = batch_logs if last else None
                    else:  # a cheap-sync backend checks every step, so one loss is pending
                        losses = [float(be.to_numpy(pending[0]))]
                    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
                    if bad is not None:
                        batch_index = step - len(pending) + 1 + bad
                        print(f"Batch {batch_index} of epoch {epoch + 1}: the loss is not finite "
                              f"({losses[bad]!r}); training stopped, as TerminateOnNaN does. Lower "
                              "the learning rate, scale the inputs, or clip gradients (clipnorm=1.0).",
                              file=sys.stderr)
                        self.stop_training = True
                        finished = False
                        break
                    pending.clear()
                if want_bar:
                    bar.update(step + 1, list(batch_logs.items()))
                cbs.call("on_train_batch_end", step, batch_logs)
                if self.stop_training:
                    break
            replay = None  # a recording still waiting for its pair (a short last batch) is let go
            if last_logs is None:
                last_logs = totals.read() if totals is not None else {}
            epoch_logs = dict(last_logs)  # the last batch's logs stay as the callbacks saw them
            if val is not None and finished and ((epoch + 1 - initial_epoch) % validation_freq == 0
                                                 or epoch == epochs - 1):
                epoch_logs.update(self._evaluate_feed(val, prefix="val_"))
            bar.update(steps, list(epoch_logs.items()), finalize=True)
            cbs.call("on_epoch_end", epoch, epoch_logs)
        cbs.call("on_train_end", epoch_logs)
        history.model = self
        history.params = cbs.callbacks[-1].params
        self.history = history
        return history

    def _array_validation(self, validation_data: Any, batch_size: int, validation_batch_size: int | None) -> Any:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight), "
                             "or a generator/Sequence of such batches.")
        self._check_targets_given(validation_data[1], "validation_data=(x_val, None) has no targets, but the "
                                  "model's loss or metrics need them; pass validation_data=(x_val, y_val).")
        xs, ys, sw = self._prepare(validation_data[0], validation_data[1],
                                   validation_data[2] if len(validation_data) == 3 else None)
        return _ArrayFeed(self, xs, ys, sw, validation_batch_size or batch_size, False, None)

    def fit_generator(self, generator: Any, steps_per_epoch: int | None = None, epochs: int = 1, verbose: Any = 1,
                      callbacks: list | None = None, validation_data: Any = None, validation_steps: int | None = None,
                      class_weight: dict | None = None, max_queue_size: int = 10, workers: int = 1,
                      use_multiprocessing: bool = False, shuffle: bool = True, initial_epoch: int = 0,
                      **kwargs: Any) -> callbacks_module.History:
        """Keras 2: train on batches from a generator or ``Sequence`` (same as ``fit(generator)``).
        ``max_queue_size``/``workers``/``use_multiprocessing`` are accepted; batches are read in order."""
        if class_weight is not None:
            raise ValueError("fit_generator(class_weight=...) is not supported; yield (x, y, sample_weight) "
                             "batches from the generator instead.")
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=kwargs.pop("nb_epoch", epochs),
                        verbose=verbose, callbacks=callbacks, validation_data=validation_data,
                        validation_steps=validation_steps, shuffle=shuffle, initial_epoch=initial_epoch, **kwargs)

    def evaluate_generator(self, generator: Any, steps: int | None = None, callbacks: list | None = None,
                           max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False,
                           verbose: Any = 0) -> Any:
        """Keras 2: ``evaluate`` over batches from a generator or ``Sequence``."""
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    def predict_generator(self, generator: Any, steps: int | None = None, callbacks: list | None = None,
                          max_queue_size: int = 10, workers: int = 1, use_multiprocessing: bool = False,
                          verbose: Any = 0) -> Any:
        """Keras 2: ``predict`` over batches from a generator or ``Sequence`` (x, or (x, y) batches)."""
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose)

    # --- evaluate / predict ---------------------------------------------------------------
    def _evaluate_feed(self, feed: Any, prefix: str = "", bar: Progbar | None = None,
                       callbacks: Any = None) -> dict[str, float]:
        totals = None
        steps = feed.steps
        replay = self._step_replay("test_step", steps)
        for step, (xb, yb, wb, size) in enumerate(feed.epoch(None, None)):
            if totals is None:
                totals = self._objectives.totals(feed.output_shapes)
            if callbacks is not None:
                callbacks.call("on_test_batch_begin", step, None)
            if replay is None:
                total, parts, preds = self.test_step(xb, yb, wb)
            else:
                total, parts, preds = replay(_batch_arrays(xb, yb, wb),
                                             functools.partial(self.test_step, xb, yb, wb), key=self._objectives)
            totals.update(total, parts, size, yb, preds, wb, self._collected_metrics())
            if bar is not None and (steps is None or step + 1 < steps) and bar.wants_update(step + 1):
                bar.update(step + 1, list(totals.read().items()))
            if callbacks is not None:
                callbacks.call("on_test_batch_end", step, None)
        logs = totals.read(prefix) if totals is not None else {}
        if bar is not None:
            bar.update(steps or 0, list(logs.items()), finalize=True)
        return logs

    @_memory_scoped(release=True)
    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None, verbose: Any = "auto",
                 sample_weight: Any = None, steps: int | None = None, callbacks: list | None = None,
                 return_dict: bool = False, **kwargs: Any) -> Any:
        """Loss (and metrics) on the given data: a scalar without metrics or extra outputs, else a
        list in ``metrics_names`` order (a dict with ``return_dict=True``). ``x`` may also be a
        generator or ``Sequence`` of ``(x, y)`` batches (then ``steps`` says how many)."""
        for legacy in _LOADER_KWARGS:
            kwargs.pop(legacy, None)
        if kwargs:
            raise TypeError(f"evaluate() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        self._require_compiled("evaluate")
        verbose = _resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else data_utils.positive_int(batch_size, "batch_size")
        missing = "evaluate() needs inputs x and targets y (one target per sample)."
        if x is None:
            raise ValueError(missing)
        if _is_stream(x):
            feed: Any = _StreamFeed(self, x, steps, "steps", shuffle=False)
        else:
            self._check_targets_given(y, missing)
            xs, ys, sw = self._prepare(x, y, sample_weight)
            if steps is not None:
                limit = data_utils.positive_int(steps, "steps") * batch_size
                xs, ys, sw = [a[:limit] for a in xs], _rows(ys, slice(limit)), None if sw is None else sw[:limit]
            feed = _ArrayFeed(self, xs, ys, sw, batch_size, False, None)
        cbs = callbacks_module.CallbackList(callbacks, self, {"verbose": verbose, "steps": feed.steps})
        cbs.call("on_test_begin", None)
        bar = Progbar(feed.steps, verbose=verbose) if verbose else None
        logs = self._evaluate_feed(feed, bar=bar, callbacks=cbs)
        cbs.call("on_test_end", logs)
        return self._batch_results(logs, return_dict)

    @_memory_scoped(release=True)
    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = 0, steps: int | None = None,
                callbacks: list | None = None, **kwargs: Any) -> Any:
        """Model outputs for ``x`` as host NumPy arrays (a list for several outputs). ``x`` may also be
        a generator or ``Sequence`` yielding ``x`` or ``(x, y)`` batches."""
        for legacy in _LOADER_KWARGS:
            kwargs.pop(legacy, None)
        if kwargs:
            raise TypeError(f"predict() got unexpected keyword argument(s) {', '.join(sorted(kwargs))}.")
        verbose = _resolve_verbose(verbose)
        batch_size = 32 if batch_size is None else data_utils.positive_int(batch_size, "batch_size")
        be = ops.backend_object()
        if _is_stream(x):
            feed: Any = _StreamFeed(self, x, steps, "steps", shuffle=False, targets=False)
        else:
            xs = [data_utils.cast_inputs(a) for a in self._as_list(x, self.input_names, "input")]
            self._check_inputs(xs)
            self._ensure_built(xs)
            feed = _ArrayFeed(self, xs, None, None, batch_size, False, steps)
        cbs = callbacks_module.CallbackList(callbacks, self, {"verbose": verbose, "steps": feed.steps})
        cbs.call("on_predict_begin", None)
        bar = Progbar(feed.steps, verbose=verbose) if verbose else None
        outs: list[list] = []
        replay = self._step_replay("predict", feed.steps)
        for step, (xb, _yb, _wb, _size) in enumerate(feed.epoch(None, None)):
            cbs.call("on_predict_batch_begin", step, None)
            if replay is None:
                preds = self._forward(xb, training=False)
            else:
                preds = replay(_batch_arrays(xb, [], None), functools.partial(self._forward, xb, training=False))
            outs.append([p.value for p in preds])
            cbs.call("on_predict_batch_end", step, None)
            if bar is not None:
                bar.update(step + 1)
        cbs.call("on_predict_end", None)
        if not outs:
            shapes = feed.output_shapes or [(None,)]
            results = [be.to_numpy(be.zeros((0,) + tuple(s[1:]), self.dtype)) for s in shapes]
        else:
            results = [be.to_numpy(be.concatenate([o[i] for o in outs], axis=0)) for i in range(len(outs[0]))]
        return results[0] if len(results) == 1 else results

    # --- batch methods ---------------------------------------------------------------------
    @staticmethod
    def _batch_results(logs: dict, return_dict: bool) -> Any:
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    @_memory_scoped(release=False)
    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: dict | None = None,
                       reset_metrics: bool = True, return_dict: bool = False) -> Any:
        """One gradient update on one batch; returns loss (and metrics) for that batch."""
        self._require_compiled("train_on_batch")
        xs, ys, sw = self._prepare(x, y, sample_weight)
        if class_weight is not None:
            sw = data_utils.class_weights_to_sample_weights(_targets_for_class_weight(ys), class_weight, sw,
                                                            self.dtype)
        output_shapes = self._output_shapes([(None,) + tuple(a.shape[1:]) for a in xs])
        ys = self._objectives.check_targets(ys, output_shapes)
        be = ops.backend_object()
        xb = [ops.Tensor(be.asarray(a)) for a in xs]
        yb = [ops.Tensor(be.asarray(a)) for a in ys or []]
        wb = None if sw is None else ops.Tensor(be.asarray(sw))
        total, parts, preds = self.train_step(xb, yb, wb)
        totals = self._objectives.totals(output_shapes)
        totals.update(total, parts, len(xs[0]), yb, preds, wb, self._collected_metrics())
        return self._batch_results(totals.read(), return_dict)

    @_memory_scoped(release=False)
    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, reset_metrics: bool = True,
                      return_dict: bool = False) -> Any:
        self._require_compiled("test_on_batch")
        xs, ys, sw = self._prepare(x, y, sample_weight)
        output_shapes = self._output_shapes([(None,) + tuple(a.shape[1:]) for a in xs])
        ys = self._objectives.check_targets(ys, output_shapes)
        logs = self._evaluate_feed(_ArrayFeed(self, xs, ys, sw, max(len(xs[0]), 1), False, None))
        return self._batch_results(logs, return_dict)

    @_memory_scoped(release=False)
    def predict_on_batch(self, x: Any) -> Any:
        return self.predict(x, batch_size=max(len(self._as_list(x, self.input_names, "input")[0]), 1))

    # --- stateful layers -----------------------------------------------------------------
    def reset_states(self) -> None:
        """Set the carried states of every stateful layer (recurrent ``stateful=True``) to zeros."""
        for layer in self.layers:
            if callable(getattr(layer, "reset_states", None)):
                layer.reset_states()

    def reset_state(self) -> None:
        """Keras 3 spelling of ``reset_states``."""
        self.reset_states()

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

    def save(self, filepath: Any, overwrite: bool = True, include_optimizer: bool = True, **kwargs: Any) -> None:
        """Write the model (config, weights, optimizer state) to one ``.lamina`` zip file, atomically."""
        saving_methods.save(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer, **kwargs)

    def save_weights(self, filepath: Any, overwrite: bool = True, save_format: Any = None, **kwargs: Any) -> None:
        """Write the weights only (``.npz``; ``.weights.h5`` when h5py is installed), atomically."""
        saving_methods.save_weights(self, filepath, overwrite=overwrite, save_format=save_format, **kwargs)

    def load_weights(self, filepath: Any, by_name: bool = False, skip_mismatch: bool = False, **kwargs: Any) -> None:
        return saving_methods.load_weights(self, filepath, by_name=by_name, skip_mismatch=skip_mismatch, **kwargs)

    def to_json(self, **kwargs: Any) -> str:
        return saving_methods.to_json(self, **kwargs)

    def to_yaml(self, **kwargs: Any) -> str:
        """Removed, as in Keras 2.6+: YAML loading could run arbitrary code."""
        raise RuntimeError(saving_methods.YAML_REMOVED)

    # --- masks -------------------------------------------------------------------------------
    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The masks of the model's outputs for ``inputs`` (and their masks), as its layers make
        them; ``None`` for an output without a mask. Runs the model in inference mode."""
        many = isinstance(inputs, (list, tuple))
        values = list(inputs) if many else [inputs]
        masks = list(mask) if isinstance(mask, (list, tuple)) else [mask] * len(values)
        tensors = []
        for x, m in zip(values, masks):
            t = ops.convert_to_tensor(x)
            if m is not None:
                t = _alias(t)
                t._keras_mask = ops.convert_to_tensor(m)
            tensors.append(t)
        kwargs = {"training": False} if _accepts_training(type(self)) else {}
        outputs = self.call(tensors if many else tensors[0], **kwargs)
        if isinstance(outputs, (list, tuple)):
            return [getattr(o, "_keras_mask", None) for o in outputs]
        return getattr(outputs, "_keras_mask", None)

    def _makes_masks(self) -> bool:
        return type(self).compute_mask is not Model.compute_mask

    def _set_output_masks(self, inputs: Any, outputs: Any, mask: Any, compute: Any = None) -> Any:
        # The layers inside attached their masks already; Model.compute_mask would run the model
        # again, so outputs without one get Layer's rule (the input mask if supports_masking). A
        # subclass's own compute_mask is used as for any layer.
        if compute is None and not self._makes_masks():
            compute = functools.partial(Layer.compute_mask, self)
        return super()._set_output_masks(inputs, outputs, mask, compute)

    def summary(self, line_length: int | None = None, positions: list | None = None, print_fn: Any = None) -> None:
        from .summary import print_summary
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)


def _is_stream(x: Any) -> bool:
    """A Python generator/iterator or a Keras-style ``Sequence`` (len + indexing, not an array)."""
    if hasattr(x, "__next__"):
        return True
    return hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "shape") \
        and not isinstance(x, (list, tuple, dict, str, bytes))


class _ArrayFeed:
    """Batches of in-memory arrays: uploaded once when the device holds them, shuffled per epoch
    from the Philox stream, gathered on the device."""

    def __init__(self, model: Model, xs: list, ys: list | None, sw: Any, batch_size: int, shuffle: Any,
                 steps: int | None):
        be = ops.backend_object()
        self.model, self.be, self.batch_size, self.shuffle = model, be, batch_size, shuffle
        self.samples = len(xs[0])
        self.steps = -(-self.samples // batch_size)
        if steps is not None:
            self.steps = min(self.steps, data_utils.positive_int(steps, "steps"))
        self.output_shapes = model._output_shapes([(None,) + tuple(a.shape[1:]) for a in xs])
        if ys is not None:
            ys = model._objectives.check_targets(ys, self.output_shapes)
        self.x_src = [_BatchSource(be, a) for a in xs]
        self.y_src = [_BatchSource(be, a) for a in ys] if ys is not None else []
        self.w_src = _BatchSource(be, None if sw is None else sw.astype(model.dtype))

    def epoch(self, seed: int | None, counter: int | None):
        order = None
        if seed is not None:
            order = data_utils.epoch_order(self.samples, self.shuffle, self.batch_size, seed, counter)
        order_dev = None if order is None else self.be.asarray(order)  # on the device, once per epoch
        for step in range(self.steps):
            lo, hi = step * self.batch_size, min((step + 1) * self.batch_size, self.samples)
            key = slice(lo, hi)
            xb = [ops.Tensor(s.batch(key, order, order_dev)) for s in self.x_src]
            yb = [ops.Tensor(s.batch(key, order, order_dev)) for s in self.y_src]
            wb = self.w_src.batch(key, order, order_dev)
            yield xb, yb, None if wb is None else ops.Tensor(wb), hi - lo


class _StreamFeed:
    """Batches from a generator (``(x, y)`` or ``(x, y, sample_weight)`` items, or ``x`` alone for
    predict) or a ``Sequence`` (indexed; its ``on_epoch_end`` is called after each epoch)."""

    def __init__(self, model: Model, source: Any, steps: int | None, what: str, shuffle: bool,
                 targets: bool = True):
        self.model, self.source, self.shuffle, self.targets = model, source, shuffle, targets
        self.is_sequence = not hasattr(source, "__next__")
        if steps is None:
            if not self.is_sequence:
                raise ValueError(f"A generator has no length; pass {what}=N (the number of batches per epoch).")
            steps = len(source)
        self.steps = data_utils.positive_int(steps, what)
        self.samples = None
        self.output_shapes: list | None = None

    def _unpack(self, item: Any) -> tuple:
        if not self.targets:
            x = item[0] if isinstance(item, tuple) else item
            return x, None, None
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            raise ValueError(f"A training generator must yield (x, y) or (x, y, sample_weight) tuples, got "
                             f"{type(item).__name__}{'' if not isinstance(item, tuple) else f' of length {len(item)}'}.")
        return item if len(item) == 3 else (item[0], item[1], None)

    def epoch(self, seed: int | None, counter: int | None):
        be = ops.backend_object()
        order = list(range(self.steps))
        if self.is_sequence and self.shuffle and seed is not None:
            order = [int(i) for i in data_utils.epoch_order(self.steps, True, 1, seed, counter)]
        for i in order:
            try:
                item = self.source[i] if self.is_sequence else next(self.source)
            except StopIteration:
                raise ValueError(f"The generator stopped after fewer batches than the {self.steps} asked for; "
                                 "make it loop forever (while True: ...) or lower the steps.") from None
            x, y, sw = self._unpack(item)
            if self.targets:
                xs, ys, sw = self.model._prepare(x, y, sw)
            else:
                xs = [data_utils.cast_inputs(a) for a in self.model._as_list(x, self.model.input_names, "input")]
                self.model._check_inputs(xs)
                self.model._ensure_built(xs)
                ys = None
            if self.output_shapes is None:
                self.output_shapes = self.model._output_shapes([(None,) + tuple(a.shape[1:]) for a in xs])
            if ys is not None:
                ys = self.model._objectives.check_targets(ys, self.output_shapes)
            yield ([ops.Tensor(be.asarray(a)) for a in xs], [ops.Tensor(be.asarray(a)) for a in ys or []],
                   None if sw is None else ops.Tensor(be.asarray(sw.astype(self.model.dtype))), len(xs[0]))
        if self.is_sequence and hasattr(self.source, "on_epoch_end"):
            self.source.on_epoch_end()


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
